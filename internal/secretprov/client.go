package secretprov

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
)

// Environment variables read by Gramine's client library, and by nacre.
const (
	EnvConstructor  = "SECRET_PROVISION_CONSTRUCTOR"
	EnvSetKey       = "SECRET_PROVISION_SET_KEY"
	EnvSetPFKey     = "SECRET_PROVISION_SET_PF_KEY" // deprecated alias of SET_KEY=default
	EnvServers      = "SECRET_PROVISION_SERVERS"
	EnvCAChainPath  = "SECRET_PROVISION_CA_CHAIN_PATH"
	EnvSecretString = "SECRET_PROVISION_SECRET_STRING"
)

// DefaultServers is Gramine's default server list.
const DefaultServers = "localhost:4433"

// MaxSecretString is Gramine's limit (PATH_MAX) for a secret stored in
// SECRET_PROVISION_SECRET_STRING, including its NUL.
const MaxSecretString = 4096

// ErrNotConfigured: the environment does not ask for provisioning.
var ErrNotConfigured = errors.New("secret provisioning not requested")

// Client provisions one secret from the first reachable server.
type Client struct {
	// Servers are host:port entries tried in order.
	Servers []string
	// RootCAs verify the server's (ordinary X.509) certificate; the host
	// part of the server entry is checked against it.
	RootCAs     *x509.CertPool
	CAChainPath string
	// KeyName is SECRET_PROVISION_SET_KEY: the secret is a 16-byte key for
	// encrypted mounts with this key_name. Empty: a string secret.
	KeyName string
	// Rounds is how many times the whole server list is tried when no
	// server accepts a TCP connection (default 3), waiting Backoff
	// (default 1s, doubled) between rounds.
	Rounds  int
	Backoff time.Duration
	// MaxSecret bounds the accepted secret (default DefaultMaxSecret).
	MaxSecret int
	Dialer    *net.Dialer
	Now       func() time.Time
	Logger    *slog.Logger
}

func truthy(s string) bool { return s == "1" || s == "true" || s == "TRUE" }

func lookup(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// ParseServers splits a SECRET_PROVISION_SERVERS value (separators ',', ';'
// or space) into host:port entries.
func ParseServers(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		host, port, err := net.SplitHostPort(f)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("%s: entry %q is not host:port", EnvServers, f)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no servers in %q", EnvServers, s)
	}
	return out, nil
}

// FromEnv builds a client from Gramine's environment variables. The bool is
// true when SECRET_PROVISION_CONSTRUCTOR asks for provisioning before the
// application starts (1, true or TRUE); otherwise the client is nil.
func FromEnv(env []string) (*Client, bool, error) {
	v, _ := lookup(env, EnvConstructor)
	if !truthy(v) {
		return nil, false, nil
	}
	c := &Client{}
	ca, ok := lookup(env, EnvCAChainPath)
	if !ok || ca == "" {
		return nil, true, fmt.Errorf("secret provisioning: %s is required (PEM file with the CA chain of the secret-provisioning server)", EnvCAChainPath)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, true, fmt.Errorf("secret provisioning: %s: %w", EnvCAChainPath, err)
	}
	c.CAChainPath = ca
	c.RootCAs = x509.NewCertPool()
	if !c.RootCAs.AppendCertsFromPEM(pem) {
		return nil, true, fmt.Errorf("secret provisioning: %s=%s contains no PEM certificate", EnvCAChainPath, ca)
	}
	servers, ok := lookup(env, EnvServers)
	if !ok || strings.TrimSpace(servers) == "" {
		servers = DefaultServers
	}
	if c.Servers, err = ParseServers(servers); err != nil {
		return nil, true, fmt.Errorf("secret provisioning: %w", err)
	}
	if k, ok := lookup(env, EnvSetKey); ok {
		if k == "" || strings.ContainsAny(k, "/\x00") {
			return nil, true, fmt.Errorf("secret provisioning: %s=%q is not a valid key name", EnvSetKey, k)
		}
		c.KeyName = k
	} else if v, ok := lookup(env, EnvSetPFKey); ok && truthy(v) {
		c.logger().Warn(EnvSetPFKey + " is deprecated; set " + EnvSetKey + "=default instead")
		c.KeyName = "default"
	}
	return c, true, nil
}

// CleanEnv removes the variables Gramine unsets before provisioning, so that
// exec'd children do not provision again and no stale secret leaks through.
func CleanEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if strings.HasPrefix(e, EnvConstructor+"=") || strings.HasPrefix(e, EnvSecretString+"=") {
			continue
		}
		out = append(out, e)
	}
	return out
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// Secret is a provisioned secret.
type Secret struct {
	// Data is the secret as received.
	Data []byte
	// Server is the host:port that sent it.
	Server string
	// KeyName and Key are set in SET_KEY mode.
	KeyName string
	Key     [16]byte
	// String is the value for SECRET_PROVISION_SECRET_STRING (string mode).
	String string
}

// Env returns the environment entries to add for the application.
func (s *Secret) Env() []string {
	if s.KeyName != "" {
		return nil
	}
	return []string{EnvSecretString + "=" + s.String}
}

