package manifest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
)

// rules returns the schema: dotted key pattern ("*" = any one key part) ->
// check. Tables are implied by their keys.
func rules() map[string]check {
	ign := ignored
	return map[string]check{
		"loader.entrypoint":                 checkLoaderEntrypoint,
		"loader.argv":                       checkArgv,
		"loader.argv_src_file":              func(v *validator, k string, x any) { v.m.Loader.ArgvSrcFile = v.uri(k, x) },
		"loader.insecure__use_cmdline_argv": func(v *validator, k string, x any) { v.m.Loader.UseCmdlineArgv, _ = v.boolean(k, x) },
		"loader.env.*":                      checkEnv,
		"loader.env_src_file":               func(v *validator, k string, x any) { v.m.Loader.EnvSrcFile = v.uri(k, x) },
		"loader.insecure__use_host_env":     func(v *validator, k string, x any) { v.m.Loader.UseHostEnv, _ = v.boolean(k, x) },
		"loader.uid": func(v *validator, k string, x any) {
			n, _ := v.integer(k, x, 0, math.MaxUint32)
			v.m.Loader.UID = uint32(n)
		},
		"loader.gid": func(v *validator, k string, x any) {
			n, _ := v.integer(k, x, 0, math.MaxUint32)
			v.m.Loader.GID = uint32(n)
		},
		"loader.log_level": func(v *validator, k string, x any) {
			if s, ok := v.enum(k, x, "none", "error", "warning", "debug", "trace", "all"); ok {
				v.m.Loader.LogLevel = s
			}
		},
		"loader.log_file":               func(v *validator, k string, x any) { v.m.Loader.LogFile, _ = v.str(k, x) },
		"loader.insecure__disable_aslr": func(v *validator, k string, x any) { v.m.Loader.DisableASLR, _ = v.boolean(k, x) },

		"libos.entrypoint": func(v *validator, k string, x any) {
			if s, ok := v.str(k, x); ok {
				if s == "" {
					v.fail(k, "must not be empty: name the application's first executable")
				}
				v.m.LibOS.Entrypoint = s
			}
		},
		"libos.check_invalid_pointers": func(v *validator, k string, x any) {
			if b, ok := v.boolean(k, x); ok {
				v.m.LibOS.CheckInvalidPointers = b
			}
		},
		"libos.sync.enable": ign(anyBool), // experimental, read by Gramine's runtime only

		"fs.root": func(v *validator, k string, x any) {
			if t, ok := v.table(k, x); ok {
				v.m.FS.Root = v.mount(k, t, false)
			}
		},
		"fs.start_dir": func(v *validator, k string, x any) {
			if s, ok := v.str(k, x); ok {
				if !strings.HasPrefix(s, "/") {
					v.fail(k, "path %q must be absolute", s)
				}
				v.m.FS.StartDir = s
			}
		},
		"fs.mounts":           checkMounts,
		"fs.insecure__keys.*": checkInsecureKey,

		"sgx.trusted_files": checkTrustedFiles,
		"sgx.allowed_files": checkAllowedFiles,
		"sgx.file_check_policy": func(v *validator, k string, x any) {
			if s, ok := v.enum(k, x, string(PolicyStrict), string(PolicyAllowAllButLog)); ok {
				v.m.FileCheckPolicy = FileCheckPolicy(s)
			}
		},
		"sgx.isvprodid": func(v *validator, k string, x any) {
			n, _ := v.integer(k, x, 0, math.MaxUint16)
			v.m.SGX.ISVProdID = uint16(n)
		},
		"sgx.isvsvn": func(v *validator, k string, x any) {
			n, _ := v.integer(k, x, 0, math.MaxUint16)
			v.m.SGX.ISVSVN = uint16(n)
		},
		"sgx.debug":              func(v *validator, k string, x any) { v.m.SGX.Debug, _ = v.boolean(k, x) },
		"sgx.remote_attestation": checkRemoteAttestation,

		// SGX-only keys: accepted, type-checked like Gramine's schema, no effect.
		"sgx.enclave_size":                             ign(anySize),
		"sgx.max_threads":                              ign(func(v *validator, k string, x any) { v.integer(k, x, 1, 4096) }),
		"sgx.edmm_enable":                              ign(anyBool),
		"sgx.use_exinfo":                               ign(anyBool),
		"sgx.cpu_features.avx":                         ign(enumOf("unspecified", "disabled", "required")),
		"sgx.cpu_features.avx512":                      ign(enumOf("unspecified", "disabled", "required")),
		"sgx.cpu_features.amx":                         ign(enumOf("unspecified", "disabled", "required")),
		"sgx.cpu_features.mpx":                         ign(enumOf("disabled", "required")),
		"sgx.cpu_features.pkru":                        ign(enumOf("disabled", "required")),
		"sgx.seal_key.flags_mask":                      ign(anyStr),
		"sgx.seal_key.xfrm_mask":                       ign(anyStr),
		"sgx.seal_key.misc_mask":                       ign(anyStr),
		"sgx.preheat_enclave":                          ign(anyBool),
		"sgx.enable_stats":                             ign(anyBool),
		"sgx.profile.enable":                           ign(enumOf("none", "main", "all")),
		"sgx.profile.mode":                             ign(enumOf("aex", "ocall_inner", "ocall_outer")),
		"sgx.profile.with_stack":                       ign(anyBool),
		"sgx.profile.frequency":                        ign(anyInt),
		"sgx.vtune_profile":                            ign(anyBool),
		"sgx.insecure__rpc_thread_num":                 ign(func(v *validator, k string, x any) { v.integer(k, x, 0, 256) }),
		"sgx.insecure__allow_memfaults_without_exinfo": ign(anyBool),
		"sgx.trusted_files_cache_size":                 ign(anySize),
		"sys.ioctl_structs.*":                          ign(func(v *validator, k string, x any) {}), // free-form layout description, as in Gramine's schema
		"sys.allowed_ioctls": ign(arrayOfTables(map[string]check{
			"request_code": anyInt, "struct": anyStr}, "request_code")),
		"sys.debug__mock_syscalls": ign(arrayOfTables(map[string]check{
			"name": anyStr, "return": anyInt}, "name")),

		"sys.enable_sigterm_injection": func(v *validator, k string, x any) { v.m.Sys.EnableSigtermInjection, _ = v.boolean(k, x) },
		"sys.disallow_subprocesses":    func(v *validator, k string, x any) { v.m.Sys.DisallowSubprocesses, _ = v.boolean(k, x) },
		"sys.fds.limit": func(v *validator, k string, x any) {
			if n, ok := v.integer(k, x, 0, math.MaxUint32); ok {
				v.m.Sys.FDsLimit = n
			}
		},
		"sys.stack.size": func(v *validator, k string, x any) {
			if n, ok := v.size(k, x); ok {
				v.m.Sys.StackSize = n
			}
		},
		"sys.brk.max_size": func(v *validator, k string, x any) {
			if n, ok := v.size(k, x); ok {
				v.m.Sys.BrkMaxSize = n
			}
		},
		"sys.enable_extra_runtime_domain_names_conf": func(v *validator, k string, x any) { v.m.Sys.EnableExtraRuntimeDomainNamesConf, _ = v.boolean(k, x) },
		"sys.insecure__allow_eventfd":                func(v *validator, k string, x any) { v.m.Sys.InsecureAllowEventfd, _ = v.boolean(k, x) },
		"sys.experimental__enable_flock":             func(v *validator, k string, x any) { v.m.Sys.ExperimentalEnableFlock, _ = v.boolean(k, x) },
	}
}

