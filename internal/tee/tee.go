package tee

import (
	"context"
	"errors"
	"time"
)

// Platform names, as used by --platform and carried in Evidence.Platform.
const (
	PlatformTDX  = "tdx"
	PlatformSNP  = "snp"
	PlatformSGX  = "sgx" // verify-only: nacre cannot produce SGX quotes
	PlatformSim  = "sim"
	PlatformNone = "none"
)

// ErrNoTEE is returned by the "none" platform (direct mode): there is no
// hardware that could vouch for the application.
var ErrNoTEE = errors.New("no TEE: nacre runs in direct mode without a trusted execution environment, so no attestation evidence can be produced (use --platform tdx, snp or, for tests only, sim)")

// ErrNoDerivedKey is returned where a platform cannot derive sealing keys
// (TDX, sim-less hosts); keys must then come from secret provisioning.
var ErrNoDerivedKey = errors.New("platform has no sealing-key derivation")

// Platform produces evidence: 64 bytes of report data in, signed evidence out.
type Platform interface {
	// Name is one of the Platform* constants.
	Name() string
	// Evidence asks the platform for evidence whose report-data field is
	// exactly reportData.
	Evidence(ctx context.Context, reportData [64]byte) (*Evidence, error)
}

// Evidence is what a platform vouches for, plus what travels with it.
type Evidence struct {
	// Platform is the Platform* name of the producer.
	Platform string
	// Blob is the platform's signed statement: a TDX quote, an SNP
	// attestation report, or a simulated report.
	Blob []byte
	// Aux is supplemental data needed to verify Blob (SNP: the certificate
	// table from configfs-tsm auxblob). May be empty.
	Aux []byte
	// ReportData is the 64 bytes that were requested.
	ReportData [64]byte
	// Claims, when set, is the encoded Claims whose ReportData() equals
	// ReportData (see Attest).
	Claims []byte
}

// Verified is what an evidence verifier established about Evidence: the
// platform's signature chain is valid and these are the facts it vouches for.
type Verified struct {
	Platform string
	// Status is a short verdict, e.g. "OK", "OutOfDate", or
	// "INSECURE-SIMULATED" for the simulator.
	Status string
	// Insecure is true for evidence that proves nothing (simulator).
	Insecure bool
	// ReportData is the report-data field as signed by the platform.
	ReportData [64]byte
	// Debug is true when the TEE runs in a debug mode whose memory the host
	// can read.
	Debug bool
	// Measurement and Signer are the application identity when the platform
	// itself reports one (the simulator does); nil otherwise.
	Measurement, Signer []byte
	// Timestamp is when the platform says it produced the evidence; zero if
	// the evidence carries no time (TDX, SNP).
	Timestamp time.Time
	// Details holds platform-specific facts for logs (TCB status, MRTD...).
	Details map[string]string
}

// Attest binds c into evidence: it requests evidence over c.ReportData() and
// attaches the encoded claims so that a verifier can recompute the binding
// from the evidence alone.
func Attest(ctx context.Context, p Platform, c Claims) (*Evidence, error) {
	enc := c.Encode()
	ev, err := p.Evidence(ctx, c.ReportData())
	if err != nil {
		return nil, err
	}
	ev.Claims = enc
	return ev, nil
}
