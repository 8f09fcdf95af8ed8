package secretprov

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
)

// Server is a secret-provisioning server: it verifies each client's RA-TLS
// certificate during the TLS handshake, matches it against the policy's
// rules and sends the rule's secret using Gramine's framing.
type Server struct {
	// Cert is the server's ordinary X.509 certificate (clients verify it
	// against SECRET_PROVISION_CA_CHAIN_PATH).
	Cert   tls.Certificate
	Policy *Policy
	// Verifiers for real evidence by platform; the simulator's verifier is
	// added from Policy.TrustedSimKeys.
	Verifiers map[string]ratls.EvidenceVerifier
	// AfterSecret, if set, continues the application protocol on the
	// connection after the secret was sent (Gramine's f_cb).
	AfterSecret func(ctx context.Context, conn *tls.Conn, res *ratls.Result, rule *Rule)
	// Timeout bounds each connection (default 30s).
	Timeout time.Duration
	// Grace is how long shutdown waits for connections (default 5s).
	Grace  time.Duration
	Now    func() time.Time
	Logger *slog.Logger

	once     sync.Once
	verifier *ratls.Verifier
	metrics  *metrics
	closing  atomic.Bool
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
		if s.Timeout <= 0 {
			s.Timeout = 30 * time.Second
		}
		if s.Grace <= 0 {
			s.Grace = 5 * time.Second
		}
		vs := map[string]ratls.EvidenceVerifier{}
		for k, v := range s.Verifiers {
			vs[k] = v
		}
		for _, r := range s.Policy.Rules {
			if len(r.Measurements) == 0 && len(r.Signers) == 0 {
				s.Logger.Warn("policy rule accepts any application on its platforms (no measurements or signers)", "rule", r.Name, "platforms", r.Platforms)
			}
		}
		if len(s.Policy.TrustedSimKeys) > 0 {
			s.Logger.Warn("INSECURE: this secret server trusts simulated TEE evidence; anyone with the simulator key can obtain secrets")
			vs[tee.PlatformSim] = &tee.SimVerifier{Trusted: append([]*ecdsa.PublicKey(nil), s.Policy.TrustedSimKeys...), Logger: s.Logger}
		}
		s.verifier = &ratls.Verifier{
			Verifiers: vs,
			// Per-rule checks (platform, identity, debug) happen in Match;
			// here only what holds for every rule.
			Policy: ratls.Policy{AllowDebug: true, MaxAge: s.Policy.MaxAge, AllowNoTimestamp: s.Policy.AllowUntimestamped},
			Replay: &ratls.ReplayCache{Window: s.Policy.ReplayWindow},
			Now:    s.Now,
			Logger: s.Logger,
		}
		s.metrics = newMetrics()
		s.conns = map[net.Conn]struct{}{}
	})
}

// decision is what the handshake hook decided about one connection.
type decision struct {
	res    *ratls.Result
	rule   *Rule
	err    error
	logged bool
}

// Serve accepts connections on ln until ctx is cancelled, then stops
// accepting, waits up to Grace for running connections and closes the rest.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.init()
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		s.closing.Store(true)
		ln.Close()
	})
	defer stop()
	s.Logger.Info("secret-provisioning server listening", "addr", ln.Addr().String(), "rules", len(s.Policy.Rules))
	var err error
	for {
		var conn net.Conn
		conn, err = ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			break
		}
		s.metrics.add("nacre_secretprov_connections_total", "", 1)
		s.track(conn, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.track(conn, false)
			s.serveConn(ctx, conn)
		}()
	}
	if ctx.Err() == nil {
		return fmt.Errorf("secret server: accept: %w", err)
	}
	s.Logger.Info("secret-provisioning server shutting down", "active", s.active())
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.Grace):
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	return nil
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
		s.metrics.add("nacre_secretprov_active_connections", "", 1)
	} else {
		delete(s.conns, c)
		s.metrics.add("nacre_secretprov_active_connections", "", -1)
		c.Close()
	}
}

func (s *Server) active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	// Socket deadlines follow the real clock; s.Now is the verification
	// clock, which tests and `secret-server --at` may pin to the past.
	conn.SetDeadline(time.Now().Add(s.Timeout))
	remote := conn.RemoteAddr().String()
	d := &decision{}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{s.Cert},
		ClientAuth:   tls.RequireAnyClientCert,
		MinVersion:   tls.VersionTLS12,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			s.decide(ctx, raw, d)
			s.audit(remote, d)
			return d.err
		},
	}
	tc := tls.Server(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if !d.logged {
			// The handshake failed before any certificate was looked at.
			d.err = &ratls.CheckError{Check: "tls-handshake", Err: err}
			s.audit(remote, d)
		}
		return
	}
	if err := ReadRequest(tc); err != nil {
		s.connError(remote, d, "read request", err)
		return
	}
	secret := s.Policy.Secrets[d.rule.Secret]
	if err := WriteResponse(tc, secret); err != nil {
		s.connError(remote, d, "send secret", err)
		return
	}
	s.metrics.add("nacre_secretprov_secrets_sent_total", labels("secret", d.rule.Secret), 1)
	s.Logger.Info("secret sent", "remote", remote, "rule", d.rule.Name, "secret", d.rule.Secret, "bytes", len(secret))
	if s.AfterSecret != nil {
		conn.SetDeadline(time.Time{})
		s.AfterSecret(ctx, tc, d.res, d.rule)
	}
	tc.Close()
}

func (s *Server) decide(ctx context.Context, raw [][]byte, d *decision) {
	switch len(raw) {
	case 0:
		d.err = &ratls.CheckError{Check: ratls.CheckExtract, Err: errors.New("client sent no certificate")}
		return
	case 1:
	default:
		d.err = &ratls.CheckError{Check: ratls.CheckParse, Err: fmt.Errorf("client sent %d certificates; RA-TLS takes one self-signed certificate", len(raw))}
		return
	}
	d.res, d.err = s.verifier.VerifyCertificate(ctx, raw[0])
	if d.err != nil {
		return
	}
	d.rule, d.err = s.Policy.Match(d.res, s.Now())
}

// audit writes the one audit line per decision.
func (s *Server) audit(remote string, d *decision) {
	d.logged = true
	attrs := []any{"remote", remote}
	if d.res != nil {
		attrs = append(attrs, "platform", d.res.Platform, "status", d.res.Status,
			"measurement", d.res.MeasurementHex(), "signer", d.res.SignerHex(), "debug", d.res.Debug,
			"pubkey_sha256", hex.EncodeToString(d.res.PubkeyHash[:]))
	}
	if d.err == nil {
		attrs = append(attrs, "verdict", "accept", "rule", d.rule.Name, "secret", d.rule.Secret, "reason", "rule "+d.rule.Name+" matches")
		s.metrics.add("nacre_secretprov_decisions_total", labels("verdict", "accept", "check", ""), 1)
	} else {
		check := "unknown"
		var ce *ratls.CheckError
		if errors.As(d.err, &ce) {
			check = ce.Check
		}
		attrs = append(attrs, "verdict", "refuse", "check", check, "reason", d.err.Error())
		s.metrics.add("nacre_secretprov_decisions_total", labels("verdict", "refuse", "check", check), 1)
	}
	s.Logger.Info("audit", attrs...)
}

func (s *Server) connError(remote string, d *decision, what string, err error) {
	s.metrics.add("nacre_secretprov_errors_total", labels("stage", what), 1)
	s.Logger.Warn("secret provisioning connection failed after the decision", "remote", remote, "stage", what, "err", err)
}
