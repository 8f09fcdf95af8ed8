package manifest

import (
	"fmt"
	"slices"
)

// InsecureSettings lists every insecure setting in use, in the spirit of the
// banner Gramine prints at start (libos/src/utils/warn.c), plus allowed files
// and hard-coded keys. Each entry is a short "key = value" description.
func (m *Manifest) InsecureSettings() []string {
	var out []string
	add := func(cond bool, s string) {
		if cond {
			out = append(out, s)
		}
	}
	add(m.SGX.Debug, "sgx.debug = true")
	add(m.Loader.LogLevel != "none" && m.Loader.LogLevel != "error", fmt.Sprintf("loader.log_level = %q (only \"error\" or \"none\" are production-safe)", m.Loader.LogLevel))
	add(m.Loader.UseCmdlineArgv, "loader.insecure__use_cmdline_argv = true")
	add(m.Loader.UseHostEnv, "loader.insecure__use_host_env = true")
	add(m.Loader.DisableASLR, "loader.insecure__disable_aslr = true")
	add(m.Sys.InsecureAllowEventfd, "sys.insecure__allow_eventfd = true")
	add(m.Sys.ExperimentalEnableFlock, "sys.experimental__enable_flock = true")
	add(boolAt(m.tree, "sgx", "insecure__allow_memfaults_without_exinfo"), "sgx.insecure__allow_memfaults_without_exinfo = true")
	add(m.FileCheckPolicy == PolicyAllowAllButLog, `sgx.file_check_policy = "allow_all_but_log"`)
	for _, a := range m.AllowedFiles {
		out = append(out, fmt.Sprintf("sgx.allowed_files contains %q (not integrity-checked)", a))
	}
	var keys []string
	for k := range m.FS.InsecureKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, fmt.Sprintf("fs.insecure__keys.%s is hard-coded in the manifest", k))
	}
	return out
}

func boolAt(tree map[string]any, path ...string) bool {
	b, _ := get(tree, path...).(bool)
	return b
}
