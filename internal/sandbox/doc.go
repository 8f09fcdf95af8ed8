// Package sandbox builds the shield's process and mount isolation: it re-executes
// nacre as the first process of fresh user, mount, PID, IPC and UTS namespaces,
// assembles the application's filesystem view, installs the seccomp filter and
// starts the application, forwarding signals and its exit status.
package sandbox
