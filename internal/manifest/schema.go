package manifest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// check validates the value of one key and fills the typed view.
type check func(v *validator, key string, val any)

// removedKeys maps keys (or whole tables) Gramine no longer accepts to what
// replaced them.
var removedKeys = map[string]string{
	"loader.exec":                            "was removed from Gramine: name the program in libos.entrypoint and its arguments in loader.argv",
	"loader.preload":                         "was removed in Gramine v1.2 (the LibOS is loaded automatically): delete it",
	"loader.argv0_override":                  "was removed in Gramine v1.3: set the whole argv with loader.argv",
	"loader.pal_internal_mem_size":           "was removed in Gramine v1.5: delete it",
	"loader.syscall_symbol":                  "was removed from Gramine: delete it",
	"sgx.thread_num":                         "was renamed sgx.max_threads in Gramine v1.4 (the old name was removed in v1.5); nacre ignores it: rename or delete it",
	"sgx.rpc_thread_num":                     "was renamed sgx.insecure__rpc_thread_num in Gramine v1.3: rename it",
	"sgx.require_exinfo":                     "was replaced by sgx.use_exinfo: rename it",
	"sgx.require_avx":                        "was replaced by sgx.cpu_features.avx = \"required\" (removed in Gramine v1.8)",
	"sgx.require_avx512":                     "was replaced by sgx.cpu_features.avx512 = \"required\" (removed in Gramine v1.8)",
	"sgx.require_amx":                        "was replaced by sgx.cpu_features.amx = \"required\" (removed in Gramine v1.8)",
	"sgx.require_mpx":                        "was replaced by sgx.cpu_features.mpx = \"required\" (removed in Gramine v1.8)",
	"sgx.require_pkru":                       "was replaced by sgx.cpu_features.pkru = \"required\" (removed in Gramine v1.8)",
	"sgx.nonpie_binary":                      "was removed in Gramine v1.5: delete it",
	"sgx.sigfile":                            "is rejected by Gramine: the signature is found next to the manifest; delete it",
	"sgx.protected_files":                    "was removed in Gramine v1.5: use an encrypted mount, e.g. fs.mounts = [{ type = \"encrypted\", path = \"/data\", uri = \"file:data\" }]",
	"sgx.protected_mrenclave_files":          "was removed in Gramine v1.5: use an encrypted mount with key_name = \"_sgx_mrenclave\"",
	"sgx.protected_mrsigner_files":           "was removed in Gramine v1.5: use an encrypted mount with key_name = \"_sgx_mrsigner\"",
	"sgx.insecure__protected_files_key":      "was removed in Gramine v1.5: use fs.insecure__keys.default",
	"fs.insecure__protected_files_key":       "was removed in Gramine v1.5: use fs.insecure__keys.default",
	"sgx.ra_client_spid":                     "belongs to EPID attestation, removed in Gramine v1.9: use sgx.remote_attestation = \"dcap\" and delete it",
	"sgx.ra_client_linkable":                 "belongs to EPID attestation, removed in Gramine v1.9: use sgx.remote_attestation = \"dcap\" and delete it",
	"sgx.trusted_checksum":                   "was removed from Gramine: write hashes as sgx.trusted_files = [{ uri = \"file:...\", sha256 = \"...\" }]",
	"fs.mount":                               "tables (fs.mount.<id>) were removed in Gramine v1.5: use the fs.mounts array, e.g. fs.mounts = [{ path = \"/lib\", uri = \"file:/lib\" }]",
	"fs.experimental__enable_sysfs_topology": "was removed from Gramine (sysfs topology is always on): delete it",
}

