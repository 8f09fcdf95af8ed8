package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// ErrSetup is wrapped by every error about a sandbox setup step that failed
// in the child (before the application started).
var ErrSetup = errors.New("sandbox setup failed")

type setupError struct{ msg string }

func (e *setupError) Error() string { return e.msg }
func (e *setupError) Unwrap() error { return ErrSetup }

// Run starts cfg's application in a fresh sandbox and waits for it. exitCode
// is the application's exit status, or 128+N when a signal N killed it; it is
// only meaningful when err is nil. Setup failures wrap ErrSetup and name the
// step and path. Cancelling ctx kills the sandbox. While Run runs, the signals
// SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH that nacre
// receives are forwarded to the application instead of their default action.
// When Stdin is nacre's controlling terminal and nacre is in its foreground,
// the application gets the terminal (own process group) and job control is
// passed through (terminal.go).
func Run(ctx context.Context, cfg Config) (exitCode int, err error) {
	if err := cfg.validate(); err != nil {
		return -1, err
	}
	ch, err := Start(cfg.Stdin, cfg.Stdout, cfg.Stderr)
	if err != nil {
		return -1, err
	}
	return RunChild(ctx, ch, cfg)
}

// Child is a sandbox child started by Start: nacre re-executed in fresh
// namespaces, its ids not mapped yet, blocked until RunChild sends its
// configuration. It runs none of the application's code before that.
type Child struct {
	cmd   *exec.Cmd
	sock  int // our end of the socket (fd 3 in the child)
	taken bool
}

// Start starts a sandbox child before its configuration is known, so that
// its clone, exec and Go start-up overlap with reading and verifying the
// manifest (and the fork copies a small address space). stdin, stdout and
// stderr become the application's standard streams (nil: /dev/null). The
// caller must pass it to RunChild or Abort it.
func Start(stdin, stdout, stderr *os.File) (*Child, error) {
	caps, err := allCaps()
	if err != nil {
		return nil, fmt.Errorf("sandbox: list capabilities: %w", err)
	}
	socks, err := linux.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	childEnd := os.NewFile(uintptr(socks[1]), "sandbox-socket")
	defer childEnd.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"nacre", childArg},
		Env:        []string{},
		ExtraFiles: []*os.File{childEnd},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
				syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
			// No UidMappings/GidMappings: RunChild writes them (mapIDs)
			// once the manifest is verified; the child waits for its
			// config, which follows them.
			AmbientCaps: caps, // see caps.go
			Pdeathsig:   syscall.SIGKILL,
		},
	}
	// A nil *os.File in an io.Reader field would not be nil.
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if err := cmd.Start(); err != nil {
		linux.Close(socks[0])
		return nil, fmt.Errorf("sandbox: start child in new namespaces: %w", err)
	}
	return &Child{cmd: cmd, sock: socks[0]}, nil
}

// Abort kills a child that RunChild has not taken, waits for it and
// releases it; the namespaces die with it. It does nothing otherwise.
func (ch *Child) Abort() {
	if ch == nil || ch.taken {
		return
	}
	ch.taken = true
	_ = ch.cmd.Process.Kill()
	_ = ch.cmd.Wait()
	linux.Close(ch.sock)
}

