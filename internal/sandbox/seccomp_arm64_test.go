package sandbox

import "golang.org/x/sys/unix"

// testSyscalls are calls the tests name besides the denied ones (arm64 has
// no fork or vfork: the tests that name them fail to find them).
var testSyscalls = map[string]int{
	"read": unix.SYS_READ, "execve": unix.SYS_EXECVE, "clone": unix.SYS_CLONE, "clone3": unix.SYS_CLONE3,
}
