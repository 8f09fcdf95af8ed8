package pffs

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/keys"
)

// The crash tests re-run the test binary as a helper process (PFFS_HELPER)
// and SIGKILL it at a random moment.
func TestMain(m *testing.M) {
	switch os.Getenv("PFFS_HELPER") {
	case "writer":
		os.Exit(helperWriter(os.Getenv("PFFS_DIR")))
	case "server":
		os.Exit(helperServer())
	case "bench":
		os.Exit(helperBench())
	}
	os.Exit(m.Run())
}

const crashSize = 300_000

func genByte(g int) byte { return byte(g%251 + 1) }

// writeGen brings the three files of dir to generation g, each durably:
// "inplace" rewritten in place, "replace" atomically replaced through a
// temporary file and rename, "trunc" truncated (O_TRUNC) and rewritten,
// "shrink" the same with a size that alternates between long and short.
func writeGen(dir string, g int) error {
	buf := bytes.Repeat([]byte{genByte(g)}, crashSize)
	f, err := os.OpenFile(filepath.Join(dir, "inplace"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	for off := 0; off < crashSize; off += 40_000 {
		if _, err := f.WriteAt(buf[off:min(off+40_000, crashSize)], int64(off)); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	f.Close()
	tmp := filepath.Join(dir, fmt.Sprintf("tmp.%d", g))
	if err := writeSync(tmp, buf, os.O_CREATE|os.O_EXCL); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "replace")); err != nil {
		return err
	}
	if err := writeSync(filepath.Join(dir, "trunc"), buf, os.O_CREATE|os.O_TRUNC); err != nil {
		return err
	}
	// Every other generation is shorter: the O_TRUNC rewrite overwrites
	// the host tail kept from the longer one, and close cuts the rest.
	return writeSync(filepath.Join(dir, "shrink"), buf[:crashSize/(1+2*(g%2))], os.O_CREATE|os.O_TRUNC)
}

func writeSync(p string, buf []byte, flags int) error {
	f, err := os.OpenFile(p, os.O_WRONLY|flags, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	for off := 0; off < len(buf); off += 64 << 10 {
		if _, err := f.Write(buf[off:min(off+64<<10, len(buf))]); err != nil {
			return err
		}
	}
	return f.Sync()
}

// helperWriter writes generations from PFFS_GEN on and prints each one once
// it is durable, until killed.
func helperWriter(dir string) int {
	g, _ := strconv.Atoi(os.Getenv("PFFS_GEN"))
	for ; ; g++ {
		if err := writeGen(dir, g); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			return 1
		}
		fmt.Printf("%d\n", g)
	}
}

// helperServer serves the mount itself (nacre's role) and writes through it,
// so SIGKILL kills the server in the middle of flushes.
func helperServer() int {
	ks := keys.New()
	ks.Set("default", key1)
	fsys, err := New(Config{HostDir: os.Getenv("PFFS_HOST"), Keys: ks, CacheNodes: 16})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := mountDev(fsys, os.Getenv("PFFS_DIR")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return helperWriter(os.Getenv("PFFS_DIR"))
}

// checkCrashed checks the files after a crash during generation durable+1:
// every file opens, and holds generation durable or durable+1 — byte by
// byte for files rewritten in place, whole for the atomically replaced one.
func checkCrashed(t *testing.T, dir string, durable int) {
	t.Helper()
	ok := func(b byte) bool { return b == genByte(durable) || b == genByte(durable+1) }
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("after crash (durable gen %d): %s: %v", durable, e.Name(), err)
		}
		switch e.Name() {
		case "inplace", "replace":
			if len(data) != crashSize {
				t.Fatalf("%s: size %d, want %d", e.Name(), len(data), crashSize)
			}
		case "trunc", "shrink":
			if len(data) > crashSize {
				t.Fatalf("%s: size %d", e.Name(), len(data))
			}
		}
		if strings.HasPrefix(e.Name(), "tmp.") {
			continue // the application's own half-written temporary file
		}
		// Every byte is old or new (a write(2) interrupted by the crash may
		// be partly applied, as on any filesystem), never anything else.
		for off, b := range data {
			if !ok(b) {
				t.Fatalf("%s: byte %d is %#x, want generation %d or %d", e.Name(), off, b, durable, durable+1)
			}
		}
		if e.Name() == "replace" && bytes.Count(data, data[:1]) != len(data) {
			t.Fatalf("replace: mixes generations")
		}
		if e.Name() == "inplace" && data[0] != genByte(durable) && data[0] != genByte(durable+1) {
			t.Fatalf("inplace: generation %d", data[0])
		}
	}
}

// runKilled starts the helper and SIGKILLs it after a random delay; it
// returns the last generation the helper reported durable (or gen-1).
func runKilled(t *testing.T, env []string, gen int, rng *rand.Rand, mnt string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, fmt.Sprintf("PFFS_GEN=%d", gen))...)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var last atomic.Int64
	last.Store(int64(gen - 1))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(out)
		for s.Scan() {
			if g, err := strconv.Atoi(s.Text()); err == nil {
				last.Store(int64(g))
			}
		}
	}()
	time.Sleep(time.Duration(20+rng.IntN(400)) * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	if mnt != "" {
		// The helper is a client of its own mount: exiting, it closes
		// files there and waits for a server that is gone. Abort the
		// connection (what the kernel does when nacre dies while the
		// application keeps running).
		time.Sleep(50 * time.Millisecond)
		if err := abortConn(mnt); err != nil {
			t.Logf("abort %s: %v", mnt, err)
		}
	}
	<-done
	_ = cmd.Wait()
	return int(last.Load())
}

// TestCrashKillApp kills the application (a writer process) at random
// moments while nacre keeps serving.
func TestCrashKillApp(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc", CacheNodes: 16})
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	gen := 0
	for i := range 8 {
		if err := writeGen(m.dir, gen); err != nil {
			t.Fatal(err)
		}
		durable := runKilled(t, []string{"PFFS_HELPER=writer", "PFFS_DIR=" + m.dir}, gen+1, rng, "")
		t.Logf("round %d: killed after generation %d", i, durable)
		checkCrashed(t, m.dir, durable)
		gen = durable + 2
	}
	m.unmount(t)
	noLeftovers(t, m.host)
}

// TestCrashKillServer kills nacre itself (the FUSE server, here also the
// writer) at random moments, then mounts the host directory afresh.
func TestCrashKillServer(t *testing.T) {
	skipUnlessRoot(t)
	needFusectl(t)
	host := t.TempDir()
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	gen := 0
	{
		m := mountFS(t, Config{HostDir: host, Path: "/enc"})
		if err := writeGen(m.dir, gen); err != nil {
			t.Fatal(err)
		}
		m.unmount(t)
	}
	for i := range 10 {
		mnt := t.TempDir()
		durable := runKilled(t, []string{"PFFS_HELPER=server", "PFFS_DIR=" + mnt, "PFFS_HOST=" + host}, gen+1, rng, mnt)
		// The server died, so its connection is gone; drop the mount.
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", mnt, err)
		}
		t.Logf("round %d: killed after generation %d", i, durable)
		m := mountFS(t, Config{HostDir: host, Path: "/enc"})
		checkCrashed(t, m.dir, durable)
		// Start the next round from a clean, known generation.
		gen = durable + 2
		if err := writeGen(m.dir, gen); err != nil {
			t.Fatal(err)
		}
		m.unmount(t)
	}
}
