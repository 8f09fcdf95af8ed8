package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// ErrHostArgs is returned by ResolveArgv when arguments were given on the
// host command line but the manifest has no argv option.
var ErrHostArgs = errors.New("command-line arguments given but the manifest sets no argv option")

// ResolveArgv returns the application's argv following Gramine's rules.
// hostArgs are the arguments given after the manifest on the host command
// line (without a program name):
//
//   - loader.insecure__use_cmdline_argv: [libos.entrypoint] + hostArgs;
//   - loader.argv or loader.argv_src_file (NUL-separated): that argv; any
//     hostArgs are discarded with an error log, as Gramine does;
//   - none of them: hostArgs must be empty (ErrHostArgs otherwise) and argv
//     is [libos.entrypoint].
//
// loader.argv_src_file is read from the host and must match its
// sgx.trusted_files hash (or be allowed by sgx.allowed_files or
// sgx.file_check_policy), because the host could otherwise change it.
func (m *Manifest) ResolveArgv(hostArgs []string) ([]string, error) {
	l := m.Loader
	switch {
	case l.UseCmdlineArgv:
		return append([]string{m.LibOS.Entrypoint}, hostArgs...), nil
	case l.Argv != nil || l.ArgvSrcFile != "":
		argv := l.Argv
		if l.ArgvSrcFile != "" {
			data, err := m.readSrcFile("loader.argv_src_file", l.ArgvSrcFile)
			if err != nil {
				return nil, err
			}
			argv = splitNUL(data)
			if len(argv) == 0 {
				return nil, fmt.Errorf("%s: loader.argv_src_file %s holds no arguments (expected NUL-terminated strings, as written by gramine-argv-serializer)", m.File, l.ArgvSrcFile)
			}
		}
		if len(hostArgs) > 0 {
			slog.Error("command-line arguments discarded: the manifest sets argv (use loader.insecure__use_cmdline_argv to pass them)", "manifest", m.File, "discarded", hostArgs)
		}
		return append([]string(nil), argv...), nil
	}
	if len(hostArgs) > 0 {
		return nil, fmt.Errorf("%s: %w: set loader.argv in the manifest, or loader.insecure__use_cmdline_argv = true to pass them (insecure)", m.File, ErrHostArgs)
	}
	return []string{m.LibOS.Entrypoint}, nil
}

// ResolveEnv returns the application's environment ("NAME=value" strings)
// following Gramine's rules: the whole hostEnv with
// loader.insecure__use_host_env, else the NUL-separated loader.env_src_file
// (checked like loader.argv_src_file), else nothing; then every loader.env.*
// entry overrides: a fixed value, or with passthrough the host's value if the
// host has the variable. Order: base entries in their order (overridden in
// place), then new loader.env names sorted.
func (m *Manifest) ResolveEnv(hostEnv []string) ([]string, error) {
	var base []string
	switch {
	case m.Loader.UseHostEnv:
		base = hostEnv
	case m.Loader.EnvSrcFile != "":
		data, err := m.readSrcFile("loader.env_src_file", m.Loader.EnvSrcFile)
		if err != nil {
			return nil, err
		}
		base = splitNUL(data)
		for _, kv := range base {
			if !strings.Contains(kv, "=") {
				return nil, fmt.Errorf("%s: loader.env_src_file %s: entry %q is not NAME=value", m.File, m.Loader.EnvSrcFile, kv)
			}
		}
	}
	hostVal := map[string]string{}
	for _, kv := range hostEnv {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, dup := hostVal[k]; !dup {
				hostVal[k] = v
			}
		}
	}
	set := map[string]string{}
	for _, e := range m.Loader.Env {
		if e.Passthrough {
			if v, ok := hostVal[e.Name]; ok {
				set[e.Name] = v
			}
			continue
		}
		set[e.Name] = e.Value
	}
	out := make([]string, 0, len(base)+len(set))
	done := map[string]bool{}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if done[k] {
			continue // first occurrence wins, like getenv
		}
		done[k] = true
		if v, ok := set[k]; ok {
			out = append(out, k+"="+v)
			continue
		}
		out = append(out, kv)
	}
	for _, e := range m.Loader.Env { // sorted by name
		if v, ok := set[e.Name]; ok && !done[e.Name] {
			done[e.Name] = true
			out = append(out, e.Name+"="+v)
		}
	}
	return out, nil
}

// readSrcFile reads an argv/env source file and checks it against the
// manifest's file policy.
func (m *Manifest) readSrcFile(key, uri string) ([]byte, error) {
	p, err := HostPath(uri)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", m.File, key, err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", m.File, key, err)
	}
	for _, tf := range m.TrustedFiles {
		tp, err := HostPath(tf.URI)
		if err != nil || tp != p || tf.SHA256 == "" {
			continue
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != tf.SHA256 {
			return nil, fmt.Errorf("%s: %s %s does not match its sha256 in sgx.trusted_files: the file was modified after signing", m.File, key, uri)
		}
		return data, nil
	}
	if m.isAllowed(p) {
		return data, nil
	}
	if m.FileCheckPolicy == PolicyAllowAllButLog {
		slog.Warn("reading a file that is neither trusted nor allowed (sgx.file_check_policy = allow_all_but_log)", "key", key, "uri", uri)
		return data, nil
	}
	return nil, fmt.Errorf("%s: %s %s is not a trusted file with a sha256 or an allowed file: add it to sgx.trusted_files and re-sign", m.File, key, uri)
}

// isAllowed reports whether host path p is covered by sgx.allowed_files
// (exact match or below a listed directory).
func (m *Manifest) isAllowed(p string) bool {
	for _, a := range m.AllowedFiles {
		ap, err := HostPath(a)
		if err != nil {
			continue
		}
		if p == ap || strings.HasPrefix(p, strings.TrimSuffix(ap, "/")+"/") {
			return true
		}
	}
	return false
}

// splitNUL splits NUL-terminated strings (a missing final NUL is tolerated).
func splitNUL(data []byte) []string {
	data = bytes.TrimSuffix(data, []byte{0})
	if len(data) == 0 {
		return nil
	}
	parts := bytes.Split(data, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}
