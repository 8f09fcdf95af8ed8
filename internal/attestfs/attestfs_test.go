package attestfs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/tee"
)

// memKeys is a KeyStore for tests.
type memKeys struct {
	mu    sync.Mutex
	names []string
	vals  map[string][16]byte
}

func newMemKeys(names ...string) *memKeys {
	return &memKeys{names: names, vals: map[string][16]byte{}}
}

func (m *memKeys) Set(name string, k [16]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.names, name) {
		m.names = append(m.names, name)
	}
	m.vals[name] = k
}

func (m *memKeys) Get(name string) ([16]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.vals[name]
	return k, ok
}

func (m *memKeys) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.names)
}

// mountFS mounts a new FS the way the sandbox does (mount(2) with fd=N on an
// open /dev/fuse, then Serve), and unmounts it at cleanup.
func mountFS(t *testing.T, cfg Config) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting FUSE needs root")
	}
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no /dev/fuse: %v", err)
	}
	defer dev.Close()
	dir := t.TempDir()
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions", dev.Fd())
	if err := unix.Mount("nacre-attestation", dir, "fuse.nacre-attestation", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		t.Skipf("cannot mount FUSE here: %v", err)
	}
	if cfg.Log == nil {
		cfg.Log = quietLog
	}
	a, err := New(cfg)
	if err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		t.Fatal(err)
	}
	srv, err := a.Serve(dev)
	if err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		t.Fatal(err)
	}
	go srv.Serve()
	// Tell the kernel that this server does not support POLL before this
	// process opens any file of the mount; see "Traps" in the package doc.
	fd, err := syscall.Open(filepath.Join(dir, ".go-fuse-epoll-hack"), syscall.O_RDONLY, 0)
	if err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		t.Fatalf("poll hack: %v", err)
	}
	unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
	syscall.Close(fd)
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
		srv.Wait()
	})
	return dir
}

func simConfig(t *testing.T) (Config, *tee.Sim) {
	sim := newSim(t)
	return Config{Platform: sim, Measurement: testMeas, Signer: testSigner, Now: func() time.Time { return testTime }}, sim
}

func writeOnce(t *testing.T, path string, b []byte) error {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := f.Write(b)
	if err == nil && n != len(b) {
		t.Fatalf("short write %d/%d to %s", n, len(b), path)
	}
	return err
}

func TestFiles(t *testing.T) {
	cfg, _ := simConfig(t)
	cfg.UID, cfg.GID = 1234, 5678
	dir := mountFS(t, cfg)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"attestation_type", "keys", "quote", "user_report_data"}; !slices.Equal(names, want) {
		t.Fatalf("entries %v, want %v", names, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "attestation_type"))
	if err != nil || string(b) != "sim" {
		t.Fatalf("attestation_type %q, %v", b, err)
	}
	for name, mode := range map[string]os.FileMode{
		"attestation_type": 0o444, "user_report_data": 0o666, "quote": 0o444, "keys": os.ModeDir | 0o555,
	} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode() != mode || sys.Uid != 1234 || sys.Gid != 5678 {
			t.Errorf("%s: mode %v uid %d gid %d", name, st.Mode(), sys.Uid, sys.Gid)
		}
	}
	// Read-only and fixed: no writes, no new files (even for root).
	if err := writeOnce(t, filepath.Join(dir, "attestation_type"), []byte("tdx")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("write attestation_type: %v", err)
	}
	if err := writeOnce(t, filepath.Join(dir, "quote"), []byte("x")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("write quote: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report"), nil, 0o644); !errors.Is(err, syscall.EACCES) {
		t.Errorf("create report: %v", err)
	}
	for _, sgxOnly := range []string{"report", "target_info", "my_target_info"} {
		if _, err := os.Stat(filepath.Join(dir, sgxOnly)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("SGX-only %s: %v", sgxOnly, err)
		}
	}
}

func TestUserReportData(t *testing.T) {
	cfg, _ := simConfig(t)
	dir := mountFS(t, cfg)
	p := filepath.Join(dir, "user_report_data")
	if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, make([]byte, 64)) {
		t.Fatalf("fresh user_report_data %x, %v", b, err)
	}
	// Shorter: zero-padded.
	if err := os.WriteFile(p, []byte("nonce"), 0); err != nil {
		t.Fatal(err)
	}
	want := append([]byte("nonce"), make([]byte, 59)...)
	if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("after short write %q, %v", b, err)
	}
	// Longer: truncated to 64.
	long := bytes.Repeat([]byte{0xab}, 100)
	if err := os.WriteFile(p, long, 0); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, long[:64]) {
		t.Fatalf("after long write %x, %v", b, err)
	}
}

