package policy

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Gramine RA-TLS environment variables honoured by FromEnv.
const (
	EnvMREnclave              = "RA_TLS_MRENCLAVE"
	EnvMRSigner               = "RA_TLS_MRSIGNER"
	EnvISVProdID              = "RA_TLS_ISV_PROD_ID"
	EnvISVSVN                 = "RA_TLS_ISV_SVN"
	EnvAllowDebug             = "RA_TLS_ALLOW_DEBUG_ENCLAVE_INSECURE"
	EnvAllowOutdatedTCB       = "RA_TLS_ALLOW_OUTDATED_TCB_INSECURE"
	EnvAllowHWConfigNeeded    = "RA_TLS_ALLOW_HW_CONFIG_NEEDED"
	EnvAllowSWHardeningNeeded = "RA_TLS_ALLOW_SW_HARDENING_NEEDED"
)

// ErrIncompleteEnv: not all four RA_TLS_MRENCLAVE / RA_TLS_MRSIGNER /
// RA_TLS_ISV_PROD_ID / RA_TLS_ISV_SVN are set (Gramine requires all four;
// the value "any" skips one).
var ErrIncompleteEnv = errors.New("RA_TLS_MRENCLAVE, RA_TLS_MRSIGNER, RA_TLS_ISV_PROD_ID and RA_TLS_ISV_SVN must all be set (use \"any\" to skip one)")

// FromEnv builds a policy from Gramine's RA-TLS environment variables, read
// with getenv (nil: os.Getenv). MRENCLAVE/MRSIGNER are hex (a comma-separated
// list is accepted), ISV_PROD_ID must equal, ISV_SVN is a minimum, "any"
// skips a check. Allowances count only when set to exactly "1".
func FromEnv(getenv func(string) string) (*Policy, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	p := &Policy{}
	var missing []string
	for _, k := range []string{EnvMREnclave, EnvMRSigner, EnvISVProdID, EnvISVSVN} {
		if getenv(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w; unset: %s", ErrIncompleteEnv, strings.Join(missing, ", "))
	}
	var err error
	if p.MREnclave, err = hexListEnv(getenv, EnvMREnclave, 32); err != nil {
		return nil, err
	}
	if p.MRSigner, err = hexListEnv(getenv, EnvMRSigner, 32); err != nil {
		return nil, err
	}
	if v := getenv(EnvISVProdID); v != "any" {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: want a decimal 0..65535 or \"any\"", EnvISVProdID, v)
		}
		id := uint16(n)
		p.ProductID = &id
	}
	if v := getenv(EnvISVSVN); v != "any" {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: want a decimal 0..65535 or \"any\"", EnvISVSVN, v)
		}
		svn := uint32(n)
		p.MinSVN = &svn
	}
	if len(p.MREnclave) == 0 && len(p.MRSigner) == 0 {
		slog.Warn("RA_TLS_MRENCLAVE and RA_TLS_MRSIGNER are both \"any\": any enclave will be accepted (no security)")
	}
	ApplyEnvAllowances(p, getenv)
	return p, nil
}

// ApplyEnvAllowances turns on the allowances whose RA_TLS_ALLOW_* variable is
// exactly "1" (nil getenv: os.Getenv). It never turns one off.
func ApplyEnvAllowances(p *Policy, getenv func(string) string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	on := func(k string) bool { return getenv(k) == "1" }
	p.AllowDebug = p.AllowDebug || on(EnvAllowDebug)
	p.AllowOutdatedTCB = p.AllowOutdatedTCB || on(EnvAllowOutdatedTCB)
	p.AllowHWConfigNeeded = p.AllowHWConfigNeeded || on(EnvAllowHWConfigNeeded)
	p.AllowSWHardeningNeeded = p.AllowSWHardeningNeeded || on(EnvAllowSWHardeningNeeded)
}

func hexListEnv(getenv func(string) string, key string, size int) ([]Hex, error) {
	v := getenv(key)
	if v == "any" {
		return nil, nil
	}
	var out []Hex
	for _, s := range strings.Split(v, ",") {
		var h Hex
		if err := h.UnmarshalText([]byte(s)); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if len(h) != size {
			return nil, fmt.Errorf("%s: %d bytes, want %d (%d hex digits) or \"any\"", key, len(h), size, 2*size)
		}
		out = append(out, h)
	}
	return out, nil
}

func sortStrings(s []string) { slices.Sort(s) }
