package sandbox

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// forwardedSignals are passed on from nacre to PID 1 and from PID 1 to the
// application. SIGKILL and SIGSTOP cannot be caught; the rest keep their
// default meaning for nacre.
var forwardedSignals = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// parentConn is PID 1's end of the socket; sends may come from several
// goroutines.
type parentConn struct {
	mu sync.Mutex
	c  conn
}

func (p *parentConn) send(m message, fds ...int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c.send(m, fds...)
}

// fuseConn is PID 1's fuseLink: nacre answers msgFUSE with msgFUSEReady
// carrying the same code (0 for the root, k for cfg.Mounts[k-1]) once it
// serves that mount, in any order.
type fuseConn struct {
	p     *parentConn
	ready map[int]bool // codes answered before they were waited for
}

func (f *fuseConn) send(index, fd int) error {
	if err := f.p.send(message{Type: msgFUSE, Code: index + 1}, fd); err != nil {
		return stepErr("pass /dev/fuse to nacre: %w", err)
	}
	return nil
}

func (f *fuseConn) wait(index int) error {
	code := index + 1
	for !f.ready[code] {
		m, _, err := f.p.c.recv()
		if err != nil {
			return stepErr("wait for the FUSE server: %w", err)
		}
		if m.Type != msgFUSEReady {
			return stepErr("wait for the FUSE server: unexpected %q", m.Type)
		}
		f.ready[m.Code] = true
	}
	delete(f.ready, code)
	return nil
}

// initMain is PID 1 of the sandbox (stage 2); it never returns.
func initMain() {
	// Catch forwarded signals: with no handler, the kernel drops them for
	// a namespace's init, and Go's default for SIGTERM would end it.
	// signal.Notify costs a round trip to the runtime's signal-mask thread
	// per signal (~0.5-0.9 ms for the seven while nacre verifies the
	// manifest on the other CPU), so it runs beside the setup and the
	// application starts only once it is done. A signal nacre forwards
	// before then ends PID 1 and so the start, as it would have ended
	// nacre itself a moment earlier.
	sigs := make(chan os.Signal, 16)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, forwardedSignals...)
		close(notified)
	}()
	// Descriptors that nacre inherited without close-on-exec (from a shell,
	// a service manager, go test) must not reach the application.
	if err := linux.CloseRangeOnExec(3); err != nil {
		os.Exit(125)
	}
	p := &parentConn{c: conn{fd: 3}}
	primeJSONUnlessReadable(3)
	m, _, err := p.c.recv()
	if err != nil || m.Type != msgConfig || m.Config == nil {
		os.Exit(125)
	}
	cfg := m.Config
	Trace("child config")
	if !cfg.DisallowSubprocesses { // else stage 3 applies it (exec.go)
		prebuildSeccomp(cfg.DisallowSubprocesses, cfg.LogDenied)
	}
	fail := func(err error) {
		_ = p.send(message{Type: msgError, Error: err.Error()})
		os.Exit(125)
	}
	err = setupRoot(cfg, &fuseConn{p: p, ready: map[int]bool{}})
	if err != nil {
		fail(err)
	}
	Trace("child root set up")
	<-notified
	// The application must not read PID 1's memory or descriptors.
	if err := linux.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fail(stepErr("set PID 1 non-dumpable: %w", err))
	}

	reaped := make(chan int, 1)
	var stopped func(unix.Signal)
	if cfg.Foreground {
		stopped = func(sig unix.Signal) { _ = p.send(message{Type: msgStopped, Code: int(sig)}) }
	}
	var app, listener int
	if cfg.DisallowSubprocesses {
		app, listener, err = runStage3(cfg, reaped, stopped)
	} else {
		app, listener, err = startDirect(cfg)
		if err == nil {
			go reap(app, reaped, stopped)
		}
	}
	if err != nil {
		fail(err)
	}
	if listener >= 0 {
		go superviseDenied(listener, func(name string, pid int) {
			_ = p.send(message{Type: msgDenied, Syscall: name, Pid: pid})
		})
	}
	Trace("child app forked")
	if err := p.send(message{Type: msgStarted, Pid: app}); err != nil {
		killAll()
		<-reaped
		os.Exit(125)
	}
	go forwardSignals(sigs, app)
	if cfg.Foreground {
		go func() {
			for {
				m, _, err := p.c.recv()
				if err != nil {
					return
				}
				if m.Type == msgContinue {
					continueApp(app, m.Code == 1)
				}
			}
		}()
	}
	code := <-reaped
	Trace("child reaped")
	_ = p.send(message{Type: msgExit, Code: code})
	os.Exit(code)
}

