package shield

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"github.com/nacre-tee/nacre/internal/fileserver"
	"github.com/nacre-tee/nacre/internal/measure"
	"github.com/nacre-tee/nacre/internal/secretprov"
	"github.com/nacre-tee/nacre/internal/tee"
)

// Identity returns the measurement and signer the TEE evidence binds. An
// unsigned manifest is measured over its canonical form and has no signer.
func (l *Loaded) Identity() (measurement, signer [32]byte, err error) {
	if l.Signed != nil {
		return l.Signed.Measurement, l.Signed.Signer, nil
	}
	body, err := l.Manifest.Marshal()
	if err != nil {
		return measurement, signer, err
	}
	return measure.Measure(body), signer, nil
}

// platform opens the TEE platform chosen with --platform and, on TDX, extends
// the application RTMR with the manifest's identity.
func (l *Loaded) platform(name string, log *slog.Logger) (tee.Platform, error) {
	meas, signer, err := l.Identity()
	if err != nil {
		return nil, err
	}
	p, err := tee.New(name, tee.Options{Logger: log, Sim: tee.SimOptions{
		Measurement: meas, Signer: signer, Debug: l.Manifest.SGX.Debug, Logger: log,
	}})
	if err != nil {
		return nil, fmt.Errorf("--platform %s: %w", name, err)
	}
	if p.Name() == tee.PlatformTDX {
		err := tee.ExtendRTMR("", tee.AppRTMR, tee.RTMREvent(meas, signer))
		switch {
		case errors.Is(err, tee.ErrNoRTMR):
			log.Debug("TDX RTMR not extended; the identity is bound through report data only", "err", err)
		case err != nil:
			return nil, fmt.Errorf("extending TDX RTMR %d: %w", tee.AppRTMR, err)
		}
	}
	return p, nil
}

// provision runs Gramine's secret-provisioning client before the application
// starts, when the manifest's loader.env asks for it
// (SECRET_PROVISION_CONSTRUCTOR). It returns the application's environment
// (with SECRET_PROVISION_SECRET_STRING in string mode) and, in SET_KEY mode,
// the key to install under its name.
func (l *Loaded) provision(ctx context.Context, env []string, p tee.Platform, fc *fileserver.Config, log *slog.Logger) ([]string, *secretprov.Secret, error) {
	if !wantsProvisioning(env) {
		return env, nil, nil
	}
	// The CA chain is a file of the application's view (Gramine reads it
	// inside the enclave): read it through the view and verify it as a
	// trusted file, since the host's disk is not trusted.
	caView, ok := lookupEnv(env, secretprov.EnvCAChainPath)
	if !ok || caView == "" {
		return nil, nil, fmt.Errorf("secret provisioning: %s is required in loader.env (a trusted PEM file with the server's CA chain)", secretprov.EnvCAChainPath)
	}
	pem, err := readTrusted(fc, caView)
	if err != nil {
		return nil, nil, fmt.Errorf("secret provisioning: %s=%s: %w", secretprov.EnvCAChainPath, caView, err)
	}
	tmp, err := os.CreateTemp("", "nacre-ca-*.pem")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pem); err != nil {
		tmp.Close()
		return nil, nil, err
	}
	tmp.Close()
	c, _, err := secretprov.FromEnv(append(withoutCA(env), secretprov.EnvCAChainPath+"="+tmp.Name()))
	if err != nil {
		return nil, nil, err
	}
	c.Logger = log
	if p.Name() == tee.PlatformNone {
		return nil, nil, fmt.Errorf("secret provisioning needs attestation evidence, but --platform is none: run in a TEE, or use --platform sim for development")
	}
	meas, signer, err := l.Identity()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := c.Provision(ctx, p, meas, signer)
	if err != nil {
		return nil, nil, fmt.Errorf("secret provisioning failed, the application was not started: %w", err)
	}
	log.Info("secret provisioned", "server", s.Server, "key", s.KeyName, "took", time.Since(start).Round(time.Millisecond))
	out := secretprov.CleanEnv(env)
	out = append(out, s.Env()...)
	return out, s, nil
}

// wantsProvisioning reports whether provision would run secret provisioning.
func wantsProvisioning(env []string) bool {
	_, want, _ := secretprov.FromEnv(withoutCA(env))
	return want
}

func withoutCA(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, secretprov.EnvCAChainPath+"=") {
			out = append(out, e)
		}
	}
	return out
}

func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// readTrusted reads a file of the application's view that must be a trusted
// file, verifying every chunk as the file server would.
func readTrusted(fc *fileserver.Config, viewPath string) ([]byte, error) {
	host, ok := hostOf(fc, viewPath)
	if !ok {
		return nil, fmt.Errorf("%s is not inside any chroot mount of the manifest", viewPath)
	}
	if fc.Trusted == nil || !fc.Trusted.Contains(host) {
		return nil, fmt.Errorf("%s (host %s) is not a trusted file: list it in sgx.trusted_files", viewPath, host)
	}
	f, err := os.Open(host)
	if err != nil {
		return nil, err
	}
	tf, err := fc.Trusted.Open(host, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	defer tf.Close()
	return io.ReadAll(io.NewSectionReader(tf, 0, tf.Size()))
}

// hostOf maps a view path to its host path through the chroot mounts
// (longest prefix wins, as in the file server).
func hostOf(fc *fileserver.Config, viewPath string) (string, bool) {
	if !path.IsAbs(viewPath) {
		viewPath = "/" + viewPath
	}
	viewPath = path.Clean(viewPath)
	best := -1
	for i, m := range fc.Mounts {
		if m.Path == "/" || viewPath == m.Path || strings.HasPrefix(viewPath, m.Path+"/") {
			if best < 0 || len(m.Path) > len(fc.Mounts[best].Path) {
				best = i
			}
		}
	}
	if best < 0 {
		return "", false
	}
	m := fc.Mounts[best]
	rel := strings.TrimPrefix(strings.TrimPrefix(viewPath, m.Path), "/")
	return path.Join(m.Host, rel), true
}
