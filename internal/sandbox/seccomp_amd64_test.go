package sandbox

import "golang.org/x/sys/unix"

// testSyscalls are calls the tests name besides the denied ones.
var testSyscalls = map[string]int{
	"read": unix.SYS_READ, "execve": unix.SYS_EXECVE, "clone": unix.SYS_CLONE, "clone3": unix.SYS_CLONE3,
	"fork": unix.SYS_FORK, "vfork": unix.SYS_VFORK,
}
