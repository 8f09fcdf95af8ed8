package pf

import (
	"errors"
	"fmt"
)

// Sentinel errors; a *Error carries one of them as its Kind.
var (
	// ErrTampered: a data or MHT node (or the tree shape) failed
	// authentication. ErrWrongKey and ErrTruncated also match ErrTampered.
	ErrTampered = errors.New("protected file is corrupted or was tampered with")
	// ErrWrongKey: the metadata node does not authenticate under the key:
	// either the key is wrong or node 0 was modified.
	ErrWrongKey = errors.New("metadata does not authenticate: wrong key or tampered metadata")
	// ErrPathMismatch: the path bound into the file differs from the path
	// the file was opened as (the file was renamed or copied on the host).
	ErrPathMismatch = errors.New("bound path does not match")
	// ErrTruncated: the host file's size is not a multiple of 4096 or it is
	// shorter than its metadata says (truncated, extended or empty).
	ErrTruncated = errors.New("host file has the wrong size (truncated or extended)")
	// ErrBadMagic: node 0 does not start with "GRAFS_PF": not a protected file.
	ErrBadMagic = errors.New("not a Gramine protected file (bad magic)")
	// ErrBadVersion: a format major version other than 1 or 2.
	ErrBadVersion = errors.New("unsupported protected-file format version")
	// ErrRecoveryNeeded: a flush was interrupted (pending-write flag set) and
	// no usable recovery journal was supplied.
	ErrRecoveryNeeded = errors.New("file recovery needed")
	// ErrPathTooLong: the bound path does not fit in 771 bytes.
	ErrPathTooLong = errors.New("path too long for a protected file (max 771 bytes)")
	// ErrReadOnly: a write to a file opened read-only.
	ErrReadOnly = errors.New("protected file opened read-only")
	// ErrClosed: use of a closed File.
	ErrClosed = errors.New("protected file is closed")
)

// Error describes a failed operation on a protected file.
type Error struct {
	Op     string // "open", "read", "write", "flush", "truncate", "rename", "recover"
	Path   string // path the file was opened as (or bound path)
	Node   int64  // physical node number involved, -1 if none
	Kind   error  // one of the sentinel errors above, or nil for I/O errors
	Detail string // what exactly failed
	Err    error  // underlying error (I/O), may be nil
}

func (e *Error) Error() string {
	s := "pf " + e.Op
	if e.Path != "" {
		s += fmt.Sprintf(" %q", e.Path)
	}
	if e.Node >= 0 {
		s += fmt.Sprintf(" node %d", e.Node)
	}
	if e.Kind != nil {
		s += ": " + e.Kind.Error()
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes both the sentinel kind and the underlying error.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Is makes ErrWrongKey and ErrTruncated also match ErrTampered: from the
// caller's point of view they are integrity failures too.
func (e *Error) Is(target error) bool {
	return target == ErrTampered && (e.Kind == ErrWrongKey || e.Kind == ErrTruncated)
}

// IsIntegrity reports whether err is an integrity failure of the file's
// contents (tampering, wrong key, wrong size, bad path binding, bad header).
func IsIntegrity(err error) bool {
	for _, k := range []error{ErrTampered, ErrPathMismatch, ErrBadMagic, ErrBadVersion, ErrRecoveryNeeded} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
