// Package sandbox builds the shield's process and mount isolation: it re-executes
// nacre as the first process of fresh user, mount, PID, IPC and UTS namespaces,
// assembles the application's filesystem view, installs the seccomp filter and
// starts the application, forwarding signals and its exit status.
//
// # Processes
//
//   - nacre (on the host) starts /proc/self/exe with argv[1] = childArg in
//     the new namespaces (Start; the host network is shared; shield.Run does
//     this before the manifest is verified, and the child waits for its
//     configuration), then maps Config.UID/GID to its own uid/gid (RunChild,
//     mapIDs: uid_map, setgroups deny, gid_map; one id each, which an
//     unprivileged user may do) and sends the configuration over an
//     inherited socket (sync.go draws the protocol). If the root is FUSE it serves it from here, outside the
//     namespaces and outside seccomp. The child is started with vfork
//     semantics (proc.go, run.go), without os/exec.
//   - PID 1 (init.go, rootfs.go) builds the view and pivots into it; /proc
//     and /dev (with /dev/attestation) are built in its staging area while
//     nacre has not answered the FUSE root yet, and moved in. On a
//     locked thread it then sets the application's rlimits, drops
//     capabilities (caps.go), sets no_new_privs, confines abstract UNIX
//     sockets to the app with Landlock (landlock.go), installs the seccomp
//     filter (seccomp.go), and forks and execs the application from that
//     thread (exec.go). It stays as the reaper: it forwards signals to the
//     application, and when the application exits it kills everything left
//     in the PID namespace, reaps it and exits with the application's status
//     (128+N for signal N). Its death tears down every mount of the sandbox.
//   - Stage 3 (exec.go), only with DisallowSubprocesses: that filter denies
//     fork, so PID 1 re-executes nacre once more, and that process applies
//     the same setup to itself and execs the application in place.
//
// # The view
//
// Exactly the root (a FUSE server or a read-only bind of RootDir), the
// Mounts in order, a fresh procfs (nosuid,nodev,noexec) and a minimal /dev:
// a read-only tmpfs with null, zero, full, random, urandom and tty bound from
// the host, a new devpts instance (ptmx), a tmpfs /dev/shm and the fd, stdin,
// stdout, stderr links. The host's root is detached after pivot_root.
//
// An encrypted fs.root makes Mounts[0] a FUSE root at "/" (pffs) with Binds:
// the usual root is mounted at a staging directory and each bind path is
// bind-mounted from it onto the FUSE root (both sides resolved in their
// roots), then the staging mount goes with the old root. MountDevice entries
// bind a host character or block device, read-write, to a node under /dev.
//
// # Known limits
//
//  1. On a terminal the application runs as the foreground process group
//     (terminal.go), so Ctrl-C reaches it once; Ctrl-Z stops it and nacre
//     follows (the shell sees the job stopped; fg and bg resume it). A
//     SIGINT sent to nacre with kill is forwarded as well.
//  2. Supplementary groups: setgroups is denied in the user namespace (an
//     unprivileged user must deny it to map its gid), so the application
//     keeps nacre's supplementary groups, shown as the overflow gid 65534.
//     The namespace maps one uid and one gid: setuid, setgid and chown to
//     any other id fail with EINVAL, setgroups and initgroups with EPERM,
//     where Gramine emulates them. Daemons that start as root and switch to
//     another user (nginx's default "user nobody") need loader.uid and
//     loader.gid other than 0 in the manifest, so that they do not switch.
//  3. With RootDir, /proc/self/mountinfo shows the host path of the bound
//     directory (as for any bind mount); a FUSE root shows "/".
//  4. statfs on a bind mount reports the host filesystem's size.
//  5. The application may list, but not open, PID 1's descriptors when it
//     runs as uid 0: PID 1 is non-dumpable and holds capabilities the
//     application lacks, so ptrace-mode access checks fail.
//  6. Rootless needs read-write access to /dev/fuse for a FUSE root. Only a
//     nacre with CAP_SYS_RESOURCE (host root, usually) can give the sandbox
//     a hard rlimit above its own.
//
// # Tracing
//
// NACRE_TRACE=1 makes nacre and PID 1 print timestamped start-up and exit
// steps on stderr (trace.go), to see where nacre run's fixed cost goes
// (bench/README.md).
package sandbox
