package sandbox

import "os"

// childArg is argv[1] of the re-executed sandbox child.
const childArg = "__nacre_sandbox_child"

// IsChild reports whether this process is the re-executed sandbox child.
func IsChild() bool { return len(os.Args) > 1 && os.Args[1] == childArg }

// ChildMain runs the sandbox child (PID 1 of the sandbox, or stage 3 that
// execs the application); it never returns. Call it first thing in main (or
// TestMain) when IsChild reports true.
func ChildMain() {
	if len(os.Args) > 2 && os.Args[2] == execArg {
		execMain()
	} else {
		initMain()
	}
	os.Exit(126)
}
