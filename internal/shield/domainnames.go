package shield

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sanitizeResolvConf keeps what Gramine's
// sys.enable_extra_runtime_domain_names_conf keeps of the host's
// /etc/resolv.conf: nameserver and search lines, and the options edns0,
// inet6, rotate and use-vc. Everything else (other options, sortlist,
// comments) is dropped, so the host cannot steer the resolver beyond them.
func sanitizeResolvConf(host string) string {
	var b strings.Builder
	for _, line := range strings.Split(host, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			b.WriteString("nameserver " + f[1] + "\n")
		case "search":
			b.WriteString("search " + strings.Join(f[1:], " ") + "\n")
		case "options":
			var keep []string
			for _, o := range f[1:] {
				switch o {
				case "edns0", "inet6", "rotate", "use-vc":
					keep = append(keep, o)
				}
			}
			if len(keep) > 0 {
				b.WriteString("options " + strings.Join(keep, " ") + "\n")
			}
		}
	}
	return b.String()
}

// domainNameFiles writes the synthesized /etc/resolv.conf and /etc/hostname
// into a new host directory (the caller removes it) and returns it with the
// view path → host file map for the file server.
func domainNameFiles(hostname string) (string, map[string]string, error) {
	dir, err := os.MkdirTemp("", "nacre-etc-")
	if err != nil {
		return "", nil, fmt.Errorf("sys.enable_extra_runtime_domain_names_conf: %w", err)
	}
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !os.IsNotExist(err) {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("sys.enable_extra_runtime_domain_names_conf: reading the host's resolv.conf: %w", err)
	}
	files := map[string]string{
		"/etc/resolv.conf": sanitizeResolvConf(string(host)),
		"/etc/hostname":    hostname + "\n",
	}
	out := map[string]string{}
	for view, content := range files {
		p := filepath.Join(dir, filepath.Base(view))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("sys.enable_extra_runtime_domain_names_conf: %w", err)
		}
		out[view] = p
	}
	return dir, out, nil
}
