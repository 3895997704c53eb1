package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
)

// HostResult is what a module call did on one host (or, for a cluster
// module, on the cluster through one host). In a playbook it is a value
// with the attributes host, ok, changed, failed, unreachable, skipped, msg,
// rc, stdout, stderr, attempts, and the module's own data.
type HostResult struct {
	Host     *Host
	Module   string
	Status   Status
	Msg      string
	RC       *int
	Stdout   string
	Stderr   string
	Diff     string
	Data     map[string]any
	keys     []string // Data keys in the order set
	Attempts int
	Duration time.Duration
	// Pending is set in check mode when the actions were not run: the
	// result says what would change.
	Pending bool
	// planned are the actions the host's Plan returned, as a plan file
	// records them.
	planned []PlanAction

	frozen bool
}

func (r *HostResult) set(key string, v any) {
	if r.Data == nil {
		r.Data = map[string]any{}
	}
	if _, ok := r.Data[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.Data[key] = v
}

var (
	_ starlark.HasAttrs = (*HostResult)(nil)
	_ starlark.HasAttrs = (*Results)(nil)
	_ starlark.Mapping  = (*Results)(nil)
	_ starlark.Iterable = (*Results)(nil)
	_ starlark.Sequence = (*Results)(nil)
)

func (r *HostResult) String() string {
	return fmt.Sprintf("<%s result on %s: %s>", r.Module, r.Host.Name(), r.Status)
}
func (r *HostResult) Type() string          { return "result" }
func (r *HostResult) Freeze()               { r.frozen = true }
func (r *HostResult) Truth() starlark.Bool  { return starlark.True }
func (r *HostResult) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: result") }

func (r *HostResult) ok() bool {
	return r.Status != StatusFailed && r.Status != StatusUnreachable && r.Status != StatusInterrupted
}

var resultAttrs = []string{"attempts", "changed", "failed", "host", "msg", "ok", "rc", "skipped", "stderr", "stdout", "unreachable"}

func (r *HostResult) Attr(name string) (starlark.Value, error) {
	switch name {
	case "host":
		return r.Host, nil
	case "ok":
		return starlark.Bool(r.ok()), nil
	case "changed":
		return starlark.Bool(r.Status == StatusChanged), nil
	case "failed":
		return starlark.Bool(r.Status == StatusFailed || r.Status == StatusInterrupted), nil
	case "unreachable":
		return starlark.Bool(r.Status == StatusUnreachable), nil
	case "skipped":
		return starlark.Bool(r.Status == StatusSkipped), nil
	case "msg":
		return starlark.String(r.Msg), nil
	case "rc":
		if r.RC == nil {
			return starlark.None, nil
		}
		return starlark.MakeInt(*r.RC), nil
	case "stdout":
		return starlark.String(r.Stdout), nil
	case "stderr":
		return starlark.String(r.Stderr), nil
	case "attempts":
		return starlark.MakeInt(r.Attempts), nil
	}
	if v, ok := r.Data[name]; ok {
		sv, err := ToStarlark(v)
		if err != nil {
			return nil, fmt.Errorf("%s result: %s: %v", r.Module, name, err)
		}
		sv.Freeze()
		return sv, nil
	}
	return nil, nil // AttributeError, with a spelling hint from AttrNames
}

func (r *HostResult) AttrNames() []string {
	names := append([]string{}, resultAttrs...)
	names = append(names, r.keys...)
	sort.Strings(names)
	return names
}

// Results is what a host module call returns: one HostResult per target
// host, in target order. In a playbook: r.ok (no host failed or was
// unreachable), r.changed (some host changed), r.failed_hosts,
// r.unreachable_hosts, r.changed_hosts, r.ok_hosts (ok or changed),
// r.skipped_hosts,
// r.hosts; r[host] or r["name"] for one host's result; len(r) and
// iteration over the per-host results. When the call ran on exactly one
// host, that host's attributes (r.stdout, r.rc, module data) can be read
// from r directly.
type Results struct {
	Module  string
	Pos     string
	results []*HostResult
	byName  map[string]*HostResult
}

func newResults(module, pos string, rs []*HostResult) *Results {
	m := make(map[string]*HostResult, len(rs))
	for _, r := range rs {
		m[r.Host.Name()] = r
	}
	return &Results{Module: module, Pos: pos, results: rs, byName: m}
}

// All returns the per-host results in target order.
func (rs *Results) All() []*HostResult { return rs.results }

func (rs *Results) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<%s results:", rs.Module)
	for _, r := range rs.results {
		fmt.Fprintf(&b, " %s=%s", r.Host.Name(), r.Status)
	}
	b.WriteString(">")
	return b.String()
}
func (rs *Results) Type() string          { return "results" }
func (rs *Results) Freeze()               {}
func (rs *Results) Truth() starlark.Bool  { return len(rs.results) > 0 }
func (rs *Results) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: results") }
func (rs *Results) Len() int              { return len(rs.results) }

