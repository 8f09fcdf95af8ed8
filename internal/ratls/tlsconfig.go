package ratls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync"
)

// Peer collects the verification result of a connection's peer certificate.
type Peer struct {
	mu  sync.Mutex
	res *Result
	err error
}

// Result returns the peer's attested facts once the handshake succeeded, or
// the reason it was refused.
func (p *Peer) Result() (*Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.res == nil && p.err == nil {
		return nil, errors.New("RA-TLS peer not verified (no handshake yet)")
	}
	return p.res, p.err
}

func (v *Verifier) hook(ctx context.Context, peer *Peer) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		var res *Result
		var err error
		switch len(raw) {
		case 0:
			err = reject(CheckExtract, "peer sent no certificate")
		case 1:
			res, err = v.VerifyCertificate(ctx, raw[0])
			if err != nil {
				res = nil
			}
		default:
			// Gramine accepts only depth 0: one self-signed certificate.
			err = reject(CheckParse, "peer sent a chain of %d certificates; RA-TLS takes exactly one self-signed certificate", len(raw))
		}
		if peer != nil {
			peer.mu.Lock()
			peer.res, peer.err = res, err
			peer.mu.Unlock()
		}
		return err
	}
}

// ServerConfig is a TLS server configuration presenting cert and requiring
// an RA-TLS client certificate verified by v. When peer is non-nil it
// receives the verification result (use one config per connection).
func ServerConfig(ctx context.Context, cert tls.Certificate, v *Verifier, peer *Peer) *tls.Config {
	return &tls.Config{
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: v.hook(ctx, peer),
		MinVersion:            tls.VersionTLS12,
	}
}

// ClientConfig is a TLS client configuration that accepts only an RA-TLS
// server certificate verified by v (no CA, no host name: trust comes from
// the evidence). cert, if non-nil, is presented as client certificate.
func ClientConfig(ctx context.Context, cert *tls.Certificate, v *Verifier, peer *Peer) *tls.Config {
	c := &tls.Config{
		InsecureSkipVerify:    true, // replaced by VerifyPeerCertificate below
		VerifyPeerCertificate: v.hook(ctx, peer),
		MinVersion:            tls.VersionTLS12,
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}