// startDirect applies appSetup to a locked thread of PID 1 and forks and
// execs the application from it; the thread is never unlocked, so it ends
// with its goroutine and nothing else runs with its reduced credentials.
func startDirect(cfg *childConfig) (pid, listener int, err error) {
	type result struct {
		pid, listener int
		err           error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		listener, err := appSetup(cfg)
		if err != nil {
			ch <- result{err: err}
			return
		}
		Trace("child seccomp")
		// os/exec reports a failed chdir and a failed exec alike.
		dir := appDir(cfg)
		if fd, err := linux.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			ch <- result{err: stepErr("chdir %s: %w", dir, unwrapPath(err))}
			return
		} else {
			_ = linux.Close(fd)
		}
		pid, err := syscall.ForkExec(cfg.Path, appArgs(cfg), &syscall.ProcAttr{
			Dir:   dir,
			Env:   cfg.Env,
			Files: []uintptr{0, 1, 2},
			// Foreground implies a new process group (terminal.go).
			Sys: &syscall.SysProcAttr{Foreground: cfg.Foreground, Ctty: 0},
		})
		if err != nil {
			ch <- result{err: stepErr("exec %s: %w", cfg.Path, err)}
			return
		}
		ch <- result{pid, listener, nil}
	}()
	r := <-ch
	return r.pid, r.listener, r.err
}

// runStage3 starts the application through stage 3 (exec.go) and waits
// until it has exec'd; the reaper runs meanwhile in case stage 3 dies.
func runStage3(cfg *childConfig, reaped chan int, stopped func(unix.Signal)) (app, listener int, err error) {
	listener = -1
	app, status, err := startStage3(cfg)
	if err != nil {
		return 0, -1, err
	}
	go reap(app, reaped, stopped)
	defer linux.Close(status)
	// Stage 3 closes its socket when exec succeeds.
	sc := conn{fd: status}
	for {
		m, fds, err := sc.recv()
		if errors.Is(err, io.EOF) {
			return app, listener, nil
		}
		if err != nil {
			killAll()
			<-reaped
			return 0, -1, stepErr("start application: %w", err)
		}
		switch m.Type {
		case msgListener:
			if len(fds) == 1 {
				listener = fds[0]
			}
		case msgError:
			killAll()
			<-reaped
			return 0, -1, errors.New(m.Error)
		}
	}
}

// startStage3 forks and execs stage 3 with a socket on fd 3 and sends it the
// config; it returns stage 3's pid (the application's, after exec) and PID
// 1's end of the socket.
func startStage3(cfg *childConfig) (int, int, error) {
	fds, err := linux.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return 0, 0, stepErr("start application: %w", err)
	}
	// Stage 3 is this same binary; /proc/self/exe still names it after
	// pivot_root, although its host path is no longer reachable.
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"nacre", childArg, execArg}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{},
		Files: []uintptr{0, 1, 2, uintptr(fds[1])},
	})
	_ = linux.Close(fds[1])
	if err != nil {
		_ = linux.Close(fds[0])
		if errors.Is(err, syscall.ENOENT) {
			// The exec happens in the application's view: a dynamically
			// linked nacre (go build with cgo) finds no ELF interpreter there.
			return 0, 0, stepErr("start application: re-exec nacre for sys.disallow_subprocesses: its ELF interpreter is not in the application's view; build nacre statically (CGO_ENABLED=0, as make build does): %w", err)
		}
		return 0, 0, stepErr("start application: re-exec nacre: %w", err)
	}
	if err := (conn{fd: fds[0]}).send(message{Type: msgConfig, Config: cfg}); err != nil {
		return pid, fds[0], stepErr("start application: %w", err)
	}
	return pid, fds[0], nil
}

// reap collects every child until none is left. With stopped, it also
// reports the application stopping (job control, terminal.go). When the application exits,
// everything else in the PID namespace is killed; its status (128+N for
// signal N) is then sent on done.
func reap(app int, done chan<- int, stopped func(sig unix.Signal)) {
	code := -1
	opts := 0
	if stopped != nil {
		opts = unix.WUNTRACED
	}
	for {
		var ws unix.WaitStatus
		pid, err := linux.Wait4(-1, &ws, opts)
		if err != nil { // ECHILD: nothing left to wait for
			break
		}
		if pid == app {
			switch {
			case ws.Stopped():
				stopped(ws.StopSignal())
			case ws.Exited():
				code = ws.ExitStatus()
			case ws.Signaled():
				code = 128 + int(ws.Signal())
			}
		}
		if code >= 0 {
			killAll()
		}
	}
	if code < 0 {
		code = 125
	}
	done <- code
}

// killAll kills every process of the namespace but PID 1.
func killAll() { _ = linux.Kill(-1, unix.SIGKILL) }

// forwardSignals passes nacre's forwarded signals on to the application.
// Those that arrived before it started are pending, and a pending signal is
// delivered once however often it was sent (nacre sends one again if it was
// forwarded before PID 1 could take it, see RunChild): each is sent once.
func forwardSignals(sigs <-chan os.Signal, app int) {
	var pending []syscall.Signal
	for drained := false; !drained; {
		select {
		case s := <-sigs:
			if sig := s.(syscall.Signal); !slices.Contains(pending, sig) {
				pending = append(pending, sig)
			}
		default:
			drained = true
		}
	}
	for _, s := range pending {
		_ = linux.Kill(app, s)
	}
	for s := range sigs {
		_ = linux.Kill(app, s.(syscall.Signal))
	}
}
