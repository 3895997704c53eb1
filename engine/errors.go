package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrorKind is how an error ended a run. The engine says only the kind;
// the CLI's one table (cmd/etcdplay/exitcode.go) turns a kind into an
// exit status.
type ErrorKind int

const (
	// KindNone is no error: the run ended well.
	KindNone ErrorKind = iota
	// KindStopped is an error of no other kind that stopped the run:
	// fail(), a module's error, an internal error.
	KindStopped
	// KindHostsFailed is hosts that failed: a call none of whose target
	// hosts came through, one of them failing (NoHostsLeftError).
	KindHostsFailed
	// KindUnreachable is the same with every such host unreachable.
	KindUnreachable
	// KindBadInput is input the run cannot work with (InputError).
	KindBadInput
	// KindRefused is a safety check refusing a step (RefusedError).
	KindRefused
	// KindInterrupted is a run cut short by Ctrl-C or SIGTERM.
	KindInterrupted
)

var kindNames = [...]string{"none", "stopped", "hosts failed", "unreachable", "bad input", "refused", "interrupted"}

func (k ErrorKind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("ErrorKind(%d)", int(k))
	}
	return kindNames[k]
}

// Kinded is an error that knows its kind: Error, NoHostsLeftError,
// RefusedError and InputError are, and so may errors of other packages
// be. The first one in an error's chain decides (errors.As).
type Kinded interface {
	error
	Kind() ErrorKind
}

// KindOf is the kind of err: KindNone for nil, KindInterrupted for a
// cancelled run, else that of the first Kinded error in its chain, and
// KindStopped when there is none.
func KindOf(err error) ErrorKind {
	var k Kinded
	switch {
	case err == nil:
		return KindNone
	case errors.Is(err, context.Canceled):
		return KindInterrupted
	case errors.As(err, &k):
		return k.Kind()
	}
	return KindStopped
}

// Error is a run stopped by the playbook or a module, placed at the call in
// the playbook that stopped it:
//
//	playbooks/replace.star:42:5: member_add on etcd-2: ...
type Error struct {
	Pos    string // file:line:col of the call, "" when not in a playbook (ad-hoc)
	Module string // module or builtin called, if any
	Host   string // host the error is about, if any
	Err    error
	// Backtrace is the Starlark call stack at the error, shown with -v.
	Backtrace string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Pos != "" {
		b.WriteString(e.Pos)
		b.WriteString(": ")
	}
	if e.Module != "" {
		b.WriteString(e.Module)
		if e.Host != "" {
			b.WriteString(" on ")
			b.WriteString(e.Host)
		}
		b.WriteString(": ")
	} else if e.Host != "" {
		b.WriteString(e.Host)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Kind says how the error ended the run: interrupted, refused, bad input,
// hosts failed or unreachable (see NoHostsLeftError), or else stopped.
// A refusal wins over the other kinds wherever it is in the chain: the
// step was refused, whatever else went wrong.
func (e *Error) Kind() ErrorKind {
	var (
		r *RefusedError
		i *InputError
		n *NoHostsLeftError
	)
	switch {
	case Interrupted(e.Err):
		return KindInterrupted
	case errors.As(e.Err, &r):
		return KindRefused
	case errors.As(e.Err, &i):
		return KindBadInput
	case errors.As(e.Err, &n):
		return n.Kind()
	}
	return KindStopped
}

// NoHostsLeftError stops a playbook at a call that no target host came
// through: each one failed or was unreachable (and the call did not
// ignore it), or had left the run already. A playbook's later steps
// depend on the hosts it names, so it does not go on without them; this
// is Ansible's "no hosts left". Ad-hoc runs report such hosts in the
// recap instead.
type NoHostsLeftError struct {
	// Unreachable is set when no host failed: each was unreachable.
	Unreachable bool
	// Detail names the hosts and what happened to them.
	Detail string
}

func (e *NoHostsLeftError) Error() string {
	return e.Detail + "; no target host is left, so the run stops here"
}

// Kind is KindUnreachable when the hosts were unreachable, else
// KindHostsFailed.
func (e *NoHostsLeftError) Kind() ErrorKind {
	if e.Unreachable {
		return KindUnreachable
	}
	return KindHostsFailed
}

// RefusedError is a safety check refusing a step. A module returns it (see
// Refuse) from Plan, before changing anything; the run stops, refused
// (KindRefused), with the message, which should show why (the arithmetic
// of a quorum, the member a data dir belongs to) and how to proceed.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return "refused: " + e.Msg }

// Kind is KindRefused.
func (e *RefusedError) Kind() ErrorKind { return KindRefused }

// Refuse returns a RefusedError.
func Refuse(format string, args ...any) error {
	return &RefusedError{Msg: fmt.Sprintf(format, args...)}
}

// InputError is input the run cannot work with: a playbook that does not
// parse, an unknown argument, a value of the wrong kind. The run stops as
// bad input (KindBadInput).
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Kind is KindBadInput.
func (e *InputError) Kind() ErrorKind { return KindBadInput }

// BadInput returns an InputError. Modules return it from Validate or Plan
// for arguments that can never work (as opposed to a host where they failed).
func BadInput(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// inputErr marks err as bad input, unless it is already, or is a
// refusal (a Validate that refuses a path stays a refusal).
func inputErr(err error) error {
	var (
		ie *InputError
		r  *RefusedError
	)
	if err == nil || errors.As(err, &ie) || errors.As(err, &r) {
		return err
	}
	return &InputError{Err: err}
}

// ErrTryNext, returned (wrapped) by a cluster module's Plan, means the
// target it used did not answer: the engine notes it and tries the next
// target. Errors for which transport.IsUnreachable holds are treated alike.
var ErrTryNext = errors.New("target did not answer")

// errInterrupted stops a run cut short by Ctrl-C (or SIGTERM).
var errInterrupted error = interruptedError{}

type interruptedError struct{}

func (interruptedError) Error() string { return "interrupted" }
func (interruptedError) Unwrap() error { return context.Canceled }

// Interrupted reports whether err ends a run that was interrupted (Ctrl-C).
func Interrupted(err error) bool { return errors.Is(err, context.Canceled) }
