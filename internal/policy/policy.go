package policy

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/nacre-tee/nacre/internal/verify"
)

// Hex is a byte string written as hex in policy files and environment
// variables (an optional 0x prefix is allowed).
type Hex []byte

// UnmarshalText decodes hex.
func (h *Hex) UnmarshalText(b []byte) error {
	s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), "0X")
	v, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("%q is not hex: %w", string(b), err)
	}
	*h = v
	return nil
}

// MarshalText encodes lower-case hex.
func (h Hex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h Hex) String() string { return hex.EncodeToString(h) }

// Policy is what the relying party expects. The zero value is the strict
// default: any measurement, no debug, only an UpToDate TCB. A list of values
// means "one of these"; an empty list means "any".
type Policy struct {
	// Platforms restricts the TEE type: "sgx", "tdx", "snp", "sim", …
	Platforms []string `toml:"platforms" json:"platforms,omitempty"`

	// SGX enclave identity (RA_TLS_MRENCLAVE / RA_TLS_MRSIGNER).
	MREnclave []Hex `toml:"mrenclave" json:"mrenclave,omitempty"`
	MRSigner  []Hex `toml:"mrsigner" json:"mrsigner,omitempty"`
	// ProductID: SGX ISVPRODID must equal it (RA_TLS_ISV_PROD_ID).
	ProductID *uint16 `toml:"product_id" json:"product_id,omitempty"`
	// MinSVN: SGX ISVSVN or SNP GUEST_SVN must be ≥ it (RA_TLS_ISV_SVN).
	MinSVN *uint32 `toml:"min_svn" json:"min_svn,omitempty"`

	// TDX TD identity.
	MRTD   []Hex `toml:"mrtd" json:"mrtd,omitempty"`
	RTMR0  []Hex `toml:"rtmr0" json:"rtmr0,omitempty"`
	RTMR1  []Hex `toml:"rtmr1" json:"rtmr1,omitempty"`
	RTMR2  []Hex `toml:"rtmr2" json:"rtmr2,omitempty"`
	RTMR3  []Hex `toml:"rtmr3" json:"rtmr3,omitempty"`
	MRSeam []Hex `toml:"mrseam" json:"mrseam,omitempty"`

	// SEV-SNP guest identity.
	Measurement []Hex `toml:"measurement" json:"measurement,omitempty"`
	HostData    []Hex `toml:"host_data" json:"host_data,omitempty"`
	// VMPL: the SNP report must come from this VM privilege level (0 is
	// the most privileged; a paravisor-hosted guest reports a higher one).
	VMPL *uint32 `toml:"vmpl" json:"vmpl,omitempty"`

	// nacre's own manifest measurement and signer, reported by the sim TEE
	// and RA-TLS recognizers as verify.MeasManifest / MeasManifestSigner.
	ManifestMeasurement []Hex `toml:"manifest_measurement" json:"manifest_measurement,omitempty"`
	ManifestSigner      []Hex `toml:"manifest_signer" json:"manifest_signer,omitempty"`

	// Measurements constrains any named measurement of verify.Result
	// (e.g. "MRCONFIGID", "ID_KEY_DIGEST") to one of the listed values.
	Measurements map[string][]Hex `toml:"measurements" json:"measurements,omitempty"`

	// Allowances, named after Gramine's RA-TLS variables.
	AllowDebug             bool `toml:"allow_debug_enclave_insecure" json:"allow_debug_enclave_insecure,omitempty"` // RA_TLS_ALLOW_DEBUG_ENCLAVE_INSECURE
	AllowOutdatedTCB       bool `toml:"allow_outdated_tcb_insecure" json:"allow_outdated_tcb_insecure,omitempty"`   // RA_TLS_ALLOW_OUTDATED_TCB_INSECURE
	AllowHWConfigNeeded    bool `toml:"allow_hw_config_needed" json:"allow_hw_config_needed,omitempty"`             // RA_TLS_ALLOW_HW_CONFIG_NEEDED
	AllowSWHardeningNeeded bool `toml:"allow_sw_hardening_needed" json:"allow_sw_hardening_needed,omitempty"`       // RA_TLS_ALLOW_SW_HARDENING_NEEDED
	// AllowUnknownTCB accepts evidence whose TCB status could not be
	// computed because collateral was missing (nacre extension).
	AllowUnknownTCB bool `toml:"allow_unknown_tcb_insecure" json:"allow_unknown_tcb_insecure,omitempty"`
}