// RunChild is Run for a child from Start, whose standard streams replace
// cfg's. It takes the child over (Abort then does nothing); it kills the
// child on any error.
func RunChild(ctx context.Context, ch *Child, cfg Config) (exitCode int, err error) {
	if ch == nil || ch.taken {
		return -1, errors.New("sandbox: RunChild needs a child from Start that was not used")
	}
	if err := cfg.validate(); err != nil {
		ch.Abort()
		return -1, err
	}
	if err := mapIDs(ch.cmd.Process.Pid, cfg.UID, cfg.GID); err != nil {
		ch.Abort()
		return -1, fmt.Errorf("sandbox: %w", err)
	}
	ch.taken = true
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	cmd := ch.cmd
	c, sockFile, err := pollable(ch.sock)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		linux.Close(ch.sock)
		return -1, err
	}
	// sent reports the config send; the socket is closed only after it,
	// so the sender never writes to a reused descriptor number.
	var sent chan error
	defer func() {
		if sent != nil {
			<-sent
		}
		sockFile.Close()
	}()

	child := cfg.child()
	pgrp, fg := foregroundTerminal(cfg.Stdin)
	if fg {
		child.Foreground = true
		defer func() {
			if err := takeTerminal(int(cfg.Stdin.Fd()), pgrp); err != nil {
				log.Warn("sandbox: cannot take the terminal back", "err", err)
			}
		}()
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)

	log.Debug("sandbox: child started", "pid", cmd.Process.Pid)
	preRaiseLimits(cmd.Process.Pid, cfg, log)
	// The child reads its config first thing. A config that fits in the
	// socket's buffer is sent right here: from a new goroutine the send
	// could wait for a free P, up to ~10 ms while the trusted set is built
	// (see conn). A larger one is sent from a goroutine, as it blocks until
	// the child reads it.
	sent = make(chan error, 1)
	if frame, err := encode(message{Type: msgConfig, Config: child}); err != nil || len(frame) > syncSendMax {
		go func() { sent <- c.send(message{Type: msgConfig, Config: child}) }()
	} else {
		sent <- c.sendFrame(frame)
	}

	waited := make(chan error, 1)
	go func() { waited <- waitExit(cmd) }()
	msgs := make(chan received, 4)
	go func() {
		defer close(msgs)
		for {
			m, fds, err := c.recv()
			msgs <- received{m, fds, err}
			if err != nil {
				return
			}
		}
	}()

	var (
		srv       *fuse.Server
		extra     []*fuse.Server // MountFUSE servers
		runErr    error
		gotExit   bool
		waitErr   error
		childDone bool
		quick     = cfg.transient()
		done      = ctx.Done()
	)
	kill := func() { _ = cmd.Process.Kill() }
loop:
	for msgs != nil || !childDone {
		select {
		case r, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			if r.err != nil {
				if !errors.Is(r.err, io.EOF) && runErr == nil && !gotExit {
					runErr = fmt.Errorf("sandbox: read from child: %w", r.err)
				}
				continue
			}
			if r.m.Type != msgFUSE {
				closeAll(r.fds) // only msgFUSE carries a descriptor
			}
			switch r.m.Type {
			case msgFUSE:
				serve, what := cfg.ServeRoot, "root"
				if k := r.m.Code; k > 0 && k <= len(cfg.Mounts) && cfg.Mounts[k-1].Kind == MountFUSE {
					serve, what = cfg.Mounts[k-1].Serve, cfg.Mounts[k-1].Path
				} else if k != 0 || srv != nil {
					serve = nil
				}
				if serve == nil || len(r.fds) != 1 {
					closeAll(r.fds)
					runErr = errors.New("sandbox: protocol error: unexpected FUSE descriptor")
					kill()
					continue
				}
				dev := os.NewFile(uintptr(r.fds[0]), "/dev/fuse")
				s, err := serve(dev)
				dev.Close()
				if err != nil {
					runErr = fmt.Errorf("sandbox: serve FUSE %s: %w", what, err)
					kill()
					continue
				}
				if r.m.Code == 0 {
					srv = s
					// Bigger READs for the verified root (host root only).
					raiseFUSEReadahead(cmd.Process.Pid, "nacre", fuseReadaheadKB, log)
				} else {
					extra = append(extra, s)
					if m := cfg.Mounts[r.m.Code-1]; m.ReadaheadKB > 0 {
						raiseFUSEReadahead(cmd.Process.Pid, "nacre-"+m.Name, m.ReadaheadKB, log)
					}
				}
				if err := c.send(message{Type: msgFUSEReady}); err != nil {
					runErr = fmt.Errorf("sandbox: resume child: %w", err)
					kill()
				}
			case msgStarted:
				log.Debug("sandbox: application started")
			case msgError:
				runErr = &setupError{msg: r.m.Error}
			case msgDenied:
				log.Warn("sandbox: syscall denied", "syscall", r.m.Syscall, "pid", r.m.Pid)
			case msgStopped:
				if fg {
					log.Debug("sandbox: application stopped", "signal", r.m.Code)
					code := 0
					if proxyStop(cfg.Stdin, pgrp) {
						code = 1
					}
					if err := c.send(message{Type: msgContinue, Code: code}); err != nil {
						log.Warn("sandbox: cannot continue the application", "err", err)
					}
				}
			case msgExit:
				exitCode, gotExit = r.m.Code, true
				if quick && runErr == nil {
					break loop
				}
			}
		case err := <-sent:
			sent = nil
			if err != nil && runErr == nil {
				runErr = fmt.Errorf("sandbox: send config to child: %w", err)
				kill()
			}
		case err := <-waited:
			waitErr, childDone = err, true
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case <-done:
			done = nil
			if runErr == nil {
				runErr = ctx.Err()
			}
			kill()
		}
	}
	if srv != nil {
		extra = append(extra, srv)
	}
	finish := func() {
		if !childDone {
			<-waited
		}
		for _, srv := range extra {
			// The FUSE connection ends when the child's mount namespace dies.
			served := make(chan struct{})
			go func() { srv.Wait(); close(served) }()
			select {
			case <-served:
			case <-time.After(5 * time.Second):
				log.Warn("sandbox: FUSE server still running 5s after the sandbox ended")
			}
		}
		if cfg.Teardown != nil {
			cfg.Teardown()
		}
	}
	if quick && gotExit && runErr == nil && !childDone {
		// Every process of the sandbox is dead; PID 1 is exiting. Its
		// exit and the namespaces' teardown need nothing from nacre (a
		// nacre that exits now kills PID 1 through Pdeathsig).
		go finish()
		return exitCode, nil
	}
	finish()
	switch {
	case runErr != nil:
		return -1, runErr
	case gotExit:
		return exitCode, nil
	default:
		return -1, fmt.Errorf("sandbox: child ended without the application's status: %v", waitErr)
	}
}

