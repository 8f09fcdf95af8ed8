package sandbox

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// Terminal signals. When nacre runs in the foreground of its controlling
// terminal, the application gets a process group of its own and becomes the
// terminal's foreground group: Ctrl-C, Ctrl-\ and window changes then reach
// it exactly once, straight from the terminal, and nacre's forwarding only
// carries signals sent to nacre itself (kill, a service manager). Otherwise
// the application would get them twice, from the terminal and from nacre.
// nacre takes the terminal back when the sandbox ends.
//
// Job control is proxied: when the application stops (Ctrl-Z, or a read from
// the terminal in the background), PID 1 reports it, nacre takes the
// terminal back and stops itself with SIGSTOP, so the shell sees its job
// stopped. When the shell continues nacre (fg or bg), nacre asks PID 1 to
// continue the application, giving it the terminal again if nacre is in the
// foreground (fg).

// foregroundTerminal reports whether f is nacre's controlling terminal with
// nacre's process group in the foreground, and returns that group.
func foregroundTerminal(f *os.File) (int, bool) {
	if f == nil {
		return 0, false
	}
	fg, err := linux.Tcgetpgrp(int(f.Fd()))
	if err != nil {
		return 0, false
	}
	return fg, fg == linux.Getpgrp()
}

// takeTerminal makes pgrp (0: the caller's own) the foreground process group
// of the terminal on fd. SIGTTOU is ignored meanwhile, since the caller is
// in a background group.
func takeTerminal(fd, pgrp int) error {
	signal.Ignore(unix.SIGTTOU)
	defer signal.Reset(unix.SIGTTOU)
	if pgrp == 0 {
		pgrp = linux.Getpgrp()
	}
	return linux.Tcsetpgrp(fd, pgrp)
}

// enterForeground puts the calling process (stage 3, about to exec the
// application) in a new process group and gives it the terminal on stdin.
func enterForeground() error {
	if err := linux.Setpgid(0, 0); err != nil {
		return err
	}
	return takeTerminal(0, 0)
}

// continueApp (PID 1) resumes the application's process group, first making
// it the terminal's foreground group when fg.
func continueApp(app int, fg bool) {
	if fg {
		_ = takeTerminal(0, app)
	}
	_ = linux.Kill(-app, unix.SIGCONT)
}

// proxyStop (nacre) follows the application into the stopped state: it takes
// the terminal back, stops, and once continued reports whether it is in the
// foreground again.
func proxyStop(stdin *os.File, pgrp int) (fg bool) {
	_ = takeTerminal(int(stdin.Fd()), pgrp)
	_ = linux.Kill(os.Getpid(), unix.SIGSTOP)
	// Continued (by the shell's fg or bg).
	now, ok := foregroundTerminal(stdin)
	return ok && now == pgrp
}