func TestQuote(t *testing.T) {
	cfg, sim := simConfig(t)
	dir := mountFS(t, cfg)
	ud := bytes.Repeat([]byte{0x42}, 64)
	if err := os.WriteFile(filepath.Join(dir, "user_report_data"), ud, 0); err != nil {
		t.Fatal(err)
	}
	q, err := os.ReadFile(filepath.Join(dir, "quote"))
	if err != nil {
		t.Fatal(err)
	}
	c := verifyQuote(t, sim, q)
	if !bytes.Equal(c.UserData[:], ud) || !c.IssuedAt.Equal(testTime) {
		t.Fatalf("claims %+v", c)
	}

	// One open file is one quote: reading it in pieces after changing
	// user_report_data still yields the quote made at open.
	f, err := os.Open(filepath.Join(dir, "quote"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.WriteFile(filepath.Join(dir, "user_report_data"), []byte("later"), 0); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 100)
	for {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if n == 0 || err != nil {
			break
		}
	}
	if c := verifyQuote(t, sim, got); !bytes.Equal(c.UserData[:], ud) {
		t.Fatalf("quote read in pieces binds %q", c.UserData)
	}
}

func TestRawQuote(t *testing.T) {
	cfg, sim := simConfig(t)
	cfg.RawQuote = true
	dir := mountFS(t, cfg)
	ud := [64]byte{0: 'r', 1: 'a', 2: 'w'}
	if err := os.WriteFile(filepath.Join(dir, "user_report_data"), ud[:3], 0); err != nil {
		t.Fatal(err)
	}
	q, err := os.ReadFile(filepath.Join(dir, "quote"))
	if err != nil {
		t.Fatal(err)
	}
	v := &tee.SimVerifier{Trusted: []*ecdsa.PublicKey{sim.PublicKey()}, Logger: quietLog}
	ver, err := v.VerifyEvidence(context.Background(), &tee.Evidence{Platform: tee.PlatformSim, Blob: q})
	if err != nil {
		t.Fatal(err)
	}
	if ver.ReportData != ud {
		t.Fatalf("raw quote report data %x, want the user_report_data itself", ver.ReportData[:8])
	}
}

// failing is a platform whose evidence requests fail.
type failing struct{}

func (failing) Name() string { return tee.PlatformTDX }
func (failing) Evidence(context.Context, [64]byte) (*tee.Evidence, error) {
	return nil, tee.ErrTSMUnavailable
}

func TestQuoteFailure(t *testing.T) {
	dir := mountFS(t, Config{Platform: failing{}})
	if b, err := os.ReadFile(filepath.Join(dir, "attestation_type")); err != nil || string(b) != "tdx" {
		t.Fatalf("attestation_type %q, %v", b, err)
	}
	if _, err := os.ReadFile(filepath.Join(dir, "quote")); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("quote from a failing platform: %v (want EACCES, as Gramine)", err)
	}
}

