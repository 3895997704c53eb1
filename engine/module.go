package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.starlark.net/starlark"
)

// Module is an operation a playbook calls by name. The two kinds are
// HostModule and ClusterModule; the interface is closed so every module goes
// through the engine's one wrapper (targets, fan-out, check mode, results).
type Module interface {
	// Info describes the module for the wrapper, the static check and the
	// ad-hoc argument parser.
	Info() ModuleInfo
	// bind unpacks one call's arguments for one host (or, for a cluster
	// module, for the cluster) and returns what plans the work.
	bind(args starlark.Tuple, kwargs []starlark.Tuple) (planner, error)
}

// planner is a module bound to its arguments. Exactly one of host and
// cluster is set, by the module's kind.
type planner struct {
	host    func(context.Context, *HostCall) (Plan, error)
	cluster func(context.Context, *ClusterCall) (Plan, error)
}

// Kind says how a module treats its targets.
type Kind int

const (
	// HostKind modules run on every target host, in parallel, and return one
	// result per host.
	HostKind Kind = iota
	// ClusterKind modules act once on a cluster: the targets are the members
	// to reach it through, tried in order until one answers; they return a
	// single result.
	ClusterKind
)

func (k Kind) String() string {
	if k == ClusterKind {
		return "cluster"
	}
	return "host"
}

// ModuleInfo describes a module.
type ModuleInfo struct {
	Name   string
	Kind   Kind
	Params []Param
}

// Param is one argument a module takes, in positional order (after the
// target).
type Param struct {
	Name     string
	Optional bool
	// Type is the Go type the value is unpacked into, which decides how
	// ad-hoc "-a key=value" strings are converted.
	Type reflect.Type
}

