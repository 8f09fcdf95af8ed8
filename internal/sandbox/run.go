package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
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
	proc  *childProc
	sock  int // our end of the socket (fd 3 in the child)
	taken bool

	// ids: the id mapping, written once (MapIDs, RunChild or Abort).
	ids struct {
		once     sync.Once
		uid, gid uint32
		err      error
	}
}

// MapIDs maps uid and gid in the child's user namespace (see mapIDs) ahead
// of RunChild, which needs them mapped before the child gets its
// configuration: the three writes under /proc take ~0.3 ms, which can run
// beside the caller's other work once the manifest is verified. RunChild
// then checks that cfg has the same ids. It may be called from any
// goroutine, before RunChild or Abort; only the first call does anything.
func (ch *Child) MapIDs(uid, gid uint32) {
	ch.ids.once.Do(func() {
		ch.ids.uid, ch.ids.gid = uid, gid
		ch.ids.err = mapIDs(ch.proc.pid, uid, gid)
	})
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
	defer linux.Close(socks[1])
	p, err := startChildProc("/proc/self/exe", []string{"nacre", childArg}, traceChildEnv(),
		[]*os.File{stdin, stdout, stderr}, socks[1],
		&syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
				syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | vforkFlags,
			// No UidMappings/GidMappings: RunChild writes them (mapIDs)
			// once the manifest is verified; the child waits for its
			// config, which follows them.
			AmbientCaps: caps, // see caps.go
			Pdeathsig:   syscall.SIGKILL,
		})
	if err != nil {
		linux.Close(socks[0])
		return nil, fmt.Errorf("sandbox: start child in new namespaces: %w", err)
	}
	// Usually long before the config is encoded (the manifest is still
	// being verified); a goroutine, so that RunChild never waits for it.
	go primeJSON()
	return &Child{proc: p, sock: socks[0]}, nil
}

// vforkFlags make the child's clone a vfork, as Go's fork/exec does by
// itself without CLONE_NEWUSER: the child borrows nacre's memory until its
// exec instead of copying its page tables, which also write-protected
// every page nacre had touched, so that nacre then took a fault on each
// as it went on writing (the fork was ~2 ms of the child's start while
// nacre reads the manifest on the other CPU). Go avoids vfork with
// CLONE_NEWUSER only because its child would wait, before exec, for the
// parent to write UidMappings; the child here has none to wait for
// (RunChild maps the ids after the exec).
const vforkFlags = syscall.CLONE_VFORK | syscall.CLONE_VM

