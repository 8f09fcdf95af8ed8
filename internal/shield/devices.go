package shield

import (
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/sandbox"
)

// Devices, as in Gramine (v1.6+): a chroot mount of a "dev:" URI, e.g.
// { path = "/dev/kvm", uri = "dev:/dev/kvm" }, makes a host device visible
// at path, and the device must also be listed in sgx.allowed_files as
// "dev:/dev/kvm" (an entry also allows the devices below it). Gramine
// denies opening a mounted device that is not allowed; nacre leaves it out
// of the view with a warning. An allowed "dev:" entry without a mount shows
// nothing, as in Gramine. nacre binds the host node read-write into its
// /dev tmpfs, so the mount path must lie under /dev; the seccomp filter is
// unchanged (it does not restrict ioctl).

// devHostPath is the host path of a "dev:" URI's path; a relative one names
// a node of /dev.
func devHostPath(p string) string {
	if !path.IsAbs(p) {
		p = "/dev/" + p
	}
	return path.Clean(p)
}

// deviceMounts turns the manifest's device mounts into sandbox mounts of
// the devices that allowed (host paths of "dev:" allowed files) lists.
func (l *Loaded) deviceMounts(devices []manifest.Mount, allowed []string, log *slog.Logger) ([]sandbox.Mount, error) {
	var mounts []sandbox.Mount
	used := make([]bool, len(allowed))
	for _, mt := range devices {
		host := devHostPath(strings.TrimPrefix(mt.URI, "dev:"))
		p := path.Clean(mt.Path)
		if !strings.HasPrefix(p, "/dev/") {
			return nil, fmt.Errorf("%s: fs.mounts: device %s mounted at %s: nacre places devices in its /dev only; mount it at a path under /dev", l.Path, mt.URI, mt.Path)
		}
		ok := false
		for i, a := range allowed {
			if host == a || strings.HasPrefix(host, a+"/") {
				ok, used[i] = true, true
			}
		}
		if !ok {
			log.Warn("device mount left out: the device is not in sgx.allowed_files (Gramine denies opening it)",
				"path", p, "uri", mt.URI, "fix", fmt.Sprintf("add \"dev:%s\" to sgx.allowed_files", host))
			continue
		}
		mounts = append(mounts, sandbox.Mount{Kind: sandbox.MountDevice, Path: p, Source: host})
	}
	for i, a := range allowed {
		if !used[i] {
			log.Debug("allowed device has no fs.mounts entry, so it is not visible (as in Gramine)",
				"uri", "dev:"+a, "fix", fmt.Sprintf("add { path = %q, uri = \"dev:%s\" } to fs.mounts", a, a))
		}
	}
	return mounts, nil
}
