package secretprov

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
)

var (
	appMeas = [32]byte{0xaa, 1}
	appSign = [32]byte{0xbb, 2}
)

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pki is a test CA and a server certificate for 127.0.0.1 and localhost.
type pki struct {
	caPath string
	pool   *x509.CertPool
	server tls.Certificate
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{caPath: filepath.Join(dir, "ca.pem"), pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	os.WriteFile(p.caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	p.server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	return p
}

type env struct {
	t      *testing.T
	dir    string
	pki    *pki
	sim    *tee.Sim
	simKey *ecdsa.PrivateKey
	srv    *Server
	addr   string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func writeSimPub(t *testing.T, path string, pub *ecdsa.PublicKey) {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
}

const testPolicy = `
max_age = "5m"
trusted_sim_keys = ["sim.pub.pem"]

[secrets.wrap]
hex = "000102030405060708090a0b0c0d0e0f"

[secrets.greeting]
string = "A_SIMPLE_SECRET"

[[rule]]
name = "app"
platforms = ["sim"]
measurements = ["%s"]
signers = ["%s"]
secret = "%s"
`

func startServer(t *testing.T, secret string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, pki: newPKI(t, dir), logs: &syncBuffer{}, done: make(chan error, 1)}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var err error
	e.simKey = k
	e.sim, err = tee.NewSim(tee.SimOptions{Key: k, Measurement: appMeas, Signer: appSign, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	writeSimPub(t, filepath.Join(dir, "sim.pub.pem"), e.sim.PublicKey())
	pol := fmt.Sprintf(testPolicy, hex.EncodeToString(appMeas[:]), hex.EncodeToString(appSign[:]), secret)
	os.WriteFile(filepath.Join(dir, "policy.toml"), []byte(pol), 0o600)
	p, err := LoadPolicy(filepath.Join(dir, "policy.toml"))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = &Server{Cert: e.pki.server, Policy: p, Logger: slog.New(slog.NewJSONHandler(e.logs, nil)), Grace: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- e.srv.Serve(ctx, ln) }()
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	if e.cancel != nil {
		e.cancel()
		e.cancel = nil
		if err := <-e.done; err != nil {
			e.t.Errorf("Serve: %v", err)
		}
	}
}

func (e *env) client(t *testing.T, extra ...string) *Client {
	envv := append([]string{EnvConstructor + "=1", EnvCAChainPath + "=" + e.pki.caPath, EnvServers + "=" + e.addr}, extra...)
	c, ok, err := FromEnv(envv)
	if err != nil || !ok {
		t.Fatalf("FromEnv: %v %v", ok, err)
	}
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

func TestProvisionKey(t *testing.T) {
	e := startServer(t, "wrap")
	c := e.client(t, EnvSetKey+"=default")
	s, err := c.Provision(context.Background(), e.sim, appMeas, appSign)
	if err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, e.logs)
	}
	if s.KeyName != "default" || hex.EncodeToString(s.Key[:]) != "000102030405060708090a0b0c0d0e0f" || s.Env() != nil {
		t.Fatalf("secret %+v", s)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"verdict":"accept"`) || !strings.Contains(logs, `"status":"INSECURE-SIMULATED"`) || !strings.Contains(logs, hex.EncodeToString(appMeas[:])) {
		t.Fatalf("audit line missing:\n%s", logs)
	}
}

func TestProvisionString(t *testing.T) {
	e := startServer(t, "greeting")
	s, err := e.client(t).Provision(context.Background(), e.sim, appMeas, appSign)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Env(); len(got) != 1 || got[0] != EnvSecretString+"=A_SIMPLE_SECRET" {
		t.Fatalf("env %q", got)
	}
}

func TestWrongMeasurementRefused(t *testing.T) {
	e := startServer(t, "wrap")
	other := [32]byte{0xcc}
	// Same trusted simulator, different application.
	wrong, _ := tee.NewSim(tee.SimOptions{Key: e.simKey, Measurement: other, Signer: appSign, Logger: slog.New(slog.DiscardHandler)})
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sim, _ := tee.NewSim(tee.SimOptions{Key: k, Measurement: other, Signer: appSign, Logger: slog.New(slog.DiscardHandler)})
	_, err := e.client(t).Provision(context.Background(), wrong, other, appSign)
	if err == nil {
		t.Fatal("wrong measurement provisioned")
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"verdict":"refuse"`) || !strings.Contains(logs, `"check":"measurement"`) || !strings.Contains(logs, hex.EncodeToString(other[:])) {
		t.Fatalf("audit:\n%s", logs)
	}
	// Untrusted simulator key: refused at the evidence check.
	_, err = e.client(t).Provision(context.Background(), sim, other, appSign)
	if err == nil || !strings.Contains(e.logs.String(), `"check":"evidence"`) {
		t.Fatalf("untrusted sim: %v\n%s", err, e.logs)
	}
	var m bytes.Buffer
	e.srv.metrics.write(&m)
	if !strings.Contains(m.String(), `nacre_secretprov_decisions_total{verdict="refuse",check="measurement"} 1`) {
		t.Fatalf("metrics:\n%s", m.String())
	}
}

// rawSession speaks the protocol byte by byte with a given RA-TLS
// certificate, like Gramine's C client, and returns the bytes received.
func rawSession(t *testing.T, e *env, cert tls.Certificate) ([]byte, error) {
	return rawSessionVersion(t, e, cert, 0)
}

func rawSessionVersion(t *testing.T, e *env, cert tls.Certificate, maxVersion uint16) ([]byte, error) {
	conn, err := tls.Dial("tcp", e.addr, &tls.Config{RootCAs: e.pki.pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("SECRET_PROVISION_RA_TLS_REQUEST_V1\x00")); err != nil {
		return nil, err
	}
	return io.ReadAll(conn)
}

func TestTranscriptAndReplay(t *testing.T) {
	e := startServer(t, "greeting")
	c, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: e.sim, Measurement: appMeas, Signer: appSign})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rawSession(t, e, c.TLS())
	if err != nil {
		t.Fatal(err)
	}
	want := "SECRET_PROVISION_RA_TLS_RESPONSE_V1:\x00" + "\x00\x00\x00\x10" + "A_SIMPLE_SECRET\x00"
	if string(got) != want {
		t.Fatalf("transcript\n got %q\nwant %q", got, want)
	}
	// TLS 1.2 works the same way.
	c12, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: e.sim, Measurement: appMeas, Signer: appSign})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rawSessionVersion(t, e, c12.TLS(), tls.VersionTLS12); err != nil || string(got) != want {
		t.Fatalf("TLS 1.2: %q %v", got, err)
	}
	// The same certificate again: refused as a replay.
	got, _ = rawSession(t, e, c.TLS())
	if len(got) != 0 {
		t.Fatalf("replayed certificate got %q", got)
	}
	if !strings.Contains(e.logs.String(), `"check":"replay"`) {
		t.Fatalf("audit:\n%s", e.logs)
	}
}

