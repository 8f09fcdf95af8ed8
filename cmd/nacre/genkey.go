package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/measure"
)

// defaultKeyPath is $XDG_CONFIG_HOME/nacre/enclave-key.pem (or
// ~/.config/nacre/enclave-key.pem), like Gramine's default signing key.
func defaultKeyPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "nacre", "enclave-key.pem")
}

func newGenKeyCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "gen-key [FILE]",
		Short: "Create an RSA-3072 (e = 3) manifest signing key",
		Long: `gen-key creates a new RSA-3072 private key with public exponent 3 (the kind
gramine-sgx-gen-private-key creates) and writes it as PEM with mode 0600.
FILE defaults to $XDG_CONFIG_HOME/nacre/enclave-key.pem (~/.config/nacre/...).
An existing file is never overwritten unless -f is given.`,
		Example: `  nacre gen-key
  nacre gen-key -f keys/app-key.pem`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := defaultKeyPath()
			if len(args) == 1 {
				path = args[0]
			}
			return genKey(path, force)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "overwrite an existing key file")
	return c
}

func genKey(path string, force bool) error {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("key file %s already exists: use -f to overwrite it (the old key's signatures will no longer match new ones)", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checking key file: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating key directory: %w", err)
	}
	key, err := measure.GenerateKey(nil)
	if err != nil {
		return err
	}
	if err := writeFileSynced(path, measure.MarshalKey(key), 0o600, !force); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "nacre: wrote signing key %s (signer %x)\n", path, measure.SignerOf(key.N))
	return nil
}

// writeFileSynced writes data to a temporary file next to path and renames
// it into place, so readers never see a partial file. With exclusive, an
// existing path is an error (checked again at the rename via link).
func writeFileSynced(path string, data []byte, mode os.FileMode, exclusive bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if exclusive {
		// link fails if path exists, unlike rename.
		if err := os.Link(tmp, path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func init() { addCommand(newGenKeyCmd()) }
