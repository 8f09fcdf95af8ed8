package sandbox

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// childProc is the sandbox child process. It is started with
// syscall.ForkExec rather than os/exec: the first os.StartProcess of a
// process checks once that pidfds work, with a vfork of its own (~0.35 ms
// on the sandbox child's start, which nacre run waits for). The pidfd
// comes from clone itself (CLONE_PIDFD), so kill and wait never name a
// reused pid.
type childProc struct {
	pid   int
	pidfd *os.File // non-blocking, so that wait parks in the netpoller; or nil

	mu     sync.Mutex // signal and the reap in wait run on different goroutines
	reaped bool
}

// startChildProc starts path with argv and env; files are its fds 0-2 (nil:
// /dev/null) and extra its fd 3. It returns once the exec succeeded.
func startChildProc(path string, argv, env []string, files []*os.File, extra int, sys *syscall.SysProcAttr) (*childProc, error) {
	fds := make([]uintptr, 0, len(files)+1)
	var devNull *os.File
	for _, f := range files {
		if f == nil {
			if devNull == nil {
				var err error
				if devNull, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
					return nil, err
				}
				defer devNull.Close()
			}
			f = devNull
		}
		fds = append(fds, f.Fd())
	}
	fds = append(fds, uintptr(extra))
	pidfd := -1
	attr := *sys
	attr.PidFD = &pidfd
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: env, Files: fds, Sys: &attr})
	if err != nil {
		return nil, err
	}
	p := &childProc{pid: pid}
	if pidfd >= 0 {
		if err := unix.SetNonblock(pidfd, true); err == nil {
			p.pidfd = os.NewFile(uintptr(pidfd), "pidfd")
		} else {
			_ = unix.Close(pidfd)
		}
	}
	return p, nil
}

// signal sends sig to the child unless it has been reaped.
func (p *childProc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return
	}
	if p.pidfd != nil {
		if rc, err := p.pidfd.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = unix.PidfdSendSignal(int(fd), sig, nil, 0) })
		}
		return
	}
	_ = unix.Kill(p.pid, sig) // not reaped before wait returns: the pid is still ours
}

func (p *childProc) kill() { p.signal(unix.SIGKILL) }

// wait waits for the child's exit and reaps it; the error describes an
// exit other than status 0, as os/exec's would. It waits in the netpoller
// (a pidfd becomes readable when the process exits): a goroutine in a
// blocking wait4 keeps a P in a syscall for the whole run (see conn).
func (p *childProc) wait() error {
	if p.pidfd != nil {
		if rc, err := p.pidfd.SyscallConn(); err == nil {
			_ = rc.Read(func(fd uintptr) bool {
				var info unix.Siginfo // Signo stays 0 while it runs
				err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
				return err != nil || info.Signo != 0
			})
		}
	} else {
		// Without a pidfd: wait for the exit without reaping, outside the
		// lock, so that signal can still take it meanwhile (an unreaped
		// child keeps its pid, so kill never names another process).
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return fmt.Errorf("wait for the sandbox child: %w", unix.ECHILD)
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		p.reaped = true
		if p.pidfd != nil {
			p.pidfd.Close()
		}
		if err != nil {
			return fmt.Errorf("wait for the sandbox child: %w", err)
		}
		break
	}
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Exited():
		return fmt.Errorf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Errorf("signal: %v", ws.Signal())
	}
	return fmt.Errorf("wait status %#x", uint32(ws))
}