// validate checks the whole tree and fills the typed view.
func (m *Manifest) validate() error {
	m.Loader = Loader{LogLevel: "error"}
	m.LibOS = LibOS{CheckInvalidPointers: true}
	m.FS = FS{Root: Mount{Type: MountChroot, Path: "/", URI: "file:."}, StartDir: "/"}
	m.SGX = SGX{RemoteAttestation: AttestationNone}
	m.Sys = Sys{FDsLimit: 900, StackSize: 256 << 10, BrkMaxSize: 256 << 10}
	m.TrustedFiles, m.AllowedFiles, m.Ignored = nil, nil, nil
	m.FileCheckPolicy = PolicyStrict

	v := &validator{m: m, rules: schemaRules()}
	v.walk("", "", m.tree)
	if get(m.tree, "libos", "entrypoint") == nil {
		v.errs = append(v.errs, &KeyError{File: m.File, Key: "libos.entrypoint",
			Msg: "required key is missing: name the application's first executable, e.g. libos.entrypoint = \"/usr/bin/python3\""})
	}
	v.crossChecks()
	slices.Sort(m.Ignored)
	switch len(v.errs) {
	case 0:
		return nil
	case 1:
		return v.errs[0]
	}
	slices.SortStableFunc(v.errs, func(a, b error) int { return lineOf(a) - lineOf(b) })
	return errors.Join(v.errs...)
}