// Param returns the parameter named name.
func (i ModuleInfo) Param(name string) (Param, bool) {
	for _, p := range i.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// HostModule is a module that works on each target host. A is its argument
// struct; the wrapper makes a fresh A per host, so per-host argument values
// (a dict keyed by host, or a function of the host) give each host its own.
//
// A module file declares one, documented by its doc comment, and lists
// it in modules.All (modules/copy.go, shortened):
//
//	// copy writes a file ... (user documentation, printed by etcdplay doc)
//	var copyModule = &engine.HostModule[copyArgs]{
//		Name: "copy",
//		Args: func(a *copyArgs) []any {
//			return []any{"dest", &a.Dest, "content?", &a.Content, "mode?", &a.Mode}
//		},
//		Validate: func(a *copyArgs) error { ... },
//		Plan: func(ctx context.Context, c *engine.HostCall, a *copyArgs) (engine.Plan, error) { ... },
//	}
type HostModule[A any] struct {
	Name string
	// Args binds the fields of a to parameter names, as the pairs of
	// starlark.UnpackArgs: "name", &a.Field, with a trailing "?" for an
	// optional parameter (every later one is optional too) and "??" for one
	// where None means absent. Fields may be plain Go types, Starlark
	// values, or starlark.Unpacker types such as Duration and FileMode.
	Args func(a *A) []any
	// Validate, if set, checks the unpacked arguments before any host is
	// contacted; its error stops the run as bad input (KindBadInput).
	Validate func(a *A) error
	// Plan reads the host (through the call) and decides: NothingToDo(why),
	// or the actions that would bring the host to what a asks for. It must
	// not change the host: in check mode the actions never run.
	Plan func(ctx context.Context, c *HostCall, a *A) (Plan, error)
}

// Info implements Module.
func (m *HostModule[A]) Info() ModuleInfo {
	return ModuleInfo{Name: m.Name, Kind: HostKind, Params: params(m.Name, m.Args)}
}

func (m *HostModule[A]) bind(args starlark.Tuple, kwargs []starlark.Tuple) (planner, error) {
	a, err := unpack(m.Name, m.Args, m.Validate, args, kwargs)
	if err != nil {
		return planner{}, err
	}
	return planner{host: func(ctx context.Context, c *HostCall) (Plan, error) { return m.Plan(ctx, c, a) }}, nil
}

// ClusterModule is a module that acts once on a cluster. Its targets are the
// hosts to reach the cluster through: the engine connects to them in order
// and calls Plan with the first that answers; Plan returns an error wrapping
// ErrTryNext (or an unreachable error) to have the next one tried. The call
// returns one result. Per-host argument values are not resolved for cluster
// modules: a dict keyed by host is passed as it is.
type ClusterModule[A any] struct {
	Name     string
	Args     func(a *A) []any
	Validate func(a *A) error
	Plan     func(ctx context.Context, c *ClusterCall, a *A) (Plan, error)
}

// Info implements Module.
func (m *ClusterModule[A]) Info() ModuleInfo {
	return ModuleInfo{Name: m.Name, Kind: ClusterKind, Params: params(m.Name, m.Args)}
}

func (m *ClusterModule[A]) bind(args starlark.Tuple, kwargs []starlark.Tuple) (planner, error) {
	a, err := unpack(m.Name, m.Args, m.Validate, args, kwargs)
	if err != nil {
		return planner{}, err
	}
	return planner{cluster: func(ctx context.Context, c *ClusterCall) (Plan, error) { return m.Plan(ctx, c, a) }}, nil
}

func unpack[A any](name string, bindArgs func(*A) []any, validate func(*A) error, args starlark.Tuple, kwargs []starlark.Tuple) (*A, error) {
	a := new(A)
	pairs := bindArgs(a)
	args, kwargs, err := boolArgs(pairs, args, kwargs)
	if err != nil {
		return nil, inputErr(err)
	}
	if err := starlark.UnpackArgs(name, args, kwargs, pairs...); err != nil {
		// The engine names the module already: "copy: copy: ..." reads badly.
		if msg, ok := strings.CutPrefix(err.Error(), name+": "); ok {
			err = errors.New(msg)
		}
		return nil, inputErr(err)
	}
	if validate != nil {
		if err := validate(a); err != nil {
			return nil, inputErr(err)
		}
	}
	return a, nil
}

// params lists the parameters bound by args, panicking on a malformed list:
// that is a bug in a module, found by the registry test at start.
func params[A any](module string, args func(*A) []any) []Param {
	if args == nil {
		return nil
	}
	pairs := args(new(A))
	if len(pairs)%2 != 0 {
		panic(fmt.Sprintf("module %s: Args returns %d values, want name/pointer pairs", module, len(pairs)))
	}
	var ps []Param
	optional := false
	for i := 0; i < len(pairs); i += 2 {
		name, ok := pairs[i].(string)
		if !ok || name == "" {
			panic(fmt.Sprintf("module %s: Args value %d is %T, want a parameter name", module, i, pairs[i]))
		}
		if strings.HasSuffix(name, "?") {
			optional = true
			name = strings.TrimRight(name, "?")
		}
		t := reflect.TypeOf(pairs[i+1])
		if t == nil || t.Kind() != reflect.Pointer {
			panic(fmt.Sprintf("module %s: parameter %s is bound to %T, want a pointer", module, name, pairs[i+1]))
		}
		ps = append(ps, Param{Name: name, Optional: optional, Type: t.Elem()})
	}
	return ps
}

// Plan is what a module found it has to do on a host: nothing (Reason says
// why), or Actions, in order.
type Plan struct {
	// Reason says why nothing needs to change ("file unchanged (sha256
	// 1a2b3c4d)"), shown when there are no actions.
	Reason string
	// Skip, when set, reports the host as skipped (with Skip as the
	// message) rather than ok: the module did not apply to it.
	Skip string
	// Actions are the changes to make. In check mode they are reported
	// ("would ...") and never run.
	Actions []Action
}

// NothingToDo is a plan without actions.
func NothingToDo(format string, args ...any) Plan {
	return Plan{Reason: fmt.Sprintf(format, args...)}
}

// Do is a plan of the given actions.
func Do(actions ...Action) Plan { return Plan{Actions: actions} }

// Action is one change a module makes.
type Action struct {
	// Desc says what the action does, as a verb phrase: "write
	// /etc/etcd/etcd.conf (312 bytes)". Check mode shows "would " + Desc.
	Desc string
	// Diff, if set, is the file content the action changes, shown with
	// --diff (in check mode too).
	Diff *FileDiff
	// Effect says what the action leaves behind, in words that depend
	// neither on what was there before nor on when it runs: "write
	// /etc/etcd/etcd.conf (529 bytes, sha256 1a2b3c4d5e6f, mode 0644)"
	// where Desc says "update ... (was 572 bytes)", "remove member etcd-2
	// (id 8e9e05c52164694d)" where Desc shows the quorum's arithmetic. A
	// plan file lists effects, and etcdplay run --apply lets an action run
	// only when the plan has its effect at that step. "" is Desc, for
	// actions whose Desc says just that.
	Effect string
	// Do makes the change. It runs only outside check mode, after every
	// earlier action of the plan succeeded.
	Do func(ctx context.Context) error
}

// FileDiff is a change of file content on a host.
type FileDiff struct {
	Path   string
	Before []byte // nil when the file does not exist yet
	After  []byte // nil when the file is removed
	// Omitted, if set, replaces the content diff: why it is not shown
	// (binary, too large, secret).
	Omitted string
	// Secret is set for content that must never be shown nor recorded
	// (a private key): a plan file holds neither its text nor its hash.
	Secret bool
}
