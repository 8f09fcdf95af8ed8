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
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	caps, err := allCaps()
	if err != nil {
		return -1, fmt.Errorf("sandbox: list capabilities: %w", err)
	}
	socks, err := linux.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return -1, fmt.Errorf("sandbox: %w", err)
	}
	childEnd := os.NewFile(uintptr(socks[1]), "sandbox-socket")
	c := conn{fd: socks[0]}
	// sent reports the config send; the socket is closed only after it,
	// so the sender never writes to a reused descriptor number.
	var sent chan error
	defer func() {
		if sent != nil {
			<-sent
		}
		linux.Close(socks[0])
	}()

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"nacre", childArg},
		Env:        []string{},
		ExtraFiles: []*os.File{childEnd},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
				syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: int(cfg.UID), HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: int(cfg.GID), HostID: os.Getgid(), Size: 1}},
			// An unprivileged user may only map its gid after denying
			// setgroups; keep one behaviour for root and non-root.
			GidMappingsEnableSetgroups: false,
			AmbientCaps:                caps, // see caps.go
			Pdeathsig:                  syscall.SIGKILL,
		},
	}
	// A nil *os.File in an io.Reader field would not be nil.
	if cfg.Stdin != nil {
		cmd.Stdin = cfg.Stdin
	}
	if cfg.Stdout != nil {
		cmd.Stdout = cfg.Stdout
	}
	if cfg.Stderr != nil {
		cmd.Stderr = cfg.Stderr
	}
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

	// The config waits in the socket while the child starts; a large one
	// blocks this goroutine until the child reads it.
	sent = make(chan error, 1)
	go func() { sent <- c.send(message{Type: msgConfig, Config: child}) }()
	err = cmd.Start()
	childEnd.Close()
	if err != nil {
		return -1, fmt.Errorf("sandbox: start child in new namespaces: %w", err)
	}
	log.Debug("sandbox: child started", "pid", cmd.Process.Pid)
	preRaiseLimits(cmd.Process.Pid, cfg, log)

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
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
		done      = ctx.Done()
	)
	kill := func() { _ = cmd.Process.Kill() }
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
					raiseFUSEReadahead(cmd.Process.Pid, "nacre", log)
				} else {
					extra = append(extra, s)
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
	switch {
	case runErr != nil:
		return -1, runErr
	case gotExit:
		return exitCode, nil
	default:
		return -1, fmt.Errorf("sandbox: child ended without the application's status: %v", waitErr)
	}
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