func (rs *Results) Iterate() starlark.Iterator {
	return &resultsIter{rs: rs.results}
}

type resultsIter struct{ rs []*HostResult }

func (it *resultsIter) Next(p *starlark.Value) bool {
	if len(it.rs) == 0 {
		return false
	}
	*p, it.rs = it.rs[0], it.rs[1:]
	return true
}
func (it *resultsIter) Done() {}

// Get implements r[host] and r["name"].
func (rs *Results) Get(k starlark.Value) (starlark.Value, bool, error) {
	var name string
	switch k := k.(type) {
	case *Host:
		name = k.Name()
	case starlark.String:
		name = string(k)
	default:
		return nil, false, fmt.Errorf("results index: got %s, want a host or a host name", k.Type())
	}
	r, ok := rs.byName[name]
	if !ok {
		return nil, false, fmt.Errorf("%s did not run on %s (hosts: %s)", rs.Module, name, strings.Join(rs.names(nil), ", "))
	}
	return r, true, nil
}

func (rs *Results) names(keep func(*HostResult) bool) []string {
	var ns []string
	for _, r := range rs.results {
		if keep == nil || keep(r) {
			ns = append(ns, r.Host.Name())
		}
	}
	return ns
}

func (rs *Results) hostList(keep func(*HostResult) bool) *starlark.List {
	var vs []starlark.Value
	for _, r := range rs.results {
		if keep(r) {
			vs = append(vs, r.Host)
		}
	}
	return starlark.NewList(vs)
}

var resultsAttrs = []string{"changed", "changed_hosts", "failed_hosts", "hosts", "ok", "ok_hosts", "skipped_hosts", "unreachable_hosts"}

func (rs *Results) Attr(name string) (starlark.Value, error) {
	switch name {
	case "ok":
		for _, r := range rs.results {
			if !r.ok() {
				return starlark.False, nil
			}
		}
		return starlark.True, nil
	case "changed":
		for _, r := range rs.results {
			if r.Status == StatusChanged {
				return starlark.True, nil
			}
		}
		return starlark.False, nil
	case "hosts":
		return rs.hostList(func(*HostResult) bool { return true }), nil
	case "ok_hosts":
		return rs.hostList(func(r *HostResult) bool { return r.Status == StatusOK || r.Status == StatusChanged }), nil
	case "changed_hosts":
		return rs.hostList(func(r *HostResult) bool { return r.Status == StatusChanged }), nil
	case "failed_hosts":
		return rs.hostList(func(r *HostResult) bool { return r.Status == StatusFailed || r.Status == StatusInterrupted }), nil
	case "unreachable_hosts":
		return rs.hostList(func(r *HostResult) bool { return r.Status == StatusUnreachable }), nil
	case "skipped_hosts":
		return rs.hostList(func(r *HostResult) bool { return r.Status == StatusSkipped }), nil
	}
	one := rs.one()
	if one == nil {
		if len(rs.results) > 1 {
			if v, _ := rs.results[0].Attr(name); v != nil {
				return nil, fmt.Errorf("%s ran on %d hosts: take one host's result first, e.g. r[host].%s or [x.%s for x in r]", rs.Module, len(rs.results), name, name)
			}
		}
		return nil, nil
	}
	return one.Attr(name)
}

func (rs *Results) one() *HostResult {
	if len(rs.results) == 1 {
		return rs.results[0]
	}
	return nil
}

func (rs *Results) AttrNames() []string {
	names := append([]string{}, resultsAttrs...)
	if one := rs.one(); one != nil {
		names = append(names, one.AttrNames()...)
	}
	sort.Strings(names)
	return names
}
