package secretprov

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
)

// Policy is a parsed secret-server policy file.
type Policy struct {
	// MaxAge is how old evidence may be (default 5m).
	MaxAge time.Duration
	// ReplayWindow is how long an accepted RA-TLS key is remembered
	// (default MaxAge + 5m; never less than MaxAge + skew).
	ReplayWindow time.Duration
	// AllowUntimestamped accepts evidence without a timestamp (Gramine
	// clients); such certificates are still refused when replayed within
	// ReplayWindow, but not afterwards.
	AllowUntimestamped bool
	// TrustedSimKeys make simulated (INSECURE) evidence acceptable.
	TrustedSimKeys []*ecdsa.PublicKey
	Secrets        map[string][]byte
	Rules          []Rule
}

// Rule grants one secret to applications that match it.
type Rule struct {
	Name         string
	Platforms    []string
	Measurements [][32]byte
	Signers      [][32]byte
	AllowDebug   bool
	Secret       string
}

type policyFile struct {
	MaxAge             string                `toml:"max_age"`
	ReplayWindow       string                `toml:"replay_window"`
	AllowUntimestamped bool                  `toml:"allow_untimestamped"`
	TrustedSimKeys     []string              `toml:"trusted_sim_keys"`
	Secrets            map[string]secretFile `toml:"secrets"`
	Rules              []ruleFile            `toml:"rule"`
}

type secretFile struct {
	File   string  `toml:"file"`
	Hex    string  `toml:"hex"`
	Base64 string  `toml:"base64"`
	String *string `toml:"string"`
}

type ruleFile struct {
	Name         string   `toml:"name"`
	Platforms    []string `toml:"platforms"`
	Measurements []string `toml:"measurements"`
	Signers      []string `toml:"signers"`
	AllowDebug   bool     `toml:"allow_debug"`
	Secret       string   `toml:"secret"`
}

// ErrPolicy reports an invalid policy file.
var ErrPolicy = errors.New("invalid secret-server policy")

