package pffs

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/keys"
	"github.com/nacre-tee/nacre/internal/pf"
)

var (
	key1 = [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	key2 = [16]byte{0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0}
)

// skipUnlessRoot skips tests that mount FUSE filesystems.
func skipUnlessRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting FUSE needs root")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no /dev/fuse: %v", err)
	}
	f.Close()
}

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mounted is one encrypted mount in a test.
type mounted struct {
	dir  string // mount point
	host string // host directory
	fs   *FS
	log  *logBuf
	srv  *fuse.Server

	stopWatchdog func()
}

// mountFS mounts cfg the way the sandbox does: open /dev/fuse, mount(2)
// with fd=N,rootmode=40000,...,default_permissions, then Serve on the fd.
func mountFS(t testing.TB, cfg Config) *mounted {
	t.Helper()
	skipUnlessRoot(t)
	m := &mounted{dir: t.TempDir(), host: cfg.HostDir, log: &logBuf{}}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(m.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Keys == nil {
		cfg.Keys = keys.New()
		cfg.Keys.Set("default", key1)
	}
	fsys, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.fs = fsys
	srv, err := mountDev(fsys, m.dir)
	if err != nil {
		t.Fatal(err)
	}
	m.srv = srv
	// A server bug must fail the test, not hang it: our own process is a
	// client of the mount, so a stuck request could never be answered.
	var st unix.Stat_t
	if err := unix.Stat(m.dir, &st); err == nil {
		abort := fmt.Sprintf("/sys/fs/fuse/connections/%d/abort", unix.Minor(st.Dev))
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(watchdog):
				if os.WriteFile(abort, []byte("1"), 0) == nil {
					t.Errorf("watchdog: aborted FUSE connection of %s after %v", m.dir, watchdog)
				}
			}
		}()
		m.stopWatchdog = sync.OnceFunc(func() { close(done) })
		t.Cleanup(m.stopWatchdog)
	}
	t.Cleanup(func() { m.unmount(t) })
	return m
}

// watchdog bounds one test's use of a mount.
const watchdog = 30 * time.Second

func mountDev(fsys *FS, dir string) (*fuse.Server, error) {
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions", dev.Fd())
	if err := unix.Mount("nacre-pf", dir, "fuse.nacre-pf", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		dev.Close()
		return nil, fmt.Errorf("mount: %w", err)
	}
	srv, err := fsys.Serve(dev)
	if err != nil {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		return nil, err
	}
	go srv.Serve()
	// Our own process uses the mount: Go registers every opened file with
	// its epoll, and the runtime's epoll_ctl on a FUSE file waits for a
	// POLL answer without giving up its P, which can deadlock the runtime.
	// One poll(2) through the syscall package first makes the kernel learn
	// that this server does not do POLL (go-fuse answers ENOSYS for its
	// magic file); go-fuse's own mount does the same.
	if err := pollHack(dir); err != nil {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		return nil, err
	}
	// As nacre's sandbox should for encrypted mounts (see RaiseReadahead);
	// best effort, as there: a read-only /sys only costs speed.
	_ = RaiseReadahead(dir, ReadaheadKB)
	return srv, nil
}

func pollHack(dir string) error {
	fd, err := unix.Open(filepath.Join(dir, ".go-fuse-epoll-hack"), unix.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("poll hack: %w", err)
	}
	defer unix.Close(fd)
	_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLPRI | unix.POLLOUT}}, 0)
	return nil
}

func (m *mounted) unmount(t testing.TB) {
	if m.srv == nil {
		return
	}
	var err error
	for range 50 {
		if err = unix.Unmount(m.dir, 0); err != unix.EBUSY {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Logf("unmount %s: %v; detaching", m.dir, err)
		_ = unix.Unmount(m.dir, unix.MNT_DETACH)
	}
	m.srv.Wait()
	m.srv = nil
	if m.stopWatchdog != nil {
		m.stopWatchdog()
	}
}

// needFusectl makes sure /sys/fs/fuse/connections is mounted (abortConn
// needs it) or skips the test.
func needFusectl(t testing.TB) {
	t.Helper()
	const dir, magic = "/sys/fs/fuse/connections", 0x65735543
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil && st.Type == magic {
		return
	}
	if err := unix.Mount("fusectl", dir, "fusectl", 0, ""); err != nil {
		t.Skipf("fusectl is not mounted at %s and cannot be: %v", dir, err)
	}
}

// abortConn aborts the FUSE connection mounted at dir, found through
// mountinfo so that nothing touches the (possibly dead) mount itself.
func abortConn(dir string) error {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			_, minor, _ := strings.Cut(f[2], ":")
			return os.WriteFile("/sys/fs/fuse/connections/"+minor+"/abort", []byte("1"), 0)
		}
	}
	return fmt.Errorf("%s is not mounted", dir)
}

func (m *mounted) path(rel string) string { return filepath.Join(m.dir, rel) }

// hostRead decrypts a host file of the mount with pf, as `nacre pf decrypt`
// would, checking the bound path Gramine would use.
func hostRead(t testing.TB, m *mounted, rel string, key [16]byte) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(m.host, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := pf.Open(pf.FileBacking{File: f}, m.fs.boundPath(rel), key, pf.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("pf.Open %s: %v", rel, err)
	}
	defer p.Close()
	buf := make([]byte, p.Size())
	if _, err := p.ReadAt(buf, 0); err != nil && len(buf) > 0 {
		t.Fatalf("pf read %s: %v", rel, err)
	}
	return buf
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*7+3)%251) + seed
	}
	return b
}

func noLeftovers(t testing.TB, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		// A journal may outlive a clean close: the kernel sends RELEASE
		// (where it is removed) asynchronously and may drop it at unmount.
		// Its file was flushed at close(2), node 0's pending-write flag is
		// clear, so the journal is never replayed.
		if err == nil && hiddenName(e.Name()) && !strings.HasSuffix(e.Name(), pf.RecoverySuffix) {
			t.Errorf("leftover host file %s", p)
		}
		return nil
	})
}

func wantContains(t testing.TB, log, want string) {
	t.Helper()
	if !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
}
