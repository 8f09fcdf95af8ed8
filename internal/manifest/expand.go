package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// ExpandOptions configures ExpandTrustedFiles.
type ExpandOptions struct {
	// Chroot, if set, is the host directory that stands for "/": trusted
	// files are read from Chroot/<path> (relative URIs too), as with
	// gramine-sgx-sign --chroot. URIs in the manifest are not changed.
	Chroot string
	// Workers is the number of files hashed in parallel (default GOMAXPROCS).
	Workers int
	// Progress, if set, is called (from one goroutine at a time) as bytes
	// are hashed.
	Progress func(doneBytes, totalBytes int64)
}

// ExpandTrustedFiles expands directory entries of sgx.trusted_files
// recursively (regular readable files only, symlinks to directories are not
// descended, entries sorted by path), merges duplicate URIs (conflicting
// sha256 values are an error), hashes every file lacking a sha256 and writes
// the { uri, sha256 } forms back into the tree and TrustedFiles. Hashes
// already present are kept without reading the file.
func (m *Manifest) ExpandTrustedFiles(opts ExpandOptions) error {
	type entry struct {
		TrustedFile
		host string
		size int64
	}
	var entries []*entry
	index := map[string]*entry{}
	add := func(uri, sha, host string, size int64) error {
		if prev, ok := index[uri]; ok {
			switch {
			case prev.SHA256 == "":
				prev.SHA256 = sha
			case sha != "" && sha != prev.SHA256:
				return fmt.Errorf("%s: sgx.trusted_files lists %s twice with different sha256 values (%s and %s)", m.File, uri, prev.SHA256, sha)
			}
			return nil
		}
		e := &entry{TrustedFile{URI: uri, SHA256: sha}, host, size}
		index[uri] = e
		entries = append(entries, e)
		return nil
	}
	for i, tf := range m.TrustedFiles {
		key := fmt.Sprintf("sgx.trusted_files[%d]", i)
		host, err := TrustedHostPath(tf.URI, opts.Chroot)
		if err != nil {
			return &KeyError{File: m.File, Line: m.Line(key), Key: key, Msg: err.Error()}
		}
		if tf.SHA256 != "" {
			if err := add(tf.URI, tf.SHA256, host, 0); err != nil {
				return err
			}
			continue
		}
		st, err := os.Stat(host)
		if err != nil {
			return &KeyError{File: m.File, Line: m.Line(key), Key: key,
				Msg: fmt.Sprintf("trusted file %s cannot be read: %v (fix the path or remove the entry)", tf.URI, err)}
		}
		if !st.IsDir() {
			if !st.Mode().IsRegular() {
				return &KeyError{File: m.File, Line: m.Line(key), Key: key, Msg: fmt.Sprintf("trusted file %s is not a regular file", tf.URI)}
			}
			if err := add(strings.TrimSuffix(tf.URI, "/"), "", host, st.Size()); err != nil {
				return err
			}
			continue
		}
		base := strings.TrimSuffix(tf.URI, "/") + "/"
		err = filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == host {
					return err
				}
				return nil // unreadable subdirectory: skipped, like any unreadable file
			}
			if d.IsDir() {
				return nil
			}
			st, err := os.Stat(p) // follows symlinks to files; WalkDir never descends symlinked dirs
			if err != nil || !st.Mode().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return nil // not readable: skipped
			}
			f.Close()
			rel, err := filepath.Rel(host, p)
			if err != nil {
				return err
			}
			return add(base+filepath.ToSlash(rel), "", p, st.Size())
		})
		if err != nil {
			return &KeyError{File: m.File, Line: m.Line(key), Key: key, Msg: fmt.Sprintf("expanding trusted directory %s: %v", tf.URI, err)}
		}
	}

	var todo []*entry
	var total int64
	for _, e := range entries {
		if e.SHA256 == "" {
			todo = append(todo, e)
			total += e.size
		}
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		mu      sync.Mutex
		done    int64
		errs    []error
		wg      sync.WaitGroup
		next    = make(chan *entry)
		reportN = func(n int64) {
			if opts.Progress == nil {
				return
			}
			mu.Lock()
			done += n
			opts.Progress(done, total)
			mu.Unlock()
		}
	)
	for range min(workers, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range next {
				sum, err := hashFile(e.host, reportN)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: hashing trusted file %s: %w", m.File, e.URI, err))
					mu.Unlock()
					continue
				}
				e.SHA256 = sum
			}
		}()
	}
	for _, e := range todo {
		next <- e
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	list := make([]any, len(entries))
	m.trustedTable = nil // indexes the list being replaced
	m.TrustedFiles = make([]TrustedFile, len(entries))
	for i, e := range entries {
		list[i] = map[string]any{"uri": e.URI, "sha256": e.SHA256}
		m.TrustedFiles[i] = e.TrustedFile
	}
	sgx, ok := m.tree["sgx"].(map[string]any)
	if !ok {
		sgx = map[string]any{}
		m.tree["sgx"] = sgx
	}
	sgx["trusted_files"] = list
	return nil
}

// TrustedHostPath maps a trusted file URI to the host path to read: with an
// empty chroot it is HostPath(uri); otherwise chroot/<path> for absolute and
// relative paths alike (as ExpandOptions.Chroot does).
func TrustedHostPath(uri, chroot string) (string, error) {
	if chroot == "" {
		return HostPath(uri)
	}
	p, ok := uriPath(uri)
	if !ok || p == "" {
		return "", fmt.Errorf("URI %q does not start with \"file:\"", uri)
	}
	return filepath.Join(chroot, filepath.FromSlash(p)), nil
}

type progressWriter struct {
	report  func(int64)
	pending int64
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.pending += int64(len(p))
	if w.pending >= 1<<20 {
		w.report(w.pending)
		w.pending = 0
	}
	return len(p), nil
}

func hashFile(path string, report func(int64)) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	pw := &progressWriter{report: report}
	if _, err := io.Copy(io.MultiWriter(h, pw), f); err != nil {
		return "", err
	}
	if pw.pending > 0 {
		report(pw.pending)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
