package modules

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

// Fact is one thing a module reads on a host, declared once: the shell
// command that prints it and the parser of what it prints (pyinfra's
// facts). Facts are declared by functions of their arguments
// (statFact(path, sum), unitFact(unit)) in the facts_*.go files, or in a
// module's file when only that module reads them; a module reads them with
// readFact, or several in one round trip with readFacts.
type Fact[T any] struct {
	// Name says what is read, for errors: a path, "unit etcd.service".
	Name string
	// Command is a POSIX shell script that prints the fact. It runs in a
	// subshell of its own, so it may set variables and exit; a non-zero
	// exit status means the fact could not be read. Its stderr is only
	// shown then.
	Command string
	// Parse turns what Command printed, exactly, into the fact.
	Parse func(out string) (T, error)
}

// query is a fact bound to where its value goes, for readFacts.
type query struct {
	name, command string
	parse         func(out string) error
	canFail       bool
}

// into reads the fact into *dst.
func (f Fact[T]) into(dst *T) query {
	return f.with(func(v T) { *dst = v })
}

// with reads the fact and hands it to use.
func (f Fact[T]) with(use func(T)) query {
	return query{name: f.Name, command: f.Command, parse: func(out string) error {
		v, err := f.Parse(out)
		if err != nil {
			return err
		}
		use(v)
		return nil
	}}
}

// optional makes a fact whose command fails read as its zero value rather
// than fail the read: for facts a module can do without (the journal of a
// unit, the state of a unit that only informs).
func (q query) optional() query {
	q.canFail = true
	return q
}

// shell is what reading facts needs of a host; *engine.HostCall has it.
type shell interface {
	Shell(ctx context.Context, line string) (transport.Result, error)
}

// readFact reads one fact.
func readFact[T any](ctx context.Context, c shell, f Fact[T]) (T, error) {
	var v T
	err := readFacts(ctx, c, f.into(&v))
	return v, err
}

// readFacts reads facts in one command, so in one round trip whatever
// their number: each runs in its own subshell and is followed by a line of
// a marker that no output can guess, with its exit status and the first
// line of its stderr. Every fact is read even when one fails; the error
// is the first failed one's, naming it.
func readFacts(ctx context.Context, c shell, qs ...query) error {
	marker := newFactMarker()
	res, err := c.Shell(ctx, factScript(marker, qs))
	if err != nil {
		return err
	}
	secs, err := splitFacts(marker, string(res.Stdout), len(qs))
	if err != nil {
		// The shell itself failed (sudo refused, a signal), or a fact's
		// command ended it.
		if res.ExitStatus == 0 && res.Signal == "" {
			return fmt.Errorf("read %s: %v", factNames(qs), err)
		}
		return fmt.Errorf("read %s: %w", factNames(qs), engine.CommandError("sh", res))
	}
	var first error
	for i, q := range qs {
		s := secs[i]
		switch {
		case s.status != 0 && q.canFail:
		case s.status != 0:
			msg := fmt.Sprintf("read %s: exit status %d", q.name, s.status)
			if s.stderr != "" {
				msg += ": " + s.stderr
			}
			err = fmt.Errorf("%s", msg)
		default:
			if err = q.parse(s.out); err != nil {
				err = fmt.Errorf("read %s: %w", q.name, err)
			}
		}
		if first == nil {
			first = err
		}
		err = nil
	}
	return first
}

func newFactMarker() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "etcdplay-fact-" + hex.EncodeToString(b)
}

// factScript runs each fact's command in a subshell, its stdout as it is
// and its stderr kept in e, then prints the marker line: a newline first
// (a fact's output may not end in one), the marker, the exit status and
// the first line of stderr. The subshell is the command substitution's
// own: one fork a fact, which on a busy host costs a millisecond.
func factScript(marker string, qs []query) string {
	var b strings.Builder
	b.WriteString("exec 4>&1\nnl='\n'\n")
	for _, q := range qs {
		fmt.Fprintf(&b, "e=$( {\n%s\n} 2>&1 1>&4 ); printf '\\n%s %%d %%s\\n' $? \"${e%%%%\"$nl\"*}\"\n", q.command, marker)
	}
	return b.String()
}

// factOut is what one fact's command printed.
type factOut struct {
	out    string
	status int
	stderr string
}

// splitFacts cuts the script's output into the sections of n facts.
func splitFacts(marker, out string, n int) ([]factOut, error) {
	var secs []factOut
	sep := "\n" + marker + " "
	for len(secs) < n {
		i := strings.Index(out, sep)
		if i < 0 {
			return secs, fmt.Errorf("%d of %d facts printed", len(secs), n)
		}
		s := factOut{out: out[:i]}
		line, rest, _ := strings.Cut(out[i+len(sep):], "\n")
		code, stderr, _ := strings.Cut(line, " ")
		st, err := strconv.Atoi(code)
		if err != nil {
			return secs, fmt.Errorf("fact %d: exit status %q", len(secs)+1, code)
		}
		s.status, s.stderr = st, strings.TrimSpace(stderr)
		secs = append(secs, s)
		out = rest
	}
	return secs, nil
}

func factNames(qs []query) string {
	var ns []string
	for _, q := range qs {
		ns = append(ns, q.name)
	}
	return strings.Join(ns, ", ")
}

// firstLine is the first line of s that is not blank.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
