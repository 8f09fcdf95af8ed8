package sandbox

import "os"

// childArg is argv[1] of the re-executed sandbox child.
const childArg = "__nacre_sandbox_child"

// IsChild reports whether this process is the re-executed sandbox child.
func IsChild() bool { return len(os.Args) > 1 && os.Args[1] == childArg }

// ChildMain runs the sandbox child; it never returns.
func ChildMain() { os.Exit(1) } // placeholder until the sandbox lands