type validator struct {
	m     *Manifest
	errs  []error
	rules map[string]check
	part  string // raw last key part of the key being checked (for "*" rules)
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, &KeyError{File: v.m.File, Line: v.m.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func typeName(val any) string {
	switch val.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	}
	return "a date/time"
}

func (v *validator) str(key string, val any) (string, bool) {
	s, ok := val.(string)
	if !ok {
		v.fail(key, "must be a string, not %s", typeName(val))
	}
	return s, ok
}

func (v *validator) boolean(key string, val any) (bool, bool) {
	b, ok := val.(bool)
	if !ok {
		v.fail(key, "must be a boolean (true or false), not %s", typeName(val))
	}
	return b, ok
}

func (v *validator) integer(key string, val any, lo, hi int64) (int64, bool) {
	n, ok := val.(int64)
	if !ok {
		v.fail(key, "must be an integer, not %s", typeName(val))
		return 0, false
	}
	if n < lo || n > hi {
		v.fail(key, "value %d is out of range: must be between %d and %d", n, lo, hi)
		return 0, false
	}
	return n, true
}

func (v *validator) size(key string, val any) (int64, bool) {
	s, ok := val.(string)
	if !ok {
		v.fail(key, "must be a size string such as \"256M\", not %s", typeName(val))
		return 0, false
	}
	n, err := ParseSize(s)
	if err != nil {
		v.fail(key, "%v", err)
		return 0, false
	}
	return n, true
}

func (v *validator) enum(key string, val any, options ...string) (string, bool) {
	s, ok := v.str(key, val)
	if !ok {
		return "", false
	}
	if !slices.Contains(options, s) {
		v.fail(key, "value %q is not one of %s", s, quoteList(options))
		return "", false
	}
	return s, true
}

func (v *validator) table(key string, val any) (map[string]any, bool) {
	t, ok := val.(map[string]any)
	if !ok {
		v.fail(key, "must be a table, not %s", typeName(val))
	}
	return t, ok
}

func (v *validator) strArray(key string, val any) ([]string, bool) {
	a, ok := val.([]any)
	if !ok {
		v.fail(key, "must be an array of strings, not %s", typeName(val))
		return nil, false
	}
	out := make([]string, 0, len(a))
	good := true
	for i, e := range a {
		s, ok := v.str(fmt.Sprintf("%s[%d]", key, i), e)
		good = good && ok
		out = append(out, s)
	}
	return out, good
}

func quoteList(options []string) string {
	q := make([]string, len(options))
	for i, o := range options {
		q[i] = fmt.Sprintf("%q", o)
	}
	return strings.Join(q, ", ")
}

// walk checks every key of table t, whose schema pattern is pattern and
// whose display key is key ("" for the root).
func (v *validator) walk(pattern, key string, t map[string]any) {
	for _, k := range sortedKeys(t) {
		pat, disp := k, keyPath(key, k)
		if pattern != "" {
			pat = pattern + "." + k
		}
		val := t[k]
		v.part = k
		if msg, ok := removedKeys[pat]; ok {
			v.fail(disp, "%s", msg)
			continue
		}
		if c, ok := v.rules[pat]; ok {
			c(v, disp, val)
			continue
		}
		if pattern != "" {
			if c, ok := v.rules[pattern+".*"]; ok {
				c(v, disp, val)
				continue
			}
		}
		if v.isTable(pat) {
			if sub, ok := v.table(disp, val); ok {
				v.walk(pat, disp, sub)
			}
			continue
		}
		v.unknown(disp, pattern)
	}
}

// isTable reports whether some rule lives below pattern.
func (v *validator) isTable(pattern string) bool {
	return tablePatterns()[pattern]
}

// schemaRules and tablePatterns are built once; the checks keep no state of
// their own (they write through the validator).
var (
	schemaRules   = sync.OnceValue(rules)
	tablePatterns = sync.OnceValue(func() map[string]bool {
		t := map[string]bool{}
		for k := range schemaRules() {
			for p := parentKey(k); p != ""; p = parentKey(p) {
				t[p] = true
			}
		}
		return t
	})
)

func (v *validator) unknown(key, parentPattern string) {
	seen := map[string]bool{}
	var cands []string
	for k := range v.rules {
		if strings.HasSuffix(k, ".*") {
			k = parentKey(k) // "loader.env.*" offers "loader.env"
		}
		// Tables are candidates too, so "sgxx" suggests "sgx".
		for p := k; p != "" && !seen[p]; p = parentKey(p) {
			seen[p] = true
			cands = append(cands, p)
		}
	}
	where := "the manifest"
	if parentPattern != "" {
		where = parentPattern
	}
	v.errs = append(v.errs, &KeyError{
		File: v.m.File, Line: v.m.Line(key), Key: key,
		Msg:     fmt.Sprintf("unknown key in %s (nacre follows Gramine v1.9's manifest syntax; see docs/spec/manifest.md)", where),
		Suggest: closest(key, cands),
	})
}

// ignored wraps a check for an SGX-only key: type-checked, recorded in
// Manifest.Ignored, otherwise without effect.
func ignored(c check) check {
	return func(v *validator, key string, val any) {
		v.m.Ignored = append(v.m.Ignored, key)
		c(v, key, val)
	}
}

func anyStr(v *validator, key string, val any)  { v.str(key, val) }
func anyBool(v *validator, key string, val any) { v.boolean(key, val) }
func anySize(v *validator, key string, val any) { v.size(key, val) }
func anyInt(v *validator, key string, val any)  { v.integer(key, val, math.MinInt64, math.MaxInt64) }
func enumOf(options ...string) check {
	return func(v *validator, key string, val any) { v.enum(key, val, options...) }
}

// arrayOfTables checks an array whose elements are tables with the given
// keys; required keys must be present.
func arrayOfTables(fields map[string]check, required ...string) check {
	return func(v *validator, key string, val any) {
		a, ok := val.([]any)
		if !ok {
			v.fail(key, "must be an array of tables, not %s", typeName(val))
			return
		}
		for i, e := range a {
			ek := fmt.Sprintf("%s[%d]", key, i)
			t, ok := v.table(ek, e)
			if !ok {
				continue
			}
			v.fields(ek, t, fields, required...)
		}
	}
}

// fields checks a table against a fixed set of keys.
func (v *validator) fields(key string, t map[string]any, fields map[string]check, required ...string) {
	for _, r := range required {
		if _, ok := t[r]; !ok {
			v.fail(key, "missing required key %q", r)
		}
	}
	var cands []string
	for f := range fields {
		cands = append(cands, keyPath(key, f))
	}
	for _, k := range sortedKeys(t) {
		fk := keyPath(key, k)
		if c, ok := fields[k]; ok {
			c(v, fk, t[k])
			continue
		}
		v.errs = append(v.errs, &KeyError{File: v.m.File, Line: v.m.Line(fk), Key: fk,
			Msg: fmt.Sprintf("unknown key in %s", key), Suggest: closest(fk, cands)})
	}
}
