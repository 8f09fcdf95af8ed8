package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/measure"
	"github.com/nacre-tee/nacre/internal/progress"
)

// signHook is where the trusted files' chunk-index sidecar is produced
// (LEAD: hook chunk-index generation here). It is called after trusted files
// are expanded and hashed, with the output path of the signed manifest, and
// returns the SHA-256 of the sidecar to be covered by the signature (or nil
// for none). nil by default.
var signHook func(m *manifest.Manifest, out string) (*[32]byte, error)

type signFlags struct {
	key, in, out, date, chroot string
}

func newSignCmd() *cobra.Command {
	var f signFlags
	c := &cobra.Command{
		Use:   "sign -m MANIFEST -o OUTPUT [-k KEY] [-d DATE] [--chroot DIR]",
		Short: "Hash trusted files and sign a manifest",
		Long: `sign loads a manifest, expands trusted directories, hashes every trusted file
that has no sha256 yet, and writes the signed manifest: the canonical TOML
followed by a "#nacre-signature v1" line (see docs/spec/measurement.md).
nacre run refuses a signed manifest changed by even one byte afterwards.

KEY defaults to $XDG_CONFIG_HOME/nacre/enclave-key.pem (create it with
nacre gen-key). DATE is YYYY-MM-DD (default today; 0000-00-00 for
reproducible builds).`,
		Example: `  nacre sign -m python.manifest -o python.manifest.signed
  nacre sign -k key.pem -m app.manifest -o app.manifest.signed -d 0000-00-00 --chroot rootfs/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.key == "" {
				f.key = defaultKeyPath()
			}
			return runSign(f)
		},
	}
	c.Flags().StringVarP(&f.key, "key", "k", "", "PEM signing key (default $XDG_CONFIG_HOME/nacre/enclave-key.pem)")
	c.Flags().StringVarP(&f.in, "manifest", "m", "", "input manifest (required)")
	c.Flags().StringVarP(&f.out, "output", "o", "", "signed manifest to write (required)")
	c.Flags().StringVarP(&f.date, "date", "d", "", "signature date YYYY-MM-DD or \"today\" (default today)")
	c.Flags().StringVar(&f.chroot, "chroot", "", "read trusted files from this directory instead of /")
	c.MarkFlagRequired("manifest")
	c.MarkFlagRequired("output")
	return c
}

func runSign(f signFlags) error {
	key, err := measure.LoadKey(f.key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w (create a signing key with: nacre gen-key %s)", err, f.key)
		}
		return err
	}
	m, err := manifest.Load(f.in)
	if err != nil {
		return err
	}
	err = m.ExpandTrustedFiles(manifest.ExpandOptions{Chroot: f.chroot, Progress: progress.Bytes(os.Stderr, "nacre: hashing trusted files")})
	if err != nil {
		return err
	}
	opts := measure.SignOptions{Date: f.date}
	if f.date == "today" {
		opts.Date = ""
	}
	if signHook != nil {
		ci, err := signHook(m, f.out)
		if err != nil {
			return fmt.Errorf("building chunk index: %w", err)
		}
		opts.ChunkIndexSHA256 = ci
	}
	out, err := measure.Sign(m, key, opts)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(f.out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating output directory: %w", err)
		}
	}
	if err := writeFileSynced(f.out, out, 0o644, false); err != nil {
		return err
	}
	s, err := measure.Open(f.out, out)
	if err != nil {
		return fmt.Errorf("checking the signed manifest (please report this): %w", err)
	}
	fmt.Fprintf(os.Stderr, "nacre: signed %s -> %s (%d trusted files)\n  measurement: %x\n  signer:      %x\n",
		f.in, f.out, len(m.TrustedFiles), s.Measurement, s.Signer)
	return nil
}

func init() { addCommand(newSignCmd()) }
