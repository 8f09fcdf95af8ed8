package tee

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultTSMRoot is where the kernel (v6.7+) exposes configfs-tsm reports.
const DefaultTSMRoot = "/sys/kernel/config/tsm/report"

// Errors of the configfs-tsm backend that callers may branch on.
var (
	ErrEmptyOutblob   = errors.New("configfs-tsm returned an empty outblob")
	ErrTSMUnavailable = errors.New("configfs-tsm report interface not available")
	ErrTSMRace        = errors.New("configfs-tsm inputs changed by a concurrent writer")
)

// TSMFS is the small part of the file system the configfs-tsm client uses;
// OSFS is the real one, teetest.FakeTSM emulates the kernel for tests.
type TSMFS interface {
	Mkdir(path string) error
	Rmdir(path string) error
	ReadFile(path string) ([]byte, error)
	WriteFile(path string, data []byte) error
}

// OSFS is TSMFS on the real file system.
type OSFS struct{}

func (OSFS) Mkdir(p string) error              { return os.Mkdir(p, 0o700) }
func (OSFS) Rmdir(p string) error              { return os.Remove(p) }
func (OSFS) ReadFile(p string) ([]byte, error) { return os.ReadFile(p) }
func (OSFS) WriteFile(p string, data []byte) error {
	// configfs attributes take the whole value in one write(2).
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	n, err := f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != len(data) {
		err = fmt.Errorf("short write to %s: %d of %d bytes", p, n, len(data))
	}
	return err
}

// TSM is a configfs-tsm report client. One directory entry is created per
// request and removed afterwards, so concurrent users never share inputs;
// the generation counter is still checked to detect a writer that found
// our entry anyway.
type TSM struct {
	Root    string // default DefaultTSMRoot
	FS      TSMFS  // default OSFS
	Retries int    // attempts on EBUSY/EAGAIN or a generation mismatch; default 5
	// Backoff is the first retry delay, doubled after each retry; default 50ms.
	Backoff time.Duration
	Sleep   func(context.Context, time.Duration) error // injectable for tests
	Logger  *slog.Logger
}

// TSMReport is one configfs-tsm result.
type TSMReport struct {
	Provider string
	Outblob  []byte
	Auxblob  []byte
}

func (t *TSM) root() string {
	if t.Root == "" {
		return DefaultTSMRoot
	}
	return t.Root
}

func (t *TSM) fs() TSMFS {
	if t.FS == nil {
		return OSFS{}
	}
	return t.FS
}

func (t *TSM) log() *slog.Logger {
	if t.Logger == nil {
		return slog.Default()
	}
	return t.Logger
}

func (t *TSM) sleep(ctx context.Context, d time.Duration) error {
	if t.Sleep != nil {
		return t.Sleep(ctx, d)
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// Report writes inblob to a fresh entry and returns outblob, auxblob and the
// provider, retrying on EBUSY/EAGAIN and on concurrent modification.
func (t *TSM) Report(ctx context.Context, inblob []byte) (*TSMReport, error) {
	retries := t.Retries
	if retries <= 0 {
		retries = 5
	}
	delay := t.Backoff
	if delay <= 0 {
		delay = 50 * time.Millisecond
	}
	var lastErr error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			t.log().Debug("configfs-tsm: retrying", "attempt", attempt, "err", lastErr)
			if err := t.sleep(ctx, delay); err != nil {
				return nil, fmt.Errorf("configfs-tsm report: %w (last error: %v)", err, lastErr)
			}
			delay *= 2
		}
		r, err := t.reportOnce(inblob)
		if err == nil {
			return r, nil
		}
		if !retryable(err) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("configfs-tsm report: giving up after %d attempts: %w", retries+1, lastErr)
}

func retryable(err error) bool {
	return errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EAGAIN) || errors.Is(err, ErrTSMRace)
}

