package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/pf"
)

func init() { addCommand(newPfCmd()) }

// newPfCmd is nacre's gramine-sgx-pf-crypt (plus pf-tamper): offline tools
// for Gramine protected ("encrypted") files.
func newPfCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "pf",
		Short: "Encrypt, decrypt and test Gramine protected (encrypted) files",
		Long: `pf works on Gramine protected files (the format of encrypted mounts), like
gramine-sgx-pf-crypt and gramine-sgx-pf-tamper. The wrap key (KDK) file holds
exactly 16 raw bytes.

The path of each output file (as given with -o, normalized: "./a/../a/f"
becomes "a/f") is bound into the encrypted file; Gramine and nacre refuse to
open it under any other path, so encrypt to exactly the host path the
manifest's encrypted mount will use.`,
		Example: `  nacre pf gen-key -w wrap.key
  nacre pf encrypt -w wrap.key -i plain/ -o enc/
  nacre pf decrypt -w wrap.key -i enc/data.db -o data.db -V`,
	}
	c.AddCommand(newPfGenKeyCmd(), newPfEncryptCmd(), newPfDecryptCmd(), newPfTamperCmd())
	return c
}

func newPfGenKeyCmd() *cobra.Command {
	var keyPath string
	var force bool
	c := &cobra.Command{
		Use:     "gen-key -w KEYFILE",
		Short:   "Write a new random 16-byte wrap key",
		Example: `  nacre pf gen-key -w wrap.key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyPath == "" {
				return errors.New("pf gen-key: -w KEYFILE is required")
			}
			var k [16]byte
			if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
				return fmt.Errorf("pf gen-key: random source: %w", err)
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			if !force {
				flags |= os.O_EXCL
			}
			f, err := os.OpenFile(keyPath, flags, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("pf gen-key: %s already exists: use -f to overwrite it (files encrypted with the old key become unreadable)", keyPath)
			}
			if err != nil {
				return fmt.Errorf("pf gen-key: %w", err)
			}
			if _, err := f.Write(k[:]); err != nil {
				f.Close()
				return fmt.Errorf("pf gen-key: writing %s: %w", keyPath, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("pf gen-key: writing %s: %w", keyPath, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "nacre: wrote wrap key %s\n", keyPath)
			return nil
		},
	}
	c.Flags().StringVarP(&keyPath, "wrap-key", "w", "", "key file to create (16 raw bytes)")
	c.Flags().BoolVarP(&force, "force", "f", false, "overwrite an existing key file")
	return c
}

type pfIOFlags struct {
	key, in, out string
	verbose      bool
}

func (fl *pfIOFlags) register(c *cobra.Command) {
	c.Flags().StringVarP(&fl.key, "wrap-key", "w", "", "wrap key file (16 raw bytes)")
	c.Flags().StringVarP(&fl.in, "input", "i", "", "input file or directory")
	c.Flags().StringVarP(&fl.out, "output", "o", "", "output file or directory")
	c.Flags().BoolVarP(&fl.verbose, "verbose", "v", false, "print each file processed")
}

func (fl *pfIOFlags) check(mode string) ([16]byte, error) {
	if fl.key == "" || fl.in == "" || fl.out == "" {
		return [16]byte{}, fmt.Errorf("pf %s: -w KEY, -i INPUT and -o OUTPUT are required", mode)
	}
	return pfReadKey(fl.key)
}

func pfReadKey(path string) ([16]byte, error) {
	var k [16]byte
	b, err := os.ReadFile(path)
	if err != nil {
		return k, fmt.Errorf("reading wrap key: %w", err)
	}
	if len(b) != 16 {
		return k, fmt.Errorf("wrap key %s has %d bytes: a wrap key is exactly 16 raw bytes (make one with nacre pf gen-key -w FILE)", path, len(b))
	}
	copy(k[:], b)
	return k, nil
}

func newPfEncryptCmd() *cobra.Command {
	var fl pfIOFlags
	c := &cobra.Command{
		Use:   "encrypt -w KEY -i IN -o OUT",
		Short: "Encrypt a file or directory tree into protected files",
		Long: `encrypt writes OUT as a protected file bound to the normalized OUT path.
With a directory IN, every regular file below it is encrypted to the same
relative path below OUT, each bound to its own output path.`,
		Example: `  nacre pf encrypt -w wrap.key -i secrets.txt -o enc/secrets.txt
  nacre pf encrypt -w wrap.key -i plain/ -o enc/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := fl.check("encrypt")
			if err != nil {
				return err
			}
			return pfWalk(cmd, fl, func(in, out string) error { return pfEncryptFile(key, in, out) })
		},
	}
	fl.register(c)
	return c
}