// Check names recorded by Evaluate.
const (
	CheckPlatform   = "policy.platform"
	CheckDebug      = "policy.debug"
	CheckSGXAttrs   = "policy.sgx_attributes"
	CheckTCBStatus  = "policy.tcb_status"
	CheckProductID  = "policy.product_id"
	CheckMinSVN     = "policy.min_svn"
	CheckVMPL       = "policy.vmpl"
	checkMeasPrefix = "policy." // + lower-case measurement name
)

// ErrPolicy is wrapped by every policy rejection (inside a *verify.CheckError).
var ErrPolicy = errors.New("evidence does not satisfy the policy")

// Evaluate checks res against p, appends one verify.Check per rule to
// res.Checks, and returns the first violation as a *verify.CheckError (which
// matches verify.ErrRejected and ErrPolicy). res must come from a successful
// verification; a rejected result is refused.
func (p *Policy) Evaluate(res *verify.Result) error {
	if res == nil || !res.Accepted {
		return &verify.CheckError{Check: "policy.input", Err: fmt.Errorf("%w: evidence was not verified", ErrPolicy)}
	}
	var first error
	fail := func(name string, format string, args ...any) {
		err := res.Fail(name, fmt.Errorf("%w: "+format, append([]any{ErrPolicy}, args...)...))
		if first == nil {
			first = err
		}
	}

	if len(p.Platforms) > 0 {
		ok := false
		for _, pl := range p.Platforms {
			ok = ok || strings.EqualFold(pl, string(res.Platform))
		}
		if ok {
			res.Pass(CheckPlatform, "%s is allowed", res.Platform)
		} else {
			fail(CheckPlatform, "platform %s, allowed %v", res.Platform, p.Platforms)
		}
	}

	switch {
	case !res.Debug:
		res.Pass(CheckDebug, "not debuggable")
	case p.AllowDebug:
		res.Pass(CheckDebug, "debuggable, allowed by RA_TLS_ALLOW_DEBUG_ENCLAVE_INSECURE")
	default:
		fail(CheckDebug, "the TEE is debuggable (set RA_TLS_ALLOW_DEBUG_ENCLAVE_INSECURE=1 / allow_debug_enclave_insecure to accept)")
	}

	if q, ok := res.Details.(*verify.Quote); ok && q.SGX != nil {
		// Gramine: INIT and MODE64BIT set, PROVISIONKEY and EINITTOKENKEY clear.
		f := q.SGX.Flags()
		switch {
		case f&verify.SGXAttrInit == 0 || f&verify.SGXAttrMode64 == 0:
			fail(CheckSGXAttrs, "ATTRIBUTES %#x lack INIT or MODE64BIT", f)
		case f&(verify.SGXAttrProvisionKey|verify.SGXAttrEinitTokenKey) != 0:
			fail(CheckSGXAttrs, "ATTRIBUTES %#x grant PROVISIONKEY or EINITTOKENKEY", f)
		default:
			res.Pass(CheckSGXAttrs, "INIT, MODE64BIT; no PROVISIONKEY/EINITTOKENKEY")
		}
	}

	if err := p.tcbAllowed(res.TCBStatus); err != nil {
		fail(CheckTCBStatus, "%v", err)
	} else if res.TCBStatus != "" {
		res.Pass(CheckTCBStatus, "%s %v allowed", res.TCBStatus, res.AdvisoryIDs)
	}

	if p.ProductID != nil {
		if res.ProductID == *p.ProductID {
			res.Pass(CheckProductID, "product ID %d", res.ProductID)
		} else {
			fail(CheckProductID, "product ID %d, want %d", res.ProductID, *p.ProductID)
		}
	}
	if p.MinSVN != nil {
		if res.SVN >= *p.MinSVN {
			res.Pass(CheckMinSVN, "SVN %d ≥ %d", res.SVN, *p.MinSVN)
		} else {
			fail(CheckMinSVN, "SVN %d is below the minimum %d", res.SVN, *p.MinSVN)
		}
	}

	if p.VMPL != nil {
		r, ok := res.Details.(*verify.SNPReport)
		switch {
		case !ok:
			fail(CheckVMPL, "%s evidence has no VMPL", res.Platform)
		case r.VMPL != *p.VMPL:
			fail(CheckVMPL, "VMPL %d, want %d", r.VMPL, *p.VMPL)
		default:
			res.Pass(CheckVMPL, "VMPL %d", r.VMPL)
		}
	}

	for _, m := range p.measurementRules() {
		got, ok := res.Measurement(m.name)
		name := checkMeasPrefix + strings.ToLower(m.name)
		switch {
		case !ok:
			fail(name, "%s evidence has no %s", res.Platform, m.name)
		case !oneOf(got, m.want):
			fail(name, "%s %x is not one of the %d expected values", m.name, got, len(m.want))
		default:
			res.Pass(name, "%s %x expected", m.name, got)
		}
	}
	if first != nil {
		res.Accepted = false
	}
	return first
}

