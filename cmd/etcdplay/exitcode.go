package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// exitStatuses is etcdplay's one table of exit statuses: exitCode takes an
// error's status from it by the error's kind, and --help lists it. The
// README's exit statuses follow it.
var exitStatuses = []struct {
	kind engine.ErrorKind
	code int
	doc  string
}{
	{engine.KindNone, 0, "every host ok or changed"},
	{engine.KindStopped, 1, "the run stopped on an error (fail(), a module error, an internal error)"},
	{engine.KindHostsFailed, 2, "one or more hosts failed"},
	{engine.KindUnreachable, 3, "one or more hosts were unreachable (and none failed)"},
	{engine.KindBadInput, 4, "bad input: usage, inventory, playbook, unknown module or argument, host key refused"},
	{engine.KindRefused, 5, "a safety check refused a step (quorum, data dir identity); nothing was changed by it"},
	{engine.KindInterrupted, 130, "interrupted (Ctrl-C or SIGTERM)"},
}

// exitCodesHelp is the EXIT STATUS section of --help, from exitStatuses.
var exitCodesHelp = func() string {
	var b strings.Builder
	b.WriteString("\nEXIT STATUS:\n")
	for _, s := range exitStatuses {
		fmt.Fprintf(&b, "   %-4d %s\n", s.code, s.doc)
	}
	return b.String()
}()

// errQuiet marks an error whose message was already shown to the user (a
// recap), so run only sets the exit code.
var errQuiet = errors.New("reported")

// usageError is bad input found by the CLI itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Kind is engine.KindBadInput.
func (e *usageError) Kind() engine.ErrorKind { return engine.KindBadInput }

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

// Kind is engine.KindHostsFailed when a host failed, else
// engine.KindUnreachable.
func (e *hostsError) Kind() engine.ErrorKind {
	if e.failed > 0 {
		return engine.KindHostsFailed
	}
	return engine.KindUnreachable
}

// exitCode is the exit status for err: ssh's own for lab ssh, else the
// one exitStatuses gives err's kind.
func exitCode(err error) int {
	var se *sshExit
	if errors.As(err, &se) {
		return se.code
	}
	k := kindOf(err)
	for _, s := range exitStatuses {
		if s.kind == k {
			return s.code
		}
	}
	panic(fmt.Sprintf("exit status table has no row for %v", k))
}

// kindOf is err's kind: the engine's, which the CLI's own errors have too,
// and bad input for an inventory that cannot be used.
func kindOf(err error) engine.ErrorKind {
	var (
		k  engine.Kinded
		pe *inventory.ParseError
		ve *inventory.VarError
	)
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.As(err, &k):
		return engine.KindOf(err)
	case errors.As(err, &pe), errors.As(err, &ve):
		return engine.KindBadInput
	}
	return engine.KindStopped
}
