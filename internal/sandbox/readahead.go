package sandbox

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// fuseReadaheadKB is the readahead window asked for the root FUSE mount: 1
// MiB. The kernel gives every FUSE mount 128 KiB, and the server cannot
// raise it (INIT's max_readahead can only lower it). The root server takes
// READs of at most 128 KiB (internal/fileserver), so a 1 MiB window arrives
// as up to eight READs at once, which keep both cores verifying: measured
// +15-40% on first reads of a large trusted file over a 128 KiB window. (It
// also sets the mmap read-around: with it at 128 KiB, python3's first start
// was ~1-2 ms faster, but sequential first reads ~20% slower.)
const fuseReadaheadKB = 1024

// raiseFUSEReadahead sets read_ahead_kb of the backing device of the child's
// newest FUSE mount of fstype fuse.<name> (the child mounts one FUSE
// filesystem at a time and waits for msgFUSEReady, so that is this one). Only host root can write
// /sys/class/bdi; anyone else keeps the kernel's default, silently. It only
// changes how much is requested at a time: every byte still goes through the
// verifying READ handler.
func raiseFUSEReadahead(pid int, name string, kb int, log *slog.Logger) {
	dev, err := fuseDevOf(pid, "fuse."+name)
	if err != nil {
		log.Debug("sandbox: FUSE readahead unchanged", "err", err)
		return
	}
	p := "/sys/class/bdi/" + dev + "/read_ahead_kb"
	if err := os.WriteFile(p, []byte(fmt.Sprint(kb)), 0); err != nil {
		log.Debug("sandbox: FUSE readahead unchanged (needs host root)", "file", p, "err", err)
		return
	}
	log.Debug("sandbox: FUSE readahead raised", "file", p, "kb", kb)
}

// fuseDevOf returns the major:minor of the last mount of type fstype in the
// mount namespace of pid (the newest one: the child's own).
func fuseDevOf(pid int, fstype string) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	dev := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"
		line := sc.Text()
		fields := strings.Fields(line)
		_, after, ok := strings.Cut(line, " - ")
		if !ok || len(fields) < 3 {
			continue
		}
		if t := strings.Fields(after); len(t) > 0 && t[0] == fstype {
			dev = fields[2]
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if dev == "" {
		return "", fmt.Errorf("no %s mount in /proc/%d/mountinfo", fstype, pid)
	}
	return dev, nil
}
