package verify

import (
	"errors"
	"fmt"
)

// Platform names the TEE that produced a piece of evidence.
type Platform string

// Platforms known to this package; recognizers may add others (e.g. "sim").
const (
	PlatformSGX Platform = "sgx"
	PlatformTDX Platform = "tdx"
	PlatformSNP Platform = "snp"
)

// TCBStatus is the Intel TCB status vocabulary. SEV-SNP has no such status:
// SNP results leave it empty (their TCB is checked against the VCEK/VLEK).
type TCBStatus string

// TCB statuses as spelled in Intel TCB info / QE identity JSON.
const (
	TCBUpToDate                          TCBStatus = "UpToDate"
	TCBSWHardeningNeeded                 TCBStatus = "SWHardeningNeeded"
	TCBConfigurationNeeded               TCBStatus = "ConfigurationNeeded"
	TCBConfigurationAndSWHardeningNeeded TCBStatus = "ConfigurationAndSWHardeningNeeded"
	TCBOutOfDate                         TCBStatus = "OutOfDate"
	TCBOutOfDateConfigurationNeeded      TCBStatus = "OutOfDateConfigurationNeeded"
	TCBRevoked                           TCBStatus = "Revoked"
	// TCBUnknown: the collateral needed to compute the status was not given
	// and Options.AllowMissingCollateral let verification go on.
	TCBUnknown TCBStatus = "Unknown"
)

func knownTCBStatus(s string) bool {
	switch TCBStatus(s) {
	case TCBUpToDate, TCBSWHardeningNeeded, TCBConfigurationNeeded,
		TCBConfigurationAndSWHardeningNeeded, TCBOutOfDate,
		TCBOutOfDateConfigurationNeeded, TCBRevoked:
		return true
	}
	return false
}

// Measurement names used in Result.Measurements. Recognizers for other
// evidence kinds may add their own names (e.g. MeasManifest).
const (
	MeasMREnclave     = "MRENCLAVE"
	MeasMRSigner      = "MRSIGNER"
	MeasMRTD          = "MRTD"
	MeasRTMR0         = "RTMR0"
	MeasRTMR1         = "RTMR1"
	MeasRTMR2         = "RTMR2"
	MeasRTMR3         = "RTMR3"
	MeasMRSeam        = "MRSEAM"
	MeasMRSignerSeam  = "MRSIGNERSEAM"
	MeasMRConfigID    = "MRCONFIGID"
	MeasMROwner       = "MROWNER"
	MeasMROwnerConfig = "MROWNERCONFIG"
	MeasMRServiceTD   = "MRSERVICETD"
	MeasSNP           = "MEASUREMENT"
	MeasHostData      = "HOST_DATA"
	MeasIDKeyDigest   = "ID_KEY_DIGEST"
	MeasAuthorKey     = "AUTHOR_KEY_DIGEST"
	MeasFamilyID      = "FAMILY_ID"
	MeasImageID       = "IMAGE_ID"
	// MeasManifest and MeasManifestSigner are nacre's own manifest
	// measurement and signer, reported by the sim / RA-TLS recognizers.
	MeasManifest       = "MANIFEST_MEASUREMENT"
	MeasManifestSigner = "MANIFEST_SIGNER"
)

// Measurement is one named measurement register or identity value.
type Measurement struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Check is the outcome of one verification step.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"` // what was checked, or why it failed / was skipped
	// Skipped: the check could not run (missing collateral) and was allowed
	// to be skipped; OK is true in that case.
	Skipped bool `json:"skipped,omitempty"`
}

// Result describes verified (or rejected) evidence.
type Result struct {
	Platform Platform `json:"platform"`
	Version  int      `json:"version"`
	// Product names the CPU generation where known (SNP: Milan, Genoa, Turin).
	Product      string        `json:"product,omitempty"`
	Measurements []Measurement `json:"measurements"`
	ReportData   []byte        `json:"report_data"`
	// ProductID and SVN: SGX ISVPRODID/ISVSVN, SNP guest SVN (ProductID 0).
	ProductID uint16 `json:"product_id"`
	SVN       uint32 `json:"svn"`
	// Debug is true when the TEE allows a debugger (SGX ATTRIBUTES.DEBUG,
	// TDX TD_ATTRIBUTES.DEBUG, SNP policy DEBUG).
	Debug       bool      `json:"debug"`
	TCBStatus   TCBStatus `json:"tcb_status"`
	AdvisoryIDs []string  `json:"advisory_ids,omitempty"`
	Checks      []Check   `json:"checks"`
	Accepted    bool      `json:"accepted"`
	// Details holds the parsed evidence (*Quote, *SNPReport, or a
	// recognizer's own type).
	Details any `json:"-"`
}

// Measurement returns the named measurement and whether it is present.
func (r *Result) Measurement(name string) ([]byte, bool) {
	for _, m := range r.Measurements {
		if m.Name == name {
			return m.Value, true
		}
	}
	return nil, false
}

func (r *Result) addMeas(name string, v []byte) {
	r.Measurements = append(r.Measurements, Measurement{Name: name, Value: append([]byte(nil), v...)})
}

// Pass records a passed check (exported for recognizers in other packages).
func (r *Result) Pass(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)})
}

// Skip records a check that could not run but was allowed to be skipped.
func (r *Result) Skip(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Skipped: true, Detail: fmt.Sprintf(format, args...)})
}

// Fail records a failed check and returns the *CheckError to return.
func (r *Result) Fail(name string, err error) error {
	r.Checks = append(r.Checks, Check{Name: name, OK: false, Detail: err.Error()})
	r.Accepted = false
	return &CheckError{Check: name, Err: err}
}

// ErrRejected is matched (errors.Is) by every *CheckError: the evidence was
// read but did not pass a check.
var ErrRejected = errors.New("evidence rejected")

// Sentinels for conditions callers may branch on; CheckError wraps them.
var (
	ErrUnsupported        = errors.New("unsupported evidence format or version")
	ErrMalformed          = errors.New("malformed evidence")
	ErrBadSignature       = errors.New("signature does not verify")
	ErrUntrustedRoot      = errors.New("chain does not end in a trusted root")
	ErrExpired            = errors.New("outside validity window")
	ErrRevoked            = errors.New("certificate revoked")
	ErrMissingCollateral  = errors.New("collateral missing")
	ErrMismatch           = errors.New("value mismatch")
	ErrTCBLevelNotFound   = errors.New("no matching TCB level")
	ErrUnrecognized       = errors.New("evidence not recognized")
	ErrTCBStatusForbidden = errors.New("TCB status not allowed")
)

// CheckError reports the check that rejected the evidence.
type CheckError struct {
	Check string // e.g. "quote.signature", "pck.crl", "policy.mrenclave"
	Err   error
}

func (e *CheckError) Error() string { return fmt.Sprintf("check %s failed: %v", e.Check, e.Err) }
func (e *CheckError) Unwrap() error { return e.Err }

// Is makes every CheckError match ErrRejected.
func (e *CheckError) Is(target error) bool { return target == ErrRejected }

// FailedCheck returns the name of the check that rejected err, or "".
func FailedCheck(err error) string {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Check
	}
	return ""
}