func TestStaleEvidenceRefused(t *testing.T) {
	e := startServer(t, "greeting")
	old := time.Now().Add(-time.Hour)
	c, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: e.sim, Measurement: appMeas, Signer: appSign, Now: func() time.Time { return old }, NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := rawSession(t, e, c.TLS()); len(got) != 0 {
		t.Fatal("stale evidence provisioned")
	}
	if !strings.Contains(e.logs.String(), `"check":"freshness"`) {
		t.Fatalf("audit:\n%s", e.logs)
	}
}

func TestConcurrentClients(t *testing.T) {
	e := startServer(t, "wrap")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.client(t, EnvSetKey+"=default").Provision(context.Background(), e.sim, appMeas, appSign)
			if err == nil && s.Key[15] != 0x0f {
				err = errors.New("wrong key")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	e.stop() // waits for every connection, so the counters are final
	if n := e.srv.metrics.get("nacre_secretprov_secrets_sent_total", labels("secret", "wrap")); n != 8 {
		t.Fatalf("secrets sent %v", n)
	}
}

func TestShutdownAndHTTP(t *testing.T) {
	e := startServer(t, "wrap")
	h := httptest.NewServer(e.srv.Handler())
	defer h.Close()
	get := func(path string) (int, string) {
		resp, err := h.Client().Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if _, err := e.client(t, EnvSetKey+"=default").Provision(context.Background(), e.sim, appMeas, appSign); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	// A client that connects and stalls does not block shutdown beyond Grace.
	stalled, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	for deadline := time.Now().Add(5 * time.Second); e.srv.metrics.get("nacre_secretprov_connections_total", "") < 2; {
		if time.Now().After(deadline) {
			t.Fatal("server did not accept the stalled connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.stop()
	if code, _ := get("/healthz"); code != 503 {
		t.Fatalf("healthz after shutdown %d", code)
	}
	code, body := get("/metrics")
	for _, want := range []string{"# TYPE nacre_secretprov_connections_total counter", "nacre_secretprov_connections_total 2", `nacre_secretprov_decisions_total{verdict="accept",check=""} 1`,
		`nacre_secretprov_decisions_total{verdict="refuse",check="tls-handshake"} 1`, "nacre_secretprov_active_connections 0", `nacre_secretprov_secrets_sent_total{secret="wrap"} 1`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("metrics missing %q:\n%s", want, body)
		}
	}
	if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		t.Fatal("still listening after shutdown")
	}
	stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); err == nil {
		t.Fatal("stalled connection not closed")
	}
}

func listenClosed(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newTestSim(t *testing.T) *tee.Sim {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := tee.NewSim(tee.SimOptions{Key: k, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClientAgainstRawServer plays a byte-exact Gramine server against
// nacre's client: read 35 request bytes, send the 41-byte header, then the key.
func TestClientAgainstRawServer(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAnyClientCert})
		req := make([]byte, 35)
		if _, err := io.ReadFull(tc, req); err != nil {
			got <- nil
			return
		}
		got <- req
		tc.Write([]byte("SECRET_PROVISION_RA_TLS_RESPONSE_V1:\x00\x00\x00\x00\x10"))
		tc.Write([]byte("0123456789ABCDEF"))
		tc.Close()
	}()
	c, _, err := FromEnv([]string{EnvConstructor + "=1", EnvCAChainPath + "=" + p.caPath, EnvServers + "=" + ln.Addr().String(), EnvSetKey + "=default"})
	if err != nil {
		t.Fatal(err)
	}
	c.Logger = slog.New(slog.DiscardHandler)
	s, err := c.Provision(context.Background(), newTestSim(t), appMeas, appSign)
	if err != nil {
		t.Fatal(err)
	}
	if string(<-got) != "SECRET_PROVISION_RA_TLS_REQUEST_V1\x00" || string(s.Key[:]) != "0123456789ABCDEF" {
		t.Fatalf("key %q", s.Key)
	}
}

// TestApplicationData continues over the connection after the secret, like
// Gramine's f_cb with secret_provision_read/write.
func TestApplicationData(t *testing.T) {
	e := startServer(t, "wrap")
	e.srv.AfterSecret = func(_ context.Context, c *tls.Conn, res *ratls.Result, rule *Rule) {
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err == nil && string(buf) == "ping" {
			c.Write([]byte("pong:" + rule.Name + ":" + res.Platform))
		}
	}
	sess, err := e.client(t, EnvSetKey+"=default").Open(context.Background(), e.sim, appMeas, appSign)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.Conn.Write([]byte("ping"))
	got, _ := io.ReadAll(sess.Conn)
	if string(got) != "pong:app:sim" || sess.Secret.Key[0] != 0 || sess.Secret.Key[15] != 15 {
		t.Fatalf("application data %q", got)
	}
}
