// Package teetest owns test doubles for internal/tee: an in-memory
// configfs-tsm that behaves like the kernel's (one directory per report,
// inputs bump the generation counter, outblob generated on read).
package teetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// FakeTSM emulates /sys/kernel/config/tsm/report under Root.
type FakeTSM struct {
	Root     string // e.g. "/sys/kernel/config/tsm/report"
	Provider string // "tdx_guest", "sev_guest"
	// Generate makes the outblob and auxblob for an inblob; default: a
	// recognisable fake report "FAKE-<provider>:" | inblob.
	Generate func(inblob []byte) (out, aux []byte)

	mu sync.Mutex
	// BusyReads makes the next n outblob reads fail with EBUSY.
	BusyReads int
	// EmptyOutblob makes outblob reads return nothing (old QGS).
	EmptyOutblob bool
	// RaceOnce bumps the generation of the entry being read once, as a
	// concurrent writer would.
	RaceOnce bool

	entries map[string]*entry
	// Created counts entries ever created; Removed counts rmdirs.
	Created, Removed int
}

type entry struct {
	inblob []byte
	gen    uint64
}

// NewFakeTSM returns a fake for provider rooted at root.
func NewFakeTSM(root, provider string) *FakeTSM {
	return &FakeTSM{Root: root, Provider: provider, entries: map[string]*entry{}}
}

// Live is the number of entries not yet removed.
func (f *FakeTSM) Live() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}

func (f *FakeTSM) split(p string) (dir, attr string, err error) {
	rel, err := filepath.Rel(f.Root, p)
	if err != nil || strings.HasPrefix(rel, "..") || rel == "." {
		return "", "", &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	dir, attr, _ = strings.Cut(rel, "/")
	return dir, attr, nil
}

func (f *FakeTSM) Mkdir(p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir, attr, err := f.split(p)
	if err != nil || attr != "" {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrNotExist}
	}
	if f.entries == nil {
		f.entries = map[string]*entry{}
	}
	if _, ok := f.entries[dir]; ok {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
	}
	f.entries[dir] = &entry{}
	f.Created++
	return nil
}

func (f *FakeTSM) Rmdir(p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir, attr, err := f.split(p)
	if err != nil || attr != "" || f.entries[dir] == nil {
		return &fs.PathError{Op: "rmdir", Path: p, Err: fs.ErrNotExist}
	}
	delete(f.entries, dir)
	f.Removed++
	return nil
}

func (f *FakeTSM) WriteFile(p string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir, attr, err := f.split(p)
	e := f.entries[dir]
	if err != nil || e == nil {
		return &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	switch attr {
	case "inblob":
		if len(data) > 64 || (f.Provider == "sev_guest" && len(data) != 64) {
			return &fs.PathError{Op: "write", Path: p, Err: syscall.EINVAL}
		}
		e.inblob = bytes.Clone(data)
		e.gen++
		return nil
	case "privlevel":
		e.gen++
		return nil
	case "outblob", "auxblob", "provider", "generation":
		return &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
	}
	return &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

func (f *FakeTSM) ReadFile(p string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir, attr, err := f.split(p)
	e := f.entries[dir]
	if err != nil || e == nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	switch attr {
	case "provider":
		return []byte(f.Provider + "\n"), nil
	case "generation":
		return []byte(strconv.FormatUint(e.gen, 10) + "\n"), nil
	case "outblob":
		if f.BusyReads > 0 {
			f.BusyReads--
			return nil, &fs.PathError{Op: "read", Path: p, Err: syscall.EBUSY}
		}
		if f.RaceOnce {
			f.RaceOnce = false
			e.gen++
		}
		if f.EmptyOutblob {
			return nil, nil
		}
		out, _ := f.generate(e.inblob)
		return out, nil
	case "auxblob":
		_, aux := f.generate(e.inblob)
		return aux, nil
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

func (f *FakeTSM) generate(in []byte) ([]byte, []byte) {
	if f.Generate != nil {
		return f.Generate(in)
	}
	out := append([]byte("FAKE-"+f.Provider+":"), in...)
	var aux []byte
	if f.Provider == "sev_guest" {
		h := sha256.Sum256(in)
		aux = []byte(fmt.Sprintf("FAKE-CERTS:%x", h[:4]))
	}
	return out, aux
}