// Abort kills a child that RunChild has not taken, waits for it and
// releases it; the namespaces die with it. It does nothing otherwise.
func (ch *Child) Abort() {
	if ch == nil || ch.taken {
		return
	}
	ch.taken = true
	// A MapIDs in progress finishes first: the pid is ours until wait.
	ch.ids.once.Do(func() { ch.ids.err = errors.New("sandbox: child aborted") })
	ch.proc.kill()
	_ = ch.proc.wait()
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
	// signal.Notify takes a round trip to the runtime's signal-mask thread
	// per signal (~0.1 ms each with both CPUs busy, ~0.8 ms for the seven),
	// so it runs beside the id mapping and the config send instead of
	// before them. Until it is done a signal still has its default effect,
	// as before RunChild: nacre dies and PID 1 with it (Pdeathsig). The
	// application cannot have started before it is done: the loop below
	// waits for it before it reads the child's messages.
	sigs := make(chan os.Signal, 16)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, forwardedSignals...)
		close(notified)
	}()
	stopSignals := func() {
		<-notified
		signal.Stop(sigs)
	}
	ch.MapIDs(cfg.UID, cfg.GID)
	if err := ch.ids.err; err != nil || ch.ids.uid != cfg.UID || ch.ids.gid != cfg.GID {
		if err == nil {
			err = fmt.Errorf("ids mapped as %d:%d, config wants %d:%d", ch.ids.uid, ch.ids.gid, cfg.UID, cfg.GID)
		}
		stopSignals()
		ch.Abort()
		return -1, fmt.Errorf("sandbox: %w", err)
	}
	ch.taken = true
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	cmd := ch.proc
	c, sockFile, err := pollable(ch.sock)
	if err != nil {
		stopSignals()
		cmd.kill()
		_ = cmd.wait()
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
	// On the quick path (below) the signals are released in the
	// background: Stop is another round trip per signal, and nacre exits.
	stopped := false
	defer func() {
		if !stopped {
			stopSignals()
		}
	}()

	log.Debug("sandbox: child started", "pid", cmd.pid)
	if !AbstractSocketsScoped() {
		log.Warn("sandbox: this kernel has no Landlock scope for abstract UNIX sockets (Linux 6.12+): the application can connect to the host's abstract sockets", "landlock_abi", landlockABI())
	}
	preRaiseLimits(cmd.pid, cfg, log)
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
	Trace("config sent")

	waited := make(chan error, 1)
	go func() { waited <- cmd.wait() }()
	msgs := make(chan received, 4)
	go func() {
		defer close(msgs)
		<-notified // see sigs above
		for {
			m, fds, err := c.recv()
			msgs <- received{m, fds, err}
			if err != nil {
				return
			}
		}
	}()

	var (
		srv     *fuse.Server
		extra   []*fuse.Server // MountFUSE servers
		runErr  error
		gotExit bool
		// appStarted: msgStarted arrived; termSignal: the first SIGINT,
		// SIGTERM or SIGHUP forwarded before that.
		appStarted bool
		termSignal syscall.Signal
		// childAlive: a message came from PID 1, so its Go runtime has
		// signal handlers. Before that, a forwarded signal can arrive
		// while it has none, and the kernel drops any signal but SIGKILL
		// sent to a namespace's init from outside: early holds those
		// signals, sent again once PID 1 is alive (PID 1 delivers each
		// pending signal once, as the kernel would).
		childAlive bool
		early      []syscall.Signal
		waitErr    error
		childDone  bool
		quick      = cfg.transient()
		done       = ctx.Done()
		asked      = map[int]bool{} // msgFUSE codes seen
		served     = make(chan servedFUSE, 1+len(cfg.Mounts))
		serving    sync.WaitGroup // the serve goroutines
		readahead  sync.WaitGroup
	)
	kill := cmd.kill
loop:
	for msgs != nil || !childDone {
		select {
		case r, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			if !childAlive && r.err == nil {
				childAlive = true
				for _, s := range early {
					cmd.signal(s)
				}
				early = nil
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
				// Served on a goroutine: the root answers only once the
				// trusted set is built, and the child meanwhile mounts
				// /dev/attestation (rootfs.go).
				k := r.m.Code
				var serve func(*os.File) (*fuse.Server, error)
				what := "root"
				if k == 0 {
					serve = cfg.ServeRoot
				} else if k > 0 && k <= len(cfg.Mounts) && cfg.Mounts[k-1].Kind == MountFUSE {
					serve, what = cfg.Mounts[k-1].Serve, cfg.Mounts[k-1].Path
				}
				if serve == nil || asked[k] || len(r.fds) != 1 {
					closeAll(r.fds)
					runErr = errors.New("sandbox: protocol error: unexpected FUSE descriptor")
					kill()
					continue
				}
				asked[k] = true
				dev := os.NewFile(uintptr(r.fds[0]), "/dev/fuse")
				serving.Add(1)
				go func() {
					defer serving.Done()
					s, err := serve(dev)
					dev.Close()
					served <- servedFUSE{code: k, what: what, srv: s, err: err}
				}()
			case msgStarted:
				appStarted = true
				Trace("app started")
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
				Trace("app exit")
				exitCode, gotExit = r.m.Code, true
				if quick && runErr == nil {
					break loop
				}
			}
		case sv := <-served:
			if tracing {
				Trace("served " + sv.what)
			}
			if sv.err != nil {
				if runErr == nil {
					runErr = fmt.Errorf("sandbox: serve FUSE %s: %w", sv.what, sv.err)
				}
				kill()
				continue
			}
			if sv.code == 0 {
				srv = sv.srv
			} else {
				extra = append(extra, sv.srv)
				// Synchronously: the child mounts its next FUSE
				// filesystem of the same name only after msgFUSEReady.
				if m := cfg.Mounts[sv.code-1]; m.ReadaheadKB > 0 {
					raiseFUSEReadahead(cmd.pid, "nacre-"+m.Name, m.ReadaheadKB, log)
				}
			}
			if err := c.send(message{Type: msgFUSEReady, Code: sv.code}); err != nil {
				runErr = fmt.Errorf("sandbox: resume child: %w", err)
				kill()
				continue
			}
			if sv.code == 0 {
				// Bigger READs for the verified root (host root only).
				// After msgFUSEReady: it only sizes requests, and the
				// child's moves, pivot_root and seccomp come first.
				readahead.Add(1)
				go func() {
					defer readahead.Done()
					raiseFUSEReadahead(cmd.pid, "nacre", fuseReadaheadKB, log)
				}()
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
			if !appStarted && termSignal == 0 {
				switch s {
				case syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP:
					termSignal = s.(syscall.Signal)
				}
			}
			if !childAlive && !slices.Contains(early, s.(syscall.Signal)) {
				early = append(early, s.(syscall.Signal))
			}
			cmd.signal(s.(syscall.Signal))
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
		// A server that started after the loop ended (the child died
		// while the root waited for its trusted set) is waited for too.
		serving.Wait()
		readahead.Wait()
		for len(served) > 0 {
			if sv := <-served; sv.err == nil {
				extra = append(extra, sv.srv)
			}
		}
		for _, srv := range extra {
			// The FUSE connection ends when the child's mount namespace dies.
			ended := make(chan struct{})
			go func() { srv.Wait(); close(ended) }()
			select {
			case <-ended:
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
		stopped = true
		go func() {
			stopSignals()
			finish()
		}()
		return exitCode, nil
	}
	finish()
	switch {
	case !appStarted && !gotExit && termSignal != 0: // finish waited for the child
		// The signal reached PID 1 before it could take signals itself
		// (still starting Go) and ended it, so the application never
		// started: report it as the application killed by that signal,
		// not as a broken sandbox.
		log.Debug("sandbox: ended by a signal before the application started", "signal", termSignal)
		return 128 + int(termSignal), nil
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

// servedFUSE is the outcome of serving one FUSE mount (code as in msgFUSE).
type servedFUSE struct {
	code int
	what string
	srv  *fuse.Server
	err  error
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
	// One lookup of /proc/PID for the three files.
	dir, err := linux.Open("/proc/"+strconv.Itoa(pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("map ids of the sandbox's user namespace: %w", err)
	}
	defer linux.Close(dir)
	for _, w := range []struct{ file, data string }{
		{"uid_map", fmt.Sprintf("%d %d 1\n", uid, os.Getuid())},
		{"setgroups", "deny"},
		{"gid_map", fmt.Sprintf("%d %d 1\n", gid, os.Getgid())},
	} {
		fd, err := linux.Openat(dir, w.file, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			var n int
			n, err = unix.Write(fd, []byte(w.data))
			if err == nil && n != len(w.data) {
				err = io.ErrShortWrite
			}
			if cerr := linux.Close(fd); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("map ids of the sandbox's user namespace (%s): %w", w.file, err)
		}
	}
	return nil
}