func lineOf(err error) int {
	var ke *KeyError
	if errors.As(err, &ke) {
		return ke.Line
	}
	return 0
}

// crossChecks implements the rules between keys that Gramine's runtime
// enforces.
func (v *validator) crossChecks() {
	l := v.m.Loader
	var argvOpts []string
	if l.Argv != nil {
		argvOpts = append(argvOpts, "loader.argv")
	}
	if l.ArgvSrcFile != "" {
		argvOpts = append(argvOpts, "loader.argv_src_file")
	}
	if l.UseCmdlineArgv {
		argvOpts = append(argvOpts, "loader.insecure__use_cmdline_argv")
	}
	if len(argvOpts) > 1 {
		v.fail(argvOpts[1], "cannot be combined with %s: the argv options are mutually exclusive; keep one", argvOpts[0])
	}
	if l.EnvSrcFile != "" && l.UseHostEnv {
		v.fail("loader.insecure__use_host_env", "cannot be combined with loader.env_src_file: keep one")
	}
}

func (v *validator) uri(key string, val any) string {
	s, ok := v.str(key, val)
	if !ok {
		return ""
	}
	if p, ok := uriPath(s); !ok || p == "" {
		v.fail(key, "URI %q must start with \"file:\" and name a path", s)
	}
	return s
}

func checkLoaderEntrypoint(v *validator, key string, val any) {
	if _, ok := val.(string); ok {
		v.fail(key, "the string form was removed in Gramine v1.9: use loader.entrypoint.uri (nacre has no separate LibOS binary, so you may delete the key)")
		return
	}
	t, ok := v.table(key, val)
	if !ok {
		return
	}
	v.fields(key, t, map[string]check{
		"uri": func(v *validator, k string, x any) { v.m.Loader.EntrypointURI = v.uri(k, x) },
		"sha256": func(v *validator, k string, x any) {
			if s, ok := v.str(k, x); ok {
				if !isSHA256(s) {
					v.fail(k, "%q is not a SHA-256 hash (64 hex digits)", s)
				}
				v.m.Loader.EntrypointSHA256 = strings.ToLower(s)
			}
		},
	}, "uri")
}

func checkArgv(v *validator, key string, val any) {
	a, ok := v.strArray(key, val)
	if !ok {
		return
	}
	if len(a) == 0 {
		v.fail(key, "must not be empty: argv[0] is the program name")
		return
	}
	v.m.Loader.Argv = a
}

func checkEnv(v *validator, key string, val any) {
	name := v.part
	if name == "" || strings.ContainsAny(name, "=\x00") {
		v.fail(key, "%q is not a valid environment variable name", name)
		return
	}
	ev := EnvVar{Name: name}
	switch x := val.(type) {
	case string:
		ev.Value = x
	case map[string]any:
		_, hasValue := x["value"]
		_, hasPass := x["passthrough"]
		v.fields(key, x, map[string]check{
			"value": func(v *validator, k string, y any) { ev.Value, _ = v.str(k, y) },
			"passthrough": func(v *validator, k string, y any) {
				b, ok := v.boolean(k, y)
				if ok && !b {
					v.fail(k, "passthrough = false is not supported (Gramine has no deny-lists): delete the entry to keep the variable out")
				}
				ev.Passthrough = b
			},
		})
		switch {
		case hasValue && hasPass:
			v.fail(key, "value and passthrough cannot be used together: keep one")
		case !hasValue && !hasPass:
			v.fail(key, "must be a string, { value = \"...\" } or { passthrough = true }")
		}
	default:
		v.fail(key, "must be a string, { value = \"...\" } or { passthrough = true }, not %s", typeName(val))
		return
	}
	v.m.Loader.Env = sortedEnv(append(v.m.Loader.Env, ev))
}

func checkInsecureKey(v *validator, key string, val any) {
	s, ok := v.str(key, val)
	if !ok {
		return
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		v.fail(key, "must be 32 hex digits (a 16-byte key), got %d characters", len(s))
		return
	}
	if v.m.FS.InsecureKeys == nil {
		v.m.FS.InsecureKeys = map[string][16]byte{}
	}
	v.m.FS.InsecureKeys[v.part] = [16]byte(b)
}

