package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/manifest/render"
	"github.com/nacre-tee/nacre/internal/progress"
)

func init() { addCommand(newManifestCmd()) }

type manifestFlags struct {
	defines []string
	check   bool
	chroot  string
	python  string
}

// checkFlag backs both --check and --no-check; flags are applied in command
// line order, so the last one wins as with gramine-manifest.
type checkFlag struct {
	p    *bool
	want bool // value --check/--no-check stores
}

func (c checkFlag) String() string { return strconv.FormatBool(*c.p == c.want) }
func (c checkFlag) Type() string   { return "bool" }
func (c checkFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*c.p = b == c.want
	return nil
}

func newManifestCmd() *cobra.Command {
	var f manifestFlags
	c := &cobra.Command{
		Use:   "manifest [-D KEY[=VALUE]]... [--check|--no-check] [--chroot DIR] TEMPLATE [OUTPUT]",
		Short: "Render a manifest template (gramine-manifest counterpart)",
		Long: `manifest renders a Gramine manifest template (Jinja2 syntax, undefined
variables are errors), validates the result, expands trusted directories,
hashes every trusted file and writes the manifest to OUTPUT (default stdout).

Templates see the same globals as with gramine-manifest: gramine.runtimedir()
(nacre's copy of the host glibc, created on first use; see NACRE_RUNTIME_DIR),
gramine.libos, gramine.pkglibdir, python.* (from the host's python3), env and
ldd(). -D KEY=VALUE defines a string, -D KEY alone defines true.

nacre has no LibOS: the gramine.libos entry of sgx.trusted_files is dropped
(loader.entrypoint.uri naming it is accepted and ignored; the pre-v1.8
string form "loader.entrypoint = ..." is refused, as Gramine v1.9 does).

--no-check writes the rendered text without validating it or hashing files.
--chroot DIR reads trusted files from DIR instead of /.`,
		Example: `  nacre manifest -Dlog_level=error -Darch_libdir=/lib/x86_64-linux-gnu \
      -Dentrypoint=$(realpath $(which python3)) python.manifest.template python.manifest
  nacre manifest -D sgx --no-check sqlite.manifest.template`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := ""
			if len(args) == 2 && args[1] != "-" { // "-" is stdout, as for gramine-manifest
				out = args[1]
			}
			return runManifest(f, args[0], out, cmd.OutOrStdout())
		},
	}
	c.Flags().StringArrayVarP(&f.defines, "define", "D", nil, "define template variable KEY=VALUE (or KEY for true); repeatable")
	f.check = true
	c.Flags().Var(checkFlag{&f.check, true}, "check", "validate the rendered manifest and hash trusted files")
	c.Flags().Lookup("check").NoOptDefVal = "true"
	c.Flags().Var(checkFlag{&f.check, false}, "no-check", "write the rendered text as is: no validation, no hashing")
	c.Flags().Lookup("no-check").NoOptDefVal = "true"
	c.Flags().StringVar(&f.chroot, "chroot", "", "read trusted files from this directory instead of /")
	c.Flags().StringVar(&f.python, "python", "python3", "interpreter queried for the python.* template values")
	return c
}

// parseDefines turns -D arguments into template variables.
func parseDefines(defs []string) (map[string]any, error) {
	out := map[string]any{}
	for _, d := range defs {
		k, v, hasValue := strings.Cut(d, "=")
		if k == "" {
			return nil, fmt.Errorf("-D %q: empty variable name (use -D KEY=VALUE)", d)
		}
		if hasValue {
			out[k] = v
		} else {
			out[k] = true
		}
	}
	return out, nil
}

func runManifest(f manifestFlags, tmplPath, outPath string, stdout io.Writer) error {
	defines, err := parseDefines(f.defines)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(tmplPath)
	if err != nil {
		return fmt.Errorf("reading template: %w", err)
	}
	r := render.New(render.Options{Defines: defines, Python: f.python})
	text, err := r.Render(tmplPath, src)
	if err != nil {
		return err
	}
	if f.check {
		if text, err = checkAndHash(r, tmplPath, text, f.chroot); err != nil {
			return err
		}
	}
	if outPath == "" {
		_, err := stdout.Write(text)
		return err
	}
	return writeFileAtomic(outPath, text)
}

// checkAndHash validates the rendered manifest and fills in trusted file
// hashes. Its errors name "TEMPLATE (rendered)": their lines are those of
// the rendered text, which --no-check prints.
func checkAndHash(r *render.Renderer, tmplPath string, text []byte, chroot string) ([]byte, error) {
	name := tmplPath + " (rendered)"
	m, err := manifest.Parse(name, text)
	if err != nil {
		return nil, fmt.Errorf("%w\n(the line refers to the rendered manifest; see it with --no-check)", err)
	}
	if dropped, err := dropLibOS(m, r.LibOS()); err != nil {
		return nil, err
	} else if dropped {
		slog.Debug("dropped gramine.libos from sgx.trusted_files: nacre has no LibOS", "path", r.LibOS())
	}
	err = m.ExpandTrustedFiles(manifest.ExpandOptions{
		Chroot:   chroot,
		Progress: progress.Bytes(os.Stderr, "nacre: hashing trusted files"),
	})
	if err != nil {
		return nil, err
	}
	return m.Marshal()
}

// dropLibOS removes "file:<libos>" from sgx.trusted_files: the path is a
// placeholder (nacre has no LibOS binary) that Gramine templates list.
func dropLibOS(m *manifest.Manifest, libos string) (bool, error) {
	sgx, ok := m.Tree()["sgx"].(map[string]any)
	if !ok {
		return false, nil
	}
	list, ok := sgx["trusted_files"].([]any)
	if !ok {
		return false, nil
	}
	want := "file:" + libos
	kept := make([]any, 0, len(list))
	for _, e := range list {
		uri, _ := e.(string)
		if t, ok := e.(map[string]any); ok {
			uri, _ = t["uri"].(string)
		}
		if uri == want {
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) == len(list) {
		return false, nil
	}
	sgx["trusted_files"] = kept
	return true, m.Revalidate()
}

// writeFileAtomic writes data to path via a temporary file and rename, so a
// failed run never leaves a truncated manifest behind.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
