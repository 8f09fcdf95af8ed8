//go:build linux && !amd64 && !arm64

package sandbox

// No syscall table for this architecture: seccompInstructions refuses,
// so the sandbox does not start without its filter.
const (
	seccompArch = 0
	x32Bit      = 0
	sysClone    = 0
	sysClone3   = 0
)

var deniedSyscalls, forkSyscalls []sysNum