// Wipe zeroes the secret's bytes (the String copy cannot be wiped).
func (s *Secret) Wipe() {
	clear(s.Data)
	clear(s.Key[:])
}

// interpret applies Gramine's rules: SET_KEY secrets are 16 raw bytes (or,
// from older Gramine servers, 32 hex digits plus NUL); string secrets must
// be NUL-terminated and at most 4096 bytes.
func (c *Client) interpret(s *Secret) error {
	d := s.Data
	if c.KeyName != "" {
		s.KeyName = c.KeyName
		switch {
		case len(d) == 16:
			copy(s.Key[:], d)
		case (len(d) == 33 && d[32] == 0) || len(d) == 32:
			if _, err := hex.Decode(s.Key[:], d[:32]); err != nil {
				return fmt.Errorf("secret provisioning: %s: 32-byte secret is not a hex key: %w", EnvSetKey, err)
			}
		default:
			return fmt.Errorf("secret provisioning: %s=%s needs a 16-byte key, server sent %d bytes", EnvSetKey, c.KeyName, len(d))
		}
		return nil
	}
	if len(d) == 0 || len(d) > MaxSecretString || d[len(d)-1] != 0 {
		return fmt.Errorf("secret provisioning: secret is not a NUL-terminated string of at most %d bytes (got %d bytes); use %s for binary keys", MaxSecretString, len(d), EnvSetKey)
	}
	str := string(d[:len(d)-1])
	if strings.IndexByte(str, 0) >= 0 {
		return fmt.Errorf("secret provisioning: string secret contains a NUL before its end")
	}
	s.String = str
	return nil
}

// Session is an open provisioning connection after the secret was received;
// the application protocol (Gramine's secret_provision_read/write) may
// continue over it.
type Session struct {
	Conn   *tls.Conn
	Secret *Secret
}

// Close sends close_notify and closes the connection.
func (s *Session) Close() error { return s.Conn.Close() }

// Provision obtains the secret: it connects to the first server that accepts
// a TCP connection, presents a fresh RA-TLS certificate from platform
// binding measurement and signer, and reads the secret.
func (c *Client) Provision(ctx context.Context, platform tee.Platform, measurement, signer [32]byte) (*Secret, error) {
	s, err := c.Open(ctx, platform, measurement, signer)
	if err != nil {
		return nil, err
	}
	s.Close()
	return s.Secret, nil
}

// Open is Provision keeping the connection open for application data.
func (c *Client) Open(ctx context.Context, platform tee.Platform, measurement, signer [32]byte) (*Session, error) {
	if platform == nil || platform.Name() == tee.PlatformNone {
		return nil, fmt.Errorf("secret provisioning: %w", tee.ErrNoTEE)
	}
	conn, server, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := c.exchange(ctx, conn, server, platform, measurement, signer)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("secret provisioning with %s: %w", server, err)
	}
	c.logger().Info("secret provisioned", "server", server, "bytes", len(sess.Secret.Data), "key_name", sess.Secret.KeyName)
	return sess, nil
}

func (c *Client) dial(ctx context.Context) (net.Conn, string, error) {
	if len(c.Servers) == 0 {
		return nil, "", fmt.Errorf("secret provisioning: no servers")
	}
	rounds := c.Rounds
	if rounds <= 0 {
		rounds = 3
	}
	backoff := c.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	d := c.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: 10 * time.Second}
	}
	var errs []error
	for round := 0; round < rounds; round++ {
		if round > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, "", ctx.Err()
			case <-t.C:
			}
			backoff *= 2
		}
		for _, s := range c.Servers {
			conn, err := d.DialContext(ctx, "tcp", s)
			if err == nil {
				return conn, s, nil
			}
			c.logger().Debug("secret provisioning: server not reachable", "server", s, "err", err)
			errs = append(errs, err)
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
		}
	}
	return nil, "", fmt.Errorf("secret provisioning: could not connect to any of %s (%d rounds): %w", strings.Join(c.Servers, ", "), rounds, errors.Join(errs...))
}

func (c *Client) exchange(ctx context.Context, conn net.Conn, server string, platform tee.Platform, measurement, signer [32]byte) (*Session, error) {
	cert, err := ratls.CreateCertificate(ctx, ratls.CertOptions{Platform: platform, Measurement: measurement, Signer: signer, Now: c.Now})
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(server)
	tc := tls.Client(conn, &tls.Config{
		RootCAs:      c.RootCAs,
		ServerName:   host,
		Certificates: []tls.Certificate{cert.TLS()},
		MinVersion:   tls.VersionTLS12,
	})
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
	} else {
		tc.SetDeadline(time.Now().Add(time.Minute))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w (if the server refused our RA-TLS certificate, its audit log says why)", err)
	}
	if err := WriteRequest(tc); err != nil {
		return nil, fmt.Errorf("sending request: %w", err)
	}
	data, err := ReadResponse(tc, c.MaxSecret)
	if err != nil {
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	s := &Secret{Data: data, Server: server}
	if err := c.interpret(s); err != nil {
		return nil, err
	}
	return &Session{Conn: tc, Secret: s}, nil
}