func (t *TSM) reportOnce(inblob []byte) (_ *TSMReport, err error) {
	fsys := t.fs()
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	dir := filepath.Join(t.root(), "nacre-"+hex.EncodeToString(rnd[:]))
	if err := fsys.Mkdir(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: mkdir %s: %v (needs Linux 6.7+ inside a TDX or SNP guest, configfs mounted, and root)", ErrTSMUnavailable, dir, err)
		}
		return nil, fmt.Errorf("configfs-tsm: mkdir %s: %w", dir, err)
	}
	defer func() {
		if rerr := fsys.Rmdir(dir); rerr != nil && err == nil {
			t.log().Warn("configfs-tsm: could not remove report entry", "dir", dir, "err", rerr)
		}
	}()
	provider, err := fsys.ReadFile(filepath.Join(dir, "provider"))
	if err != nil {
		return nil, fmt.Errorf("configfs-tsm: read provider: %w", err)
	}
	if err := fsys.WriteFile(filepath.Join(dir, "inblob"), inblob); err != nil {
		return nil, fmt.Errorf("configfs-tsm: write inblob (%d bytes): %w", len(inblob), err)
	}
	gen1, err := readGeneration(fsys, dir)
	if err != nil {
		return nil, err
	}
	out, err := fsys.ReadFile(filepath.Join(dir, "outblob"))
	if err != nil {
		return nil, fmt.Errorf("configfs-tsm: read outblob: %w", err)
	}
	aux, err := fsys.ReadFile(filepath.Join(dir, "auxblob"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("configfs-tsm: read auxblob: %w", err)
	}
	gen2, err := readGeneration(fsys, dir)
	if err != nil {
		return nil, err
	}
	if gen1 != gen2 {
		return nil, fmt.Errorf("%w: %s generation %d became %d while reading", ErrTSMRace, dir, gen1, gen2)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w (provider %s): on TDX the host's quote generation service is missing or too old (needs DCAP/QGS 1.21+)", ErrEmptyOutblob, strings.TrimSpace(string(provider)))
	}
	return &TSMReport{Provider: strings.TrimSpace(string(provider)), Outblob: out, Auxblob: aux}, nil
}

func readGeneration(fsys TSMFS, dir string) (uint64, error) {
	b, err := fsys.ReadFile(filepath.Join(dir, "generation"))
	if err != nil {
		return 0, fmt.Errorf("configfs-tsm: read generation: %w", err)
	}
	g, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("configfs-tsm: %s/generation: %w", dir, err)
	}
	return g, nil
}

// Provider reports the configfs-tsm provider name (tdx_guest, sev_guest...)
// by creating and removing one entry.
func (t *TSM) Provider() (string, error) {
	fsys := t.fs()
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	dir := filepath.Join(t.root(), "nacre-probe-"+hex.EncodeToString(rnd[:]))
	if err := fsys.Mkdir(dir); err != nil {
		return "", fmt.Errorf("%w: mkdir %s: %v", ErrTSMUnavailable, dir, err)
	}
	defer fsys.Rmdir(dir)
	b, err := fsys.ReadFile(filepath.Join(dir, "provider"))
	if err != nil {
		return "", fmt.Errorf("configfs-tsm: read provider: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// platformForProvider maps configfs-tsm provider names to nacre platforms.
func platformForProvider(p string) (string, bool) {
	switch p {
	case "tdx_guest":
		return PlatformTDX, true
	case "sev_guest":
		return PlatformSNP, true
	}
	return "", false
}

// TSMPlatform is the TDX or SNP backend over configfs-tsm.
type TSMPlatform struct {
	TSM  *TSM
	name string
}

// NewTSMPlatform returns the backend for platform name (tdx or snp); each
// request checks that the kernel's provider really is that platform.
func NewTSMPlatform(name string, t *TSM) (*TSMPlatform, error) {
	if name != PlatformTDX && name != PlatformSNP {
		return nil, fmt.Errorf("configfs-tsm platform must be tdx or snp, not %q", name)
	}
	if t == nil {
		t = &TSM{}
	}
	return &TSMPlatform{TSM: t, name: name}, nil
}

func (p *TSMPlatform) Name() string { return p.name }

func (p *TSMPlatform) Evidence(ctx context.Context, rd [64]byte) (*Evidence, error) {
	r, err := p.TSM.Report(ctx, rd[:])
	if err != nil {
		return nil, fmt.Errorf("%s evidence: %w", p.name, err)
	}
	got, ok := platformForProvider(r.Provider)
	if !ok || got != p.name {
		return nil, fmt.Errorf("%s evidence: configfs-tsm provider is %q, which is not %s", p.name, r.Provider, p.name)
	}
	ev := &Evidence{Platform: p.name, Blob: r.Outblob, ReportData: rd}
	if p.name == PlatformSNP {
		ev.Aux = r.Auxblob
	}
	return ev, nil
}