func newPfDecryptCmd() *cobra.Command {
	var fl pfIOFlags
	var verify bool
	c := &cobra.Command{
		Use:   "decrypt -w KEY -i IN -o OUT [-V]",
		Short: "Decrypt protected files (a file or a directory tree)",
		Long: `decrypt authenticates every node of IN and writes the plaintext to OUT. With
-V/--verify the path bound into each file must equal its (normalized) input
path, as when Gramine opens it. Nothing is written for a file that fails a
check.`,
		Example: `  nacre pf decrypt -w wrap.key -i enc/secrets.txt -o secrets.txt -V
  nacre pf decrypt -w wrap.key -i enc/ -o plain/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := fl.check("decrypt")
			if err != nil {
				return err
			}
			return pfWalk(cmd, fl, func(in, out string) error { return pfDecryptFile(key, in, out, verify) })
		},
	}
	fl.register(c)
	c.Flags().BoolVarP(&verify, "verify", "V", false, "check that the bound path equals the input path")
	return c
}

func newPfTamperCmd() *cobra.Command {
	var fl pfIOFlags
	c := &cobra.Command{
		Use:   "tamper -w KEY -i PF -o OUTDIR",
		Short: "Write corrupted variants of a protected file (for tests)",
		Long: `tamper writes OUTDIR/<name>.<variant> for many deliberately corrupted copies
of the protected file PF (flipped header bytes, metadata fields changed and
re-encrypted with the right key, root MHT entries changed, data nodes flipped
or swapped, cuts at field and node boundaries, extension). A correct reader
must reject every one of them.`,
		Example: `  nacre pf tamper -w wrap.key -i enc/data.pf -o /tmp/tampered`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := fl.check("tamper")
			if err != nil {
				return err
			}
			return pfTamper(cmd, key, fl)
		},
	}
	fl.register(c)
	return c
}

// pfWalk applies fn to IN->OUT, or to every regular file below a directory IN.
func pfWalk(cmd *cobra.Command, fl pfIOFlags, fn func(in, out string) error) error {
	st, err := os.Stat(fl.in)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		if err := fn(fl.in, fl.out); err != nil {
			return err
		}
		if fl.verbose {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s -> %s\n", fl.in, fl.out)
		}
		return nil
	}
	var files []string
	err = filepath.WalkDir(fl.in, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		} else if !d.IsDir() {
			slog.Warn("pf: skipping non-regular file", "path", p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	progress := pfIsTerminal(cmd.ErrOrStderr()) && !fl.verbose
	var failed int
	for i, p := range files {
		rel, err := filepath.Rel(fl.in, p)
		if err != nil {
			return err
		}
		out := filepath.Join(fl.out, rel)
		if progress {
			fmt.Fprintf(cmd.ErrOrStderr(), "\r\033[K[%d/%d] %s", i+1, len(files), rel)
		}
		if err := fn(p, out); err != nil {
			if progress {
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "nacre: %v\n", err)
			failed++
			continue
		}
		if fl.verbose {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s -> %s\n", p, out)
		}
	}
	if progress {
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d files failed", failed, len(files))}
	}
	return nil
}

func pfIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const pfChunk = 1 << 20

// pfEncryptFile encrypts in to a temporary file next to out and renames it
// into place; the bound path is the normalized out path.
func pfEncryptFile(key [16]byte, in, out string) (err error) {
	src, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("encrypt %s: %w", in, err)
	}
	defer src.Close()
	bound := pf.NormalizePath(out)
	return pfWriteAtomic(out, func(tmp *os.File) error {
		f, err := pf.Create(pf.FileBacking{File: tmp}, bound, key, pf.Options{})
		if err != nil {
			return err
		}
		buf := make([]byte, pfChunk)
		var off int64
		for {
			n, rerr := io.ReadFull(src, buf)
			if n > 0 {
				if _, err := f.WriteAt(buf[:n], off); err != nil {
					f.Close()
					return err
				}
				off += int64(n)
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				f.Close()
				return fmt.Errorf("reading %s: %w", in, rerr)
			}
		}
		return f.Close()
	})
}

// pfDecryptFile decrypts in to out; on any failure no output is left behind.
func pfDecryptFile(key [16]byte, in, out string, verify bool) error {
	src, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("decrypt %s: %w", in, err)
	}
	defer src.Close()
	f, err := pf.Open(pf.FileBacking{File: src}, pf.NormalizePath(in), key, pf.Options{ReadOnly: true, SkipPathCheck: !verify})
	if err != nil {
		return pfExplain(in, err)
	}
	defer f.Close()
	return pfWriteAtomic(out, func(dst *os.File) error {
		buf := make([]byte, pfChunk)
		size := f.Size()
		for off := int64(0); off < size; {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
			if err != nil && !(errors.Is(err, io.EOF) && off+int64(n) == size) {
				return pfExplain(in, err)
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return err
			}
			off += int64(n)
		}
		return nil
	})
}

// pfExplain adds what to do to an integrity error.
func pfExplain(file string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, pf.ErrPathMismatch):
		hint = "decrypt without -V, or move the file back to the path it was encrypted for"
	case errors.Is(err, pf.ErrWrongKey):
		hint = "use the wrap key the file was encrypted with"
	case errors.Is(err, pf.ErrRecoveryNeeded):
		hint = "a write was interrupted; open it in nacre/Gramine with the .gramine.recovery file next to it"
	case errors.Is(err, pf.ErrBadMagic), errors.Is(err, pf.ErrBadVersion):
		hint = "this is not a protected file (or it was made by an incompatible tool)"
	case errors.Is(err, pf.ErrTampered):
		hint = "the file is corrupted or was tampered with; restore it from a backup"
	}
	if hint != "" {
		return &exitError{code: 1, err: fmt.Errorf("%s: %w (%s)", file, err, hint)}
	}
	return fmt.Errorf("%s: %w", file, err)
}

// pfWriteAtomic creates out's directory, lets fill write a temporary file
// next to it, then renames it to out. On error the temporary file is removed.
func pfWriteAtomic(out string, fill func(*os.File) error) error {
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(out)+".nacre-tmp*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	ok = true
	return nil
}

func pfTamper(cmd *cobra.Command, key [16]byte, fl pfIOFlags) error {
	raw, err := os.ReadFile(fl.in)
	if err != nil {
		return err
	}
	f, err := pf.Open(pf.NewMemBacking(raw), "", key, pf.Options{ReadOnly: true, SkipPathCheck: true})
	if err != nil {
		return pfExplain(fl.in, err)
	}
	bound := f.Path()
	f.Close()
	vs, err := pf.TamperVariants(raw, key, bound)
	if err != nil {
		return pfExplain(fl.in, err)
	}
	if err := os.MkdirAll(fl.out, 0o755); err != nil {
		return err
	}
	base := filepath.Base(fl.in)
	for _, v := range vs {
		p := filepath.Join(fl.out, base+"."+v.Name)
		if err := os.WriteFile(p, v.Data, 0o644); err != nil {
			return err
		}
		if fl.verbose {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", p, v.What)
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "nacre: wrote %d tampered variants of %s (bound to %q) to %s\n", len(vs), fl.in, bound, fl.out)
	return nil
}
