package pffs

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The benchmarks' client runs in a separate process, as the application
// does under nacre run (the FUSE server lives in nacre's parent, the
// application is another process). An in-process client would share the
// Go scheduler with the server: with GOMAXPROCS=2 the client's blocked
// write(2) holds one of the two Ps until sysmon retakes it, and the
// server's goroutines queue behind it, so the numbers measured the
// benchmark's own scheduling rather than the filesystem (and the package
// doc's first trap forbids using the mount from the serving process).
//
// The client is this test binary re-executed with PFFS_HELPER=bench. It
// reads one command per line from stdin ("<op> <path> <count>"), runs it
// and answers "ok" or "err <message>" on stdout, so the benchmark times
// only the work, not the process start.

type benchClient struct {
	cmd *exec.Cmd // nil: PFFS_BENCH_INPROCESS=1, the client runs in-process
	in  *bufio.Writer
	out *bufio.Scanner
	rng *rand.Rand
	f   *os.File // in the client: the file of the random workloads
}

// startBenchClient starts the client process (or, with
// PFFS_BENCH_INPROCESS=1, an in-process client, to compare).
func startBenchClient(b *testing.B) *benchClient {
	b.Helper()
	if os.Getenv("PFFS_BENCH_INPROCESS") == "1" {
		return &benchClient{rng: rand.New(rand.NewPCG(1, 2))}
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), "PFFS_HELPER=bench")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start benchmark client: %v", err)
	}
	c := &benchClient{cmd: cmd, in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout)}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	return c
}

// do runs op on path count times in the client and waits for it.
func (c *benchClient) do(b *testing.B, op, path string, count int) {
	if c.cmd == nil {
		if err := c.op(op, path, count); err != nil {
			b.Fatalf("benchmark client: %s %s: %v", op, path, err)
		}
		return
	}
	fmt.Fprintf(c.in, "%s %s %d\n", op, path, count)
	if err := c.in.Flush(); err != nil {
		b.Fatalf("benchmark client: %v", err)
	}
	if !c.out.Scan() {
		b.Fatalf("benchmark client died (%v)", c.out.Err())
	}
	if r := c.out.Text(); r != "ok" {
		b.Fatalf("benchmark client: %s %s: %s", op, path, r)
	}
}

// helperBench is the client process's main loop.
func helperBench() int {
	in := bufio.NewScanner(os.Stdin)
	c := &benchClient{rng: rand.New(rand.NewPCG(1, 2))}
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) != 3 {
			fmt.Println("err bad command")
			continue
		}
		n, _ := strconv.Atoi(f[2])
		if err := c.op(f[0], f[1], n); err != nil {
			fmt.Println("err", err)
			continue
		}
		fmt.Println("ok")
	}
	return 0
}

// op runs one command: seqwrite and seqread n passes over the file at p;
// open opens p for the random workloads (untimed), randread and randwrite
// do n 4 KiB operations on it, close fsyncs and closes it (untimed).
func (c *benchClient) op(op, p string, n int) error {
	switch op {
	case "seqwrite":
		for range n {
			if err := seqWrite(p, benchFile); err != nil {
				return err
			}
		}
		return nil
	case "seqread":
		for range n {
			if err := seqRead(p); err != nil {
				return err
			}
		}
		return nil
	case "open":
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		c.f = f
		return err
	case "randread":
		return randRead(c.f, n, c.rng)
	case "randwrite":
		return randWrite(c.f, n, c.rng)
	case "close":
		err := c.f.Sync()
		if cerr := c.f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return fmt.Errorf("unknown op %q", op)
}

// seqWrite writes a size-byte file at p in 1 MiB calls and fsyncs it. With
// PFFS_BENCH_TIMES set it prints how long the O_TRUNC open, the write(2)
// loop (the application filling FUSE's page cache, throttled by the bdi's
// dirty limit while the server writes back), the fsync (the rest of the
// writeback) and the close took.
func seqWrite(p string, size int) error {
	t0 := time.Now()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	t1 := time.Now()
	for off := 0; off < size; off += len(buf) {
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	t2 := time.Now()
	if err := f.Sync(); err != nil {
		return err
	}
	t3 := time.Now()
	err = f.Close()
	if os.Getenv("PFFS_BENCH_TIMES") != "" {
		fmt.Fprintf(os.Stderr, "seqwrite: open %v write %v fsync %v close %v\n", t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), time.Since(t3))
	}
	return err
}

// seqRead reads the file at p in 1 MiB calls, dropping its page cache
// first so that the pass reaches the filesystem.
func seqRead(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		if n == 0 || err != nil {
			return nil
		}
	}
}

// randRead reads n random uncached 4 KiB blocks of the benchFile f.
func randRead(f *os.File, n int, rng *rand.Rand) error {
	buf := make([]byte, 4096)
	for range n {
		off := int64(rng.IntN(benchFile/4096)) * 4096
		_ = unix.Fadvise(int(f.Fd()), off, 4096, unix.FADV_DONTNEED)
		if _, err := f.ReadAt(buf, off); err != nil {
			return err
		}
	}
	return nil
}

// randWrite writes n random 4 KiB blocks of the benchFile f, with an fsync
// every 256 writes.
func randWrite(f *os.File, n int, rng *rand.Rand) error {
	buf := make([]byte, 4096)
	for i := range n {
		off := int64(rng.IntN(benchFile/4096)) * 4096
		if _, err := f.WriteAt(buf, off); err != nil {
			return err
		}
		if i%256 == 255 {
			if err := f.Sync(); err != nil {
				return err
			}
		}
	}
	return nil
}
