package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ttyHelperEnv makes the test binary run a sandbox on its controlling
// terminal (TestTerminalSignals).
const ttyHelperEnv = "NACRE_SANDBOX_TEST_TTY"

func ttyHelperMain(mode string) {
	script := `
import os, signal, time
n = [0]
signal.signal(signal.SIGINT, lambda *a: n.__setitem__(0, n[0] + 1))
print("fg", os.getpgrp() == os.getpid() and os.tcgetpgrp(0) == os.getpgrp(), flush=True)
print("ready", flush=True)
time.sleep(1)
print("ints", n[0], flush=True)`
	if mode == "jobs" {
		// Ctrl-Z reaches the terminal driver asynchronously; the long
		// sleep leaves it time to land before the application ends.
		script = `
import os, time
print("ready", flush=True)
time.sleep(1)
print("done %.6f fg %s" % (time.time(), os.tcgetpgrp(0) == os.getpgrp()), flush=True)`
	}
	cfg := rootConfig(os.Getenv(helperRootEnv), "/usr/bin/python3", "-c", script)
	cfg.Stdin, cfg.Stdout, cfg.Stderr = os.Stdin, os.Stdout, os.Stderr
	code, err := Run(context.Background(), cfg)
	fg, _ := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	fmt.Printf("exit %d %v\nrestored %v\n", code, err, fg == unix.Getpgrp())
	os.Exit(0)
}

// openPTY returns a pseudo-terminal's master and the path of its slave.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return m, "/dev/pts/" + strconv.Itoa(n)
}

// TestTerminalSignals: on a terminal, the application is the foreground
// process group, gets Ctrl-C exactly once, and nacre takes the terminal back.
func TestTerminalSignals(t *testing.T) {
	skipUnlessSandbox(t)
	needTools(t, "python3")
	master, slavePath := openPTY(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), ttyHelperEnv+"=signals", helperRootEnv+"="+makeRoot(t))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	defer cmd.Process.Kill()
	lines := make(chan string, 20)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	var got []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("terminal closed; output so far %q", got)
			}
			got = append(got, l)
			if l == "ready" {
				master.Write([]byte{3}) // Ctrl-C
			}
		case <-timeout:
			t.Fatalf("timed out; output so far %q", got)
		}
		if strings.HasPrefix(got[len(got)-1], "restored") {
			break
		}
	}
	cmd.Wait()
	out := strings.Join(got, "\n")
	for _, want := range []string{"fg True", "ints 1", "exit 0 <nil>", "restored true"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, out)
		}
	}
}

// TestTerminalJobControl: Ctrl-Z stops the application and nacre with it (the
// shell sees its job stopped); SIGCONT to nacre, as the shell's fg sends,
// gives the application the terminal back and resumes it.
func TestTerminalJobControl(t *testing.T) {
	skipUnlessSandbox(t)
	needTools(t, "python3")
	master, slavePath := openPTY(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), ttyHelperEnv+"=jobs", helperRootEnv+"="+makeRoot(t))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	defer cmd.Process.Kill()
	lines := make(chan string, 20)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("terminal closed")
			}
			return l
		case <-time.After(30 * time.Second):
			t.Fatal("timed out")
		}
		return ""
	}
	for !strings.HasPrefix(next(), "ready") {
	}
	master.Write([]byte{0x1a}) // Ctrl-Z
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WUNTRACED, nil); err != nil || !ws.Stopped() {
		t.Fatalf("nacre did not stop: %v, status %#x", err, ws)
	}
	time.Sleep(300 * time.Millisecond)
	cont := float64(time.Now().UnixMicro()) / 1e6
	syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	var got []string
	for {
		l := next()
		got = append(got, l)
		if strings.HasPrefix(l, "restored") {
			break
		}
	}
	cmd.Wait()
	out := strings.Join(got, "\n")
	// The application ran again only after nacre was continued, and in the
	// foreground.
	var done float64
	var fg string
	for _, l := range got {
		if i := strings.Index(l, "done "); i >= 0 {
			fmt.Sscanf(l[i:], "done %f fg %s", &done, &fg)
		}
	}
	if done < cont || fg != "True" {
		t.Errorf("application did not stay stopped until nacre was continued (at %.6f) or lost the terminal:\n%s", cont, out)
	}
	for _, want := range []string{"exit 0 <nil>", "restored true"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, out)
		}
	}
}