// LoadPolicy reads a TOML policy file; relative secret and key paths are
// relative to the file's directory.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := ParsePolicy(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy parses policy TOML; dir resolves relative paths.
func ParsePolicy(b []byte, dir string) (*Policy, error) {
	var f policyFile
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			return nil, fmt.Errorf("%w: unknown key(s):\n%s", ErrPolicy, sm.String())
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("%w: line %d column %d: %v", ErrPolicy, row, col, de)
		}
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	p := &Policy{MaxAge: 5 * time.Minute, AllowUntimestamped: f.AllowUntimestamped, Secrets: map[string][]byte{}}
	var err error
	if f.MaxAge != "" {
		if p.MaxAge, err = time.ParseDuration(f.MaxAge); err != nil || p.MaxAge <= 0 {
			return nil, fmt.Errorf("%w: max_age %q is not a positive duration like \"5m\"", ErrPolicy, f.MaxAge)
		}
	}
	p.ReplayWindow = p.MaxAge + 5*time.Minute
	if f.ReplayWindow != "" {
		if p.ReplayWindow, err = time.ParseDuration(f.ReplayWindow); err != nil || p.ReplayWindow < p.MaxAge+time.Minute {
			return nil, fmt.Errorf("%w: replay_window %q must be a duration of at least max_age + 1m (%s)", ErrPolicy, f.ReplayWindow, p.MaxAge+time.Minute)
		}
	}
	abs := func(s string) string {
		if filepath.IsAbs(s) {
			return s
		}
		return filepath.Join(dir, s)
	}
	for _, k := range f.TrustedSimKeys {
		pub, err := tee.LoadSimPublicKey(abs(k))
		if err != nil {
			return nil, fmt.Errorf("%w: trusted_sim_keys: %v", ErrPolicy, err)
		}
		p.TrustedSimKeys = append(p.TrustedSimKeys, pub)
	}
	for name, s := range f.Secrets {
		v, err := s.value(abs)
		if err != nil {
			return nil, fmt.Errorf("%w: secrets.%s: %v", ErrPolicy, name, err)
		}
		p.Secrets[name] = v
	}
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("%w: no [[rule]]: the server would refuse every client", ErrPolicy)
	}
	for i, rf := range f.Rules {
		r := Rule{Name: rf.Name, AllowDebug: rf.AllowDebug, Secret: rf.Secret}
		if r.Name == "" {
			r.Name = fmt.Sprintf("rule[%d]", i)
		}
		where := fmt.Sprintf("rule %q", r.Name)
		for _, pl := range rf.Platforms {
			if !slices.Contains([]string{tee.PlatformTDX, tee.PlatformSNP, tee.PlatformSGX, tee.PlatformSim}, pl) {
				return nil, fmt.Errorf("%w: %s: unknown platform %q (tdx, snp, sgx or sim)", ErrPolicy, where, pl)
			}
		}
		r.Platforms = rf.Platforms
		if r.Measurements, err = parseIDs(rf.Measurements); err != nil {
			return nil, fmt.Errorf("%w: %s: measurements: %v", ErrPolicy, where, err)
		}
		if r.Signers, err = parseIDs(rf.Signers); err != nil {
			return nil, fmt.Errorf("%w: %s: signers: %v", ErrPolicy, where, err)
		}
		if _, ok := p.Secrets[r.Secret]; !ok {
			return nil, fmt.Errorf("%w: %s: secret %q is not defined under [secrets]", ErrPolicy, where, r.Secret)
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

func parseIDs(ss []string) ([][32]byte, error) {
	var out [][32]byte
	for _, s := range ss {
		b, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%q is not 64 hex digits", s)
		}
		out = append(out, [32]byte(b))
	}
	return out, nil
}

func (s secretFile) value(abs func(string) string) ([]byte, error) {
	n := 0
	for _, set := range []bool{s.File != "", s.Hex != "", s.Base64 != "", s.String != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("set exactly one of file, hex, base64 or string")
	}
	var v []byte
	var err error
	switch {
	case s.File != "":
		v, err = os.ReadFile(abs(s.File))
	case s.Hex != "":
		v, err = hex.DecodeString(s.Hex)
	case s.Base64 != "":
		v, err = base64.StdEncoding.DecodeString(s.Base64)
	default:
		// Gramine clients in string mode require the terminating NUL.
		v = append([]byte(*s.String), 0)
	}
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, errors.New("secret is empty")
	}
	return v, nil
}

// Match returns the first rule that accepts res, or an error listing why
// each rule refused it.
func (p *Policy) Match(res *ratls.Result, now time.Time) (*Rule, error) {
	var reasons []string
	for i := range p.Rules {
		r := &p.Rules[i]
		rp := ratls.Policy{Platforms: r.Platforms, Measurements: r.Measurements, Signers: r.Signers, AllowDebug: r.AllowDebug}
		if err := rp.Check(res, now); err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", r.Name, unwrapCheck(err)))
			continue
		}
		return r, nil
	}
	return nil, &ratls.CheckError{Check: firstCheck(p, res, now), Err: fmt.Errorf("no rule accepts this application: %s", strings.Join(reasons, "; "))}
}

func unwrapCheck(err error) error {
	var ce *ratls.CheckError
	if errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", ce.Check, ce.Err)
	}
	return err
}

// firstCheck names the check that failed in the first rule, for metrics
// and the audit line's check field.
func firstCheck(p *Policy, res *ratls.Result, now time.Time) string {
	r := p.Rules[0]
	rp := ratls.Policy{Platforms: r.Platforms, Measurements: r.Measurements, Signers: r.Signers, AllowDebug: r.AllowDebug}
	var ce *ratls.CheckError
	if errors.As(rp.Check(res, now), &ce) {
		return ce.Check
	}
	return "policy"
}