// transient reports whether every FUSE server of cfg is transient, so that
// RunChild may return as soon as the application's status arrives.
func (c *Config) transient() bool {
	if !c.RootTransient {
		return false
	}
	for _, m := range c.Mounts {
		if m.Kind == MountFUSE && !m.Transient {
			return false
		}
	}
	return true
}

type received struct {
	m   message
	fds []int
	err error
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = linux.Close(fd)
	}
}

func (c *Config) child() *childConfig {
	return &childConfig{
		Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir, UID: c.UID, GID: c.GID,
		Hostname: c.Hostname, FUSE: c.ServeRoot != nil, RootDir: c.RootDir, Mounts: c.Mounts,
		NoFiles: c.NoFiles, StackSize: c.StackSize,
		DisallowSubprocesses: c.DisallowSubprocesses, LogDenied: c.LogDenied, DisableASLR: c.DisableASLR,
	}
}

// preRaiseLimits raises the child's hard rlimits from outside when a
// requested limit is above nacre's own hard limit: inside the user namespace
// only host root's CAP_SYS_RESOURCE may do that, and appSetup sets the exact
// values later. Failure is left for appSetup to report.
func preRaiseLimits(pid int, cfg Config, log *slog.Logger) {
	for _, rl := range []struct {
		resource int
		value    uint64
	}{{unix.RLIMIT_NOFILE, cfg.NoFiles}, {unix.RLIMIT_STACK, cfg.StackSize}} {
		if rl.value == 0 {
			continue
		}
		cur, err := linux.Getrlimit(rl.resource)
		if err != nil || cur.Max == unix.RLIM_INFINITY || cur.Max >= rl.value {
			continue
		}
		if err := linux.Prlimit(pid, rl.resource, &unix.Rlimit{Cur: cur.Cur, Max: rl.value}, nil); err != nil {
			log.Debug("sandbox: cannot raise hard limit", "resource", rl.resource, "value", rl.value, "err", err)
		}
	}
}

// mapIDs maps the child's user namespace as Go's os/exec would have at
// clone time (UidMappings, GidMappings, GidMappingsEnableSetgroups false):
// uid and gid, as the application sees them, to nacre's own. Setgroups is
// denied first, which an unprivileged user must do before writing gid_map.
// The kernel accepts each file once, from outside the namespace, so the
// child cannot have mapped itself differently.
func mapIDs(pid int, uid, gid uint32) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	for _, w := range []struct{ file, data string }{
		{"uid_map", fmt.Sprintf("%d %d 1\n", uid, os.Getuid())},
		{"setgroups", "deny"},
		{"gid_map", fmt.Sprintf("%d %d 1\n", gid, os.Getgid())},
	} {
		f, err := os.OpenFile(dir+w.file, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.Write([]byte(w.data))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("map ids of the sandbox's user namespace (%s): %w", w.file, err)
		}
	}
	return nil
}

// waitExit is cmd.Wait, except that it first waits for the exit in the
// netpoller (a pidfd becomes readable when the process exits): a goroutine
// in a blocking waitid keeps a P in a syscall for the whole run (see conn).
func waitExit(cmd *exec.Cmd) error {
	if fd, err := unix.PidfdOpen(cmd.Process.Pid, unix.PIDFD_NONBLOCK); err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Read(func(fd uintptr) bool {
				var info unix.Siginfo // Signo stays 0 while it runs
				err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
				return err != nil || info.Signo != 0
			})
		}
		f.Close()
	}
	return cmd.Wait()
}
