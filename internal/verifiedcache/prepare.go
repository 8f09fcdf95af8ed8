package verifiedcache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// prepare opens the store directory dir (O_RDONLY), creating it and the
// missing directories above it with mode 0700, and returns the fd.
//
// It walks dir one component at a time from an fd of "/" (openat with
// O_NOFOLLOW), so that nothing it checks can be swapped between the check
// and the use. A symlink is followed only where its parent directory
// belongs to root or to us and nobody else may write it (a system path such
// as /var/run): anywhere else (/dev/shm, /tmp) another user could have put
// it there to make nacre create its store at a place of their choosing.
// Below a directory that others may write, the next component must be a
// real directory of ours that others cannot write; so must every directory
// nacre creates and the ones it owns by name (nacre, nacre-<uid> and the
// store itself). A directory is created with mkdirat relative to the
// checked parent's fd.
func prepare(dir string) (int, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return -1, fmt.Errorf("store directory %s: %w", dir, err)
	}
	euid := uint32(os.Geteuid())
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("stat /: %w", err)
	}
	comps := strings.Split(strings.TrimPrefix(dir, "/"), "/")
	at := "/"
	for i, c := range comps {
		if c == "" {
			continue
		}
		last := i == len(comps)-1
		at = filepath.Join(at, c)
		safeParent := (st.Uid == 0 || st.Uid == euid) && st.Mode&0o022 == 0
		owned := last || c == "nacre" || strings.HasPrefix(c, "nacre-")
		nfd, created, err := walkStep(fd, c, safeParent && !owned)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("store directory %s: %s: %w", dir, at, err)
		}
		fd = nfd
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("stat %s: %w", at, err)
		}
		if created {
			// The umask may have taken bits away; Open wants exactly 0700.
			if err := chmodFd(fd, 0o700); err != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("chmod %s: %w", at, err)
			}
			st.Mode = st.Mode&^0o7777 | 0o700
		}
		if (created || owned || !safeParent) && (st.Uid != euid || st.Mode&0o022 != 0) {
			unix.Close(fd)
			return -1, fmt.Errorf("%s is not a directory of uid %d writable only by it (mode %#o, uid %d); remove it or set %s: %w",
				at, euid, st.Mode&0o7777, st.Uid, EnvDir, ErrUnsafe)
		}
	}
	rfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	unix.Close(fd)
	if err != nil {
		return -1, fmt.Errorf("open store directory %s: %w", dir, err)
	}
	return rfd, nil
}

// walkStep opens (O_PATH) directory c of parent, creating it (0700) if
// missing, and following a symlink only if follow.
func walkStep(parent int, c string, follow bool) (fd int, created bool, err error) {
	flags := unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	for try := 0; try < 2; try++ {
		fd, err = unix.Openat(parent, c, flags, 0)
		if err == nil {
			return fd, created, nil
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, false, fmt.Errorf("a symlink nacre does not follow here, or not a directory: %w", ErrUnsafe)
		}
		if !errors.Is(err, unix.ENOENT) || try > 0 {
			return -1, false, err
		}
		switch err := unix.Mkdirat(parent, c, 0o700); {
		case err == nil:
			created = true
		case errors.Is(err, unix.EEXIST): // made meanwhile; checked as found
		default:
			return -1, false, fmt.Errorf("create: %w", err)
		}
		flags |= unix.O_NOFOLLOW // what we just made is never a symlink
	}
	return -1, false, err
}

// chmodFd changes the mode of the directory opened as O_PATH fd.
func chmodFd(fd int, mode uint32) error {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	return unix.Fchmod(dfd, mode)
}
