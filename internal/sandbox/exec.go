package sandbox

import (
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// The application inherits its credentials, rlimits and seccomp filter from
// the thread that forks it, so they are applied on a locked OS thread right
// before fork and exec (appSetup). Usually that thread is one of PID 1's
// (startDirect, init.go): the filter then binds PID 1 too (TSYNC), which is
// harmless since PID 1 only waits, signals and talks to nacre after setup.
//
// With DisallowSubprocesses the filter denies fork itself, so PID 1 could not
// start the application under it. PID 1 then forks stage 3 instead: nacre
// re-executed with argv[2] = execArg, which reads its childConfig from fd 3
// (a socket to PID 1), applies appSetup to itself and execs the application
// in place. Any failure is sent back as msgError; success closes the socket
// (close-on-exec), which PID 1 reads as "started". os/exec offers no hook
// between fork and exec, hence the extra re-exec, which costs a Go runtime
// start.
const execArg = "exec"

// execMain is stage 3; it never returns.
func execMain() {
	// Capability sets are per thread: everything from here to exec must
	// happen on this one.
	runtime.LockOSThread()
	c := conn{fd: 3}
	if err := linux.CloseRangeOnExec(3); err != nil {
		os.Exit(126)
	}
	m, _, err := c.recv()
	if err != nil || m.Type != msgConfig || m.Config == nil {
		os.Exit(126)
	}
	if err := execApp(c, m.Config); err != nil {
		_ = c.send(message{Type: msgError, Error: err.Error()})
		os.Exit(127)
	}
}

func execApp(c conn, cfg *childConfig) error {
	listener, err := appSetup(cfg)
	if err != nil {
		return err
	}
	if listener >= 0 {
		if err := c.send(message{Type: msgListener}, listener); err != nil {
			return stepErr("pass seccomp listener: %w", err)
		}
		_ = linux.Close(listener)
	}
	if cfg.Foreground {
		if err := enterForeground(); err != nil {
			return stepErr("take the terminal: %w", err)
		}
	}
	dir := appDir(cfg)
	if err := linux.Chdir(dir); err != nil {
		return stepErr("chdir %s: %w", dir, unwrapPath(err))
	}
	err = syscall.Exec(cfg.Path, appArgs(cfg), cfg.Env)
	return stepErr("exec %s: %w", cfg.Path, err)
}

// appSetup gives the calling thread (locked, and about to fork or exec the
// application) the application's rlimits, capabilities, no_new_privs,
// abstract-socket scope and seccomp filter. It returns the seccomp listener fd with LogDenied, else -1.
func appSetup(cfg *childConfig) (int, error) {
	if uid, gid := os.Getuid(), os.Getgid(); uid != int(cfg.UID) || gid != int(cfg.GID) {
		return -1, stepErr("check ids: running as %d:%d, want %d:%d", uid, gid, cfg.UID, cfg.GID)
	}
	for _, rl := range []struct {
		name     string
		resource int
		value    uint64
	}{{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, cfg.NoFiles}, {"RLIMIT_STACK", unix.RLIMIT_STACK, cfg.StackSize}} {
		if rl.value == 0 {
			continue
		}
		if err := linux.Setrlimit(rl.resource, &unix.Rlimit{Cur: rl.value, Max: rl.value}); err != nil {
			old, _ := linux.Getrlimit(rl.resource)
			return -1, stepErr("set %s to %d (hard limit %d; raising it needs CAP_SYS_RESOURCE on the host): %w", rl.name, rl.value, old.Max, err)
		}
	}
	if cfg.DisableASLR {
		// The personality belongs to the thread and is inherited across
		// fork and exec, so it is set on this one (the goroutines of PID 1
		// may run on threads that were started before any other call).
		if err := linux.DisableASLR(); err != nil {
			return -1, stepErr("disable ASLR: %w", err)
		}
	}
	// The bounding set must shrink while CAP_SETPCAP is still effective.
	if err := dropCapsBounding(); err != nil {
		return -1, stepErr("%w", err)
	}
	if err := scopeAbstractSockets(); err != nil {
		return -1, stepErr("%w", err)
	}
	listener, err := loadSeccomp(cfg.DisallowSubprocesses, cfg.LogDenied)
	if err != nil {
		return -1, stepErr("%w", err)
	}
	if !cfg.LogDenied {
		listener = -1
	}
	if err := dropCapsSets(); err != nil {
		return -1, stepErr("%w", err)
	}
	return listener, nil
}

func appDir(cfg *childConfig) string {
	if cfg.Dir == "" {
		return "/"
	}
	return cfg.Dir
}

func appArgs(cfg *childConfig) []string {
	if len(cfg.Args) == 0 {
		return []string{cfg.Path}
	}
	return cfg.Args
}

// unwrapPath drops the *os.PathError layer, whose path is a host or
// /proc/self/fd path, so messages can name the path inside the view.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