func checkRemoteAttestation(v *validator, key string, val any) {
	switch x := val.(type) {
	case bool:
		v.fail(key, "the boolean form was removed in Gramine v1.5: use \"dcap\" or \"none\"")
		return
	case string:
		if x == "epid" {
			v.fail(key, "EPID attestation was removed in Gramine v1.9: use \"dcap\"")
			return
		}
	}
	opts := make([]string, len(AttestationTypes))
	for i, a := range AttestationTypes {
		opts[i] = string(a)
	}
	if s, ok := v.enum(key, val, opts...); ok {
		v.m.SGX.RemoteAttestation = AttestationType(s)
	}
}

// isSHA256 reports whether s is 64 hex digits (either case), as
// hex.DecodeString would accept them, without allocating.
func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func checkTrustedFiles(v *validator, key string, val any) {
	if lt, ok := val.(*lazyTrusted); ok { // checked by parseFast
		v.m.TrustedFiles = slices.Clone(lt.files)
		v.m.trustedTable = lt.table // indices into lt.files, the same in the clone
		return
	}
	if _, ok := val.(map[string]any); ok {
		v.fail(key, "the table form (sgx.trusted_files.<id> = \"...\") was removed from Gramine: use an array, sgx.trusted_files = [\"file:...\"]")
		return
	}
	a, ok := val.([]any)
	if !ok {
		v.fail(key, "must be an array of \"file:...\" strings or { uri, sha256 } tables, not %s", typeName(val))
		return
	}
	seen := make(map[string]string, len(a))
	for i, e := range a {
		if tf, ok := trustedFast(e); ok {
			if prev, ok := seen[tf.URI]; ok && prev != tf.SHA256 {
				v.fail(fmt.Sprintf("%s[%d]", key, i), "%s is listed twice with different sha256 values", tf.URI)
			}
			seen[tf.URI] = tf.SHA256
			v.m.TrustedFiles = append(v.m.TrustedFiles, tf)
			continue
		}
		ek := fmt.Sprintf("%s[%d]", key, i)
		var tf TrustedFile
		switch x := e.(type) {
		case string:
			tf.URI = v.uri(ek, x)
		case map[string]any:
			v.fields(ek, x, map[string]check{
				"uri": func(v *validator, k string, y any) { tf.URI = v.uri(k, y) },
				"sha256": func(v *validator, k string, y any) {
					if s, ok := v.str(k, y); ok {
						if !isSHA256(s) {
							v.fail(k, "%q is not a SHA-256 hash (64 hex digits)", s)
						}
						tf.SHA256 = strings.ToLower(s)
					}
				},
			}, "uri")
			if strings.HasSuffix(tf.URI, "/") && tf.SHA256 != "" {
				v.fail(ek, "a directory (URI ending in \"/\") cannot have a sha256")
			}
		default:
			v.fail(ek, "must be a \"file:...\" string or a { uri, sha256 } table, not %s", typeName(e))
			continue
		}
		if tf.URI == "" {
			continue
		}
		if tf.SHA256 != "" {
			if prev, ok := seen[tf.URI]; ok && prev != tf.SHA256 {
				v.fail(ek, "%s is listed twice with different sha256 values", tf.URI)
			}
			seen[tf.URI] = tf.SHA256
		}
		v.m.TrustedFiles = append(v.m.TrustedFiles, tf)
	}
}

// trustedFast is trustedEntryFast; a variable so that tests can compare it
// with the generic path.
var trustedFast = trustedEntryFast

// trustedEntryFast accepts the entry form nacre sign writes,
// { uri = "file:...", sha256 = "<64 hex digits>" } with nothing else and
// nothing wrong, without the generic per-key checks: those allocate a table
// of checks and a dotted key per key of each entry, ~10 ms of nacre run's
// start for 7,900 entries. It reports false for anything else, which then
// takes the generic path, so the rules and errors are those of that path.
func trustedEntryFast(e any) (TrustedFile, bool) {
	x, ok := e.(map[string]any)
	if !ok || len(x) != 2 {
		return TrustedFile{}, false
	}
	uri, ok1 := x["uri"].(string)
	sum, ok2 := x["sha256"].(string)
	if !ok1 || !ok2 || !isSHA256(sum) || strings.HasSuffix(uri, "/") {
		return TrustedFile{}, false
	}
	if p, ok := uriPath(uri); !ok || p == "" {
		return TrustedFile{}, false
	}
	return TrustedFile{URI: uri, SHA256: strings.ToLower(sum)}, true
}

