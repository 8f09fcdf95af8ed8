package render

import (
	"errors"
	"fmt"
)

// ErrUndefined is wrapped by errors caused by using an undefined variable or
// attribute (Jinja2's StrictUndefined behaviour).
var ErrUndefined = errors.New("undefined")

// ErrSyntax is wrapped by errors in the template's syntax.
var ErrSyntax = errors.New("template syntax error")

// Error is a rendering failure located in a template.
type Error struct {
	File string
	Line int
	// Name is the undefined variable or attribute, if that is the cause.
	Name string
	Msg  string
	Err  error // wrapped cause (ErrUndefined, ErrSyntax, or an I/O error)
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

var sprintf = fmt.Sprintf

// evalError is raised during evaluation before the location is known; the
// evaluator attaches file and line.
type evalError struct {
	msg      string
	name     string
	err      error
	variable bool // name is an undefined top-level variable (-D can define it)
}

func (e *evalError) Error() string { return e.msg }
func (e *evalError) Unwrap() error { return e.err }

func errf(format string, args ...any) error {
	return &evalError{msg: fmt.Sprintf(format, args...)}
}

// wrapf wraps a cause (for example a failed subprocess) into an evalError.
func wrapf(err error, format string, args ...any) error {
	return &evalError{msg: fmt.Sprintf(format, args...) + ": " + err.Error(), err: err}
}

func undefinedErr(u *Undefined) error {
	return &evalError{msg: u.message(), name: u.name, err: ErrUndefined, variable: u.obj == "" && u.msg == ""}
}
