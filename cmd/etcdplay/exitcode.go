package main

import (
	"context"
	"errors"

	"github.com/etcdplay/etcdplay/inventory"
)

// Exit codes, documented in --help and the README. They are decided here and
// only here.
const (
	exitOK          = 0   // every host ok or changed
	exitError       = 1   // the run stopped on an error (fail(), a module error, an internal error)
	exitFailed      = 2   // one or more hosts failed
	exitUnreachable = 3   // one or more hosts were unreachable, none failed
	exitBadInput    = 4   // bad input: usage, inventory, playbook, unknown module or argument, host key refused
	exitRefused     = 5   // a safety check refused a step; nothing was changed by it
	exitInterrupted = 130 // interrupted (Ctrl-C or SIGTERM)
)

const exitCodesHelp = `
EXIT STATUS:
   0    every host ok or changed
   1    the run stopped on an error (fail(), a module error, an internal error)
   2    one or more hosts failed
   3    one or more hosts were unreachable (and none failed)
   4    bad input: usage, inventory, playbook, unknown module or argument, host key refused
   5    a safety check refused a step (quorum, data dir identity); nothing was changed by it
   130  interrupted (Ctrl-C or SIGTERM)
`

// errQuiet marks an error whose message was already shown to the user (a
// recap), so run only sets the exit code.
var errQuiet = errors.New("reported")

// usageError is bad input found by the CLI itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &usageError{msg: sprintf(format, args...)}
}

// hostsError says how a run across hosts ended when not every host was ok.
type hostsError struct {
	failed, unreachable int
}

func (e *hostsError) Error() string {
	return sprintf("%d host(s) failed, %d unreachable", e.failed, e.unreachable)
}
func (e *hostsError) Unwrap() error { return errQuiet }

// exitCoder is implemented by errors from other packages that know their
// exit code (the engine's refusals and aborted runs).
type exitCoder interface{ ExitCode() int }

func exitCode(err error) int {
	var (
		ue *usageError
		pe *inventory.ParseError
		ve *inventory.VarError
		he *hostsError
		ec exitCoder
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &he):
		if he.failed > 0 {
			return exitFailed
		}
		return exitUnreachable
	case errors.As(err, &ec):
		return ec.ExitCode()
	case errors.As(err, &ue), errors.As(err, &pe), errors.As(err, &ve):
		return exitBadInput
	}
	return exitError
}
