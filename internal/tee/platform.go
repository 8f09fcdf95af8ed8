package tee

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// None is the direct-mode platform: it has no TEE and says so.
type None struct{}

func (None) Name() string { return PlatformNone }
func (None) Evidence(context.Context, [64]byte) (*Evidence, error) {
	return nil, ErrNoTEE
}

// Options configure New and Detect.
type Options struct {
	TSM *TSM // configfs-tsm client; default &TSM{}
	// Sim configures the simulated platform (used when name is "sim").
	Sim    SimOptions
	Logger *slog.Logger
}

// Detect picks the platform for --platform auto: the configfs-tsm provider
// under root (tdx_guest → tdx, sev_guest → snp), otherwise none. An empty
// root means DefaultTSMRoot.
func Detect(root string) (Platform, error) {
	return DetectWith(Options{TSM: &TSM{Root: root}})
}

// DetectWith is Detect with an injectable configfs-tsm client.
func DetectWith(o Options) (Platform, error) {
	t := o.TSM
	if t == nil {
		t = &TSM{}
	}
	prov, err := t.Provider()
	if err != nil {
		if errors.Is(err, ErrTSMUnavailable) {
			return None{}, nil
		}
		return nil, err
	}
	name, ok := platformForProvider(prov)
	if !ok {
		// A provider we do not support (arm_cca_guest...): no usable TEE.
		logger(o.Logger).Warn("configfs-tsm provider not supported; running without TEE", "provider", prov)
		return None{}, nil
	}
	return NewTSMPlatform(name, t)
}

// New returns the platform for a --platform value: auto, tdx, snp, sim, none.
func New(name string, o Options) (Platform, error) {
	switch name {
	case "auto", "":
		return DetectWith(o)
	case PlatformTDX, PlatformSNP:
		return NewTSMPlatform(name, o.TSM)
	case PlatformSim:
		if o.Sim.Logger == nil {
			o.Sim.Logger = o.Logger
		}
		return NewSim(o.Sim)
	case PlatformNone:
		return None{}, nil
	}
	return nil, fmt.Errorf("unknown platform %q: use auto, tdx, snp, sim or none", name)
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