func checkAllowedFiles(v *validator, key string, val any) {
	if _, ok := val.(map[string]any); ok {
		v.fail(key, "the table form (sgx.allowed_files.<id> = \"...\") was removed from Gramine: use an array, sgx.allowed_files = [\"file:...\"]")
		return
	}
	a, ok := v.strArray(key, val)
	if !ok {
		return
	}
	for i, s := range a {
		p, isFile := strings.CutPrefix(s, "file:")
		if !isFile {
			p, _ = strings.CutPrefix(s, "dev:")
		}
		if p == s || p == "" {
			v.fail(fmt.Sprintf("%s[%d]", key, i), "URI %q must start with \"file:\" or \"dev:\" and name a path", s)
			continue
		}
		v.m.AllowedFiles = append(v.m.AllowedFiles, s)
	}
}

func checkMounts(v *validator, key string, val any) {
	a, ok := val.([]any)
	if !ok {
		v.fail(key, "must be an array of tables such as { path = \"/lib\", uri = \"file:/lib\" }, not %s", typeName(val))
		return
	}
	paths := map[string]string{}
	for i, e := range a {
		ek := fmt.Sprintf("%s[%d]", key, i)
		t, ok := v.table(ek, e)
		if !ok {
			continue
		}
		mt := v.mount(ek, t, true)
		if mt.Path == "" {
			continue
		}
		clean := path.Clean(mt.Path)
		if prev, ok := paths[clean]; ok {
			v.fail(ek+".path", "mount path %q is already used by %s: each path may be mounted once", mt.Path, prev)
			continue
		}
		paths[clean] = ek
		v.m.FS.Mounts = append(v.m.FS.Mounts, mt)
	}
}

// mount checks one fs.mounts element (withPath) or fs.root.
func (v *validator) mount(key string, t map[string]any, withPath bool) Mount {
	mt := Mount{Type: MountChroot}
	fields := map[string]check{
		"type": func(v *validator, k string, x any) {
			s, ok := v.str(k, x)
			if !ok {
				return
			}
			switch s {
			case MountChroot, MountTmpfs, MountEncrypted:
				mt.Type = s
			case "untrusted_shm":
				v.fail(k, "untrusted_shm mounts (host shared memory) are not supported by nacre: remove the mount")
			default:
				v.fail(k, "mount type %q is not one of \"chroot\", \"tmpfs\", \"encrypted\"", s)
			}
		},
		"uri":             func(v *validator, k string, x any) { mt.URI, _ = v.str(k, x) },
		"key_name":        func(v *validator, k string, x any) { mt.KeyName, _ = v.str(k, x) },
		"enable_recovery": func(v *validator, k string, x any) { mt.EnableRecovery, _ = v.boolean(k, x) },
	}
	if withPath {
		fields["path"] = func(v *validator, k string, x any) {
			if s, ok := v.str(k, x); ok {
				if !strings.HasPrefix(s, "/") {
					v.fail(k, "mount path %q must be absolute", s)
					return
				}
				mt.Path = s
			}
		}
		v.fields(key, t, fields, "path")
	} else {
		mt.Path = "/"
		if _, ok := t["path"]; ok {
			v.fail(key+".path", "fs.root has no path (it is always mounted at /): delete it, or move this mount to fs.mounts")
			delete(fields, "path")
			fields["path"] = func(*validator, string, any) {}
		}
		v.fields(key, t, fields)
	}
	if _, ok := t["key_name"]; ok && mt.Type != MountEncrypted {
		v.fail(key+".key_name", "only encrypted mounts have a key_name")
	}
	if _, ok := t["enable_recovery"]; ok && mt.Type != MountEncrypted {
		v.fail(key+".enable_recovery", "only encrypted mounts have enable_recovery")
	}
	if mt.Type == MountEncrypted && mt.KeyName == "" {
		mt.KeyName = "default"
	}
	if mt.Type != MountTmpfs {
		if _, ok := t["uri"]; !ok {
			v.fail(key, "missing required key \"uri\" for a %s mount (e.g. uri = \"file:/lib\")", mt.Type)
		} else if p, ok := uriPath(mt.URI); (!ok || p == "") && mt.URI != "" && !isDeviceMount(mt, withPath) {
			v.fail(key+".uri", "URI %q must start with \"file:\" (or \"dev:\" for a chroot mount of a host device) and name a path", mt.URI)
		}
	}
	return mt
}

// isDeviceMount reports a chroot mount of a host device (Gramine v1.6+:
// { path = "/dev/x", uri = "dev:/dev/x" }, also listed in sgx.allowed_files).
func isDeviceMount(mt Mount, withPath bool) bool {
	d, ok := strings.CutPrefix(mt.URI, "dev:")
	return ok && d != "" && withPath && mt.Type == MountChroot
}