type measRule struct {
	name string
	want []Hex
}

// measurementRules lists the non-empty measurement constraints in a stable
// order: typed fields first, then the generic map sorted by name.
func (p *Policy) measurementRules() []measRule {
	var out []measRule
	add := func(name string, want []Hex) {
		if len(want) > 0 {
			out = append(out, measRule{name, want})
		}
	}
	add(verify.MeasMREnclave, p.MREnclave)
	add(verify.MeasMRSigner, p.MRSigner)
	add(verify.MeasMRTD, p.MRTD)
	add(verify.MeasRTMR0, p.RTMR0)
	add(verify.MeasRTMR1, p.RTMR1)
	add(verify.MeasRTMR2, p.RTMR2)
	add(verify.MeasRTMR3, p.RTMR3)
	add(verify.MeasMRSeam, p.MRSeam)
	add(verify.MeasSNP, p.Measurement)
	add(verify.MeasHostData, p.HostData)
	add(verify.MeasManifest, p.ManifestMeasurement)
	add(verify.MeasManifestSigner, p.ManifestSigner)
	names := make([]string, 0, len(p.Measurements))
	for n := range p.Measurements {
		names = append(names, n)
	}
	sortStrings(names)
	for _, n := range names {
		add(strings.ToUpper(n), p.Measurements[n])
	}
	return out
}

func oneOf(got []byte, want []Hex) bool {
	for _, w := range want {
		if bytes.Equal(got, w) {
			return true
		}
	}
	return false
}

// tcbAllowed maps a TCB status to the allowances it needs (Gramine's
// ra_tls_verify_dcap.c table). An empty status (SNP: no status concept)
// needs none.
func (p *Policy) tcbAllowed(s verify.TCBStatus) error {
	need := func(ok bool, vars ...string) error {
		if ok {
			return nil
		}
		return fmt.Errorf("TCB status %s needs %s=1", s, strings.Join(vars, "=1 and "))
	}
	switch s {
	case "", verify.TCBUpToDate:
		return nil
	case verify.TCBSWHardeningNeeded:
		return need(p.AllowSWHardeningNeeded, "RA_TLS_ALLOW_SW_HARDENING_NEEDED")
	case verify.TCBConfigurationNeeded:
		return need(p.AllowHWConfigNeeded, "RA_TLS_ALLOW_HW_CONFIG_NEEDED")
	case verify.TCBConfigurationAndSWHardeningNeeded:
		return need(p.AllowHWConfigNeeded && p.AllowSWHardeningNeeded, "RA_TLS_ALLOW_HW_CONFIG_NEEDED", "RA_TLS_ALLOW_SW_HARDENING_NEEDED")
	case verify.TCBOutOfDate:
		return need(p.AllowOutdatedTCB, "RA_TLS_ALLOW_OUTDATED_TCB_INSECURE")
	case verify.TCBOutOfDateConfigurationNeeded:
		return need(p.AllowOutdatedTCB && p.AllowHWConfigNeeded, "RA_TLS_ALLOW_OUTDATED_TCB_INSECURE", "RA_TLS_ALLOW_HW_CONFIG_NEEDED")
	case verify.TCBUnknown:
		if p.AllowUnknownTCB {
			return nil
		}
		return fmt.Errorf("TCB status Unknown (collateral missing) needs allow_unknown_tcb_insecure")
	default: // Revoked and anything unrecognized
		return fmt.Errorf("TCB status %s is never accepted", s)
	}
}

// Check verifies raw evidence (verify.VerifyEvidence) and evaluates the
// policy on the result: the one call RA-TLS and other relying parties need.
func (p *Policy) Check(ctx context.Context, raw []byte, opts *verify.Options) (*verify.Result, error) {
	res, err := verify.VerifyEvidence(ctx, raw, opts)
	if err != nil {
		return res, err
	}
	return res, p.Evaluate(res)
}