func TestPlatformNone(t *testing.T) {
	dir := mountFS(t, Config{Platform: tee.None{}, Keys: newMemKeys("default")})
	if b, err := os.ReadFile(filepath.Join(dir, "attestation_type")); err != nil || string(b) != "none" {
		t.Fatalf("attestation_type %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "quote")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("quote without a TEE: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "user_report_data"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := writeOnce(t, filepath.Join(dir, "keys", "default"), make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
}

func TestKeys(t *testing.T) {
	keys := newMemKeys("default", "other", "_sgx_mrenclave")
	keys.vals["other"] = [16]byte{1, 2, 3}
	keys.vals["_sgx_mrenclave"] = [16]byte{0xee}
	cfg, _ := simConfig(t)
	cfg.Keys = keys
	dir := mountFS(t, cfg)
	kd := filepath.Join(dir, "keys")

	ents, err := os.ReadDir(kd)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	if want := []string{"_sgx_mrenclave", "default", "other"}; !slices.Equal(names, want) {
		t.Fatalf("keys/ lists %v, want %v", names, want)
	}
	// Unset key reads empty; set key reads 16 raw bytes.
	if b, err := os.ReadFile(filepath.Join(kd, "default")); err != nil || len(b) != 0 {
		t.Fatalf("unset key reads %x, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(kd, "other")); err != nil || !bytes.Equal(b, []byte{1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("key reads %x, %v", b, err)
	}
	// Write exactly 16 bytes: the store sees it.
	k := []byte("0123456789abcdef")
	if err := writeOnce(t, filepath.Join(kd, "default"), k); err != nil {
		t.Fatal(err)
	}
	if got, ok := keys.Get("default"); !ok || !bytes.Equal(got[:], k) {
		t.Fatalf("store has %x %v", got, ok)
	}
	if b, err := os.ReadFile(filepath.Join(kd, "default")); err != nil || !bytes.Equal(b, k) {
		t.Fatalf("key reads back %q, %v", b, err)
	}
	// Any other length: EACCES, value unchanged.
	for _, n := range []int{1, 15, 17, 32} {
		if err := writeOnce(t, filepath.Join(kd, "default"), make([]byte, n)); !errors.Is(err, syscall.EACCES) {
			t.Errorf("%d-byte key write: %v", n, err)
		}
	}
	if got, _ := keys.Get("default"); !bytes.Equal(got[:], k) {
		t.Fatal("a refused write changed the key")
	}
	// Unknown names: absent and not creatable, as in Gramine.
	if _, err := os.ReadFile(filepath.Join(kd, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unknown key: %v", err)
	}
	if err := os.WriteFile(filepath.Join(kd, "nope"), k, 0o600); !errors.Is(err, syscall.EACCES) {
		t.Errorf("create unknown key: %v", err)
	}
	if _, ok := keys.Get("nope"); ok {
		t.Error("creating an unknown key reached the store")
	}
	// A key named later (an encrypted mount registered it) appears.
	keys.Set("late", [16]byte{9})
	if b, err := os.ReadFile(filepath.Join(kd, "late")); err != nil || b[0] != 9 {
		t.Fatalf("late key %x, %v", b, err)
	}
	// Platform-derived keys are read-only.
	if err := writeOnce(t, filepath.Join(kd, "_sgx_mrenclave"), k); !errors.Is(err, syscall.EACCES) {
		t.Errorf("write reserved key: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(kd, "_sgx_mrenclave")); err != nil || b[0] != 0xee {
		t.Fatalf("reserved key %x, %v", b, err)
	}
}

func TestKeysParseFunc(t *testing.T) {
	keys := newMemKeys("default")
	cfg, _ := simConfig(t)
	cfg.Keys = keys
	cfg.ParseKey = func(name string, b []byte) ([16]byte, error) {
		var k [16]byte
		_, err := hex.Decode(k[:], bytes.TrimSpace(b))
		if err != nil || len(bytes.TrimSpace(b)) != 32 {
			return k, fmt.Errorf("want 32 hex digits: %v", err)
		}
		return k, nil
	}
	dir := mountFS(t, cfg)
	if err := writeOnce(t, filepath.Join(dir, "keys", "default"), []byte(strings.Repeat("0f", 16)+"\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := keys.Get("default"); got != [16]byte(bytes.Repeat([]byte{0x0f}, 16)) {
		t.Fatalf("store has %x", got)
	}
}

// gramineApp is what a Gramine application does: read attestation_type,
// write user_report_data (here from a second thread, which FUSE reports
// with its own thread id), read the quote.
const gramineApp = `
import sys, threading
d, out, data = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
with open(d + "/attestation_type") as f:
    print(f.read(), end="")
def w():
    with open(d + "/user_report_data", "wb") as f:
        f.write(data)
t = threading.Thread(target=w)
t.start()
t.join()
with open(d + "/quote", "rb") as f:
    quote = f.read()
with open(out, "wb") as f:
    f.write(quote)
`

func runApp(t *testing.T, dir string, data []byte) []byte {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	out := filepath.Join(t.TempDir(), "quote")
	cmd := exec.Command(py, "-c", gramineApp, dir, out, hex.EncodeToString(data))
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, b)
	}
	if string(b) != "sim" {
		t.Fatalf("python printed %q", b)
	}
	q, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestGramineAppPerProcess(t *testing.T) {
	cfg, sim := simConfig(t)
	cfg.ProcDir = "/proc"
	dir := mountFS(t, cfg)
	mine := bytes.Repeat([]byte{'m'}, 64)
	if err := os.WriteFile(filepath.Join(dir, "user_report_data"), mine, 0); err != nil {
		t.Fatal(err)
	}
	theirs := []byte("python's nonce")
	c := verifyQuote(t, sim, runApp(t, dir, theirs))
	if want := [64]byte(append(bytes.Clone(theirs), make([]byte, 50)...)); c.UserData != want {
		t.Fatalf("app's quote binds %q", c.UserData)
	}
	// The app's write did not change this process's value.
	if b, err := os.ReadFile(filepath.Join(dir, "user_report_data")); err != nil || !bytes.Equal(b, mine) {
		t.Fatalf("this process now reads %q, %v", b, err)
	}
}

func TestGramineAppInstanceWide(t *testing.T) {
	cfg, sim := simConfig(t)
	dir := mountFS(t, cfg) // no ProcDir: one value for everybody
	theirs := bytes.Repeat([]byte{'p'}, 64)
	c := verifyQuote(t, sim, runApp(t, dir, theirs))
	if !bytes.Equal(c.UserData[:], theirs) {
		t.Fatalf("app's quote binds %q", c.UserData)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "user_report_data")); err != nil || !bytes.Equal(b, theirs) {
		t.Fatalf("instance-wide value %q, %v", b, err)
	}
}

func TestMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting FUSE needs root")
	}
	a, err := New(Config{Log: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := a.Mount(dir)
	if err != nil {
		t.Skipf("cannot mount FUSE here: %v", err)
	}
	defer srv.Unmount()
	if b, err := os.ReadFile(filepath.Join(dir, "attestation_type")); err != nil || string(b) != "none" {
		t.Fatalf("attestation_type %q, %v", b, err)
	}
}

func TestNewRejectsSGX(t *testing.T) {
	if _, err := New(Config{Platform: named(tee.PlatformSGX)}); err == nil {
		t.Fatal("an sgx platform was accepted")
	}
}

type named string

func (n named) Name() string { return string(n) }
func (named) Evidence(context.Context, [64]byte) (*tee.Evidence, error) {
	return nil, errors.New("unused")
}
