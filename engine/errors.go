package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Exit codes an Error picks for itself; cmd/etcdplay documents them.
const (
	exitError       = 1
	exitFailed      = 2
	exitUnreachable = 3
	exitBadInput    = 4
	exitRefused     = 5
)

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

// ExitCode says how etcdplay exits after this error: 5 for a safety
// refusal, 4 for bad input (playbook, arguments), 1 otherwise. An
// interrupted run is recognised by errors.Is(err, context.Canceled).
func (e *Error) ExitCode() int {
	var (
		r *RefusedError
		i *InputError
	)
	switch {
	case errors.As(e.Err, &r):
		return exitRefused
	case errors.As(e.Err, &i):
		return exitBadInput
	}
	var n *NoHostsLeftError
	if errors.As(e.Err, &n) {
		return n.ExitCode()
	}
	return exitError
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

// ExitCode is 3 when the hosts were unreachable, else 2.
func (e *NoHostsLeftError) ExitCode() int {
	if e.Unreachable {
		return exitUnreachable
	}
	return exitFailed
}

// RefusedError is a safety check refusing a step. A module returns it (see
// Refuse) from Plan, before changing anything; the run stops with exit
// status 5 and the message, which should show why (the arithmetic of a
// quorum, the member a data dir belongs to) and how to proceed.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return "refused: " + e.Msg }

// ExitCode is 5: a safety check refused a step.
func (e *RefusedError) ExitCode() int { return exitRefused }

// Refuse returns a RefusedError.
func Refuse(format string, args ...any) error {
	return &RefusedError{Msg: fmt.Sprintf(format, args...)}
}

// InputError is input the run cannot work with: a playbook that does not
// parse, an unknown argument, a value of the wrong kind. The run stops with
// exit status 4.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ExitCode is 4: bad input.
func (e *InputError) ExitCode() int { return exitBadInput }

// BadInput returns an InputError. Modules return it from Validate or Plan
// for arguments that can never work (as opposed to a host where they failed).
func BadInput(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

func inputErr(err error) error {
	var ie *InputError
	if err == nil || errors.As(err, &ie) {
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
