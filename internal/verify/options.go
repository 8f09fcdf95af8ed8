package verify

import (
	"context"
	"crypto/x509"
	"log/slog"
	"time"
)

// Options control verification. The zero value verifies at the current time
// with the collateral carried by the evidence only.
type Options struct {
	// Now returns the verification time (default time.Now). Pin it in tests
	// to a time inside the collateral's validity windows.
	Now func() time.Time
	// Collateral: TCB info, QE identity, CRLs, issuer chains, AMD
	// certificates (see ParseCollateral / LoadCollateral).
	Collateral *Collateral
	// Fetcher, if set, is asked for collateral that Collateral lacks. No
	// network fetcher is used unless one is set here.
	Fetcher Fetcher
	// AllowMissingCollateral lets checks whose collateral is absent be
	// recorded as skipped instead of failing; the TCB status is then
	// Unknown (or computed from what is present). Authenticity checks that
	// need only the evidence (signatures, chains to the vendor root) always run.
	AllowMissingCollateral bool
	// Logger receives debug-level progress (default slog.Default()).
	Logger *slog.Logger
}

// Fetcher obtains collateral from elsewhere (Intel PCS / PCCS, AMD KDS).
// Implementations live outside this package; tests pass none.
type Fetcher interface {
	// IntelCollateral returns TCB info, QE identity, CRLs and issuer chains
	// for the platform identified by fmspc/pceid; tee is "SGX" or "TDX";
	// pckCA is "platform" or "processor".
	IntelCollateral(ctx context.Context, tee string, fmspc, pceid []byte, pckCA string) (*Collateral, error)
	// SNPCertificates returns the VCEK for chipID at the reported TCB and
	// the ASK/ARK chain of product (Milan, Genoa, Turin).
	SNPCertificates(ctx context.Context, product string, chipID []byte, reportedTCB uint64) ([]*x509.Certificate, error)
}

func (o *Options) now() time.Time {
	if o != nil && o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) logger() *slog.Logger {
	if o != nil && o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func (o *Options) collateral() *Collateral {
	if o != nil && o.Collateral != nil {
		return o.Collateral
	}
	return &Collateral{}
}
