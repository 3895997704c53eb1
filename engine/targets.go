package engine

import (
	"fmt"

	"go.starlark.net/starlark"
)

// targets flattens a call's target value into hosts, in order, each once:
// a host, a pattern string, a list (or tuple, set, results) of those.
func (r *runner) targets(v starlark.Value) ([]*Host, error) {
	var out []*Host
	seen := map[string]bool{}
	add := func(h *Host) {
		if !seen[h.Name()] {
			seen[h.Name()] = true
			out = append(out, h)
		}
	}
	var walk func(v starlark.Value, depth int) error
	walk = func(v starlark.Value, depth int) error {
		switch v := v.(type) {
		case *Host:
			add(v)
		case starlark.String:
			hs, err := r.selectHosts(string(v))
			if err != nil {
				return fmt.Errorf("hosts %q: %v", string(v), err)
			}
			for _, h := range hs {
				add(h)
			}
		case *HostResult:
			add(v.Host)
		case *Results:
			for _, x := range v.results {
				add(x.Host)
			}
		case starlark.Iterable:
			if depth > 3 {
				return fmt.Errorf("targets nested too deep")
			}
			it := v.Iterate()
			defer it.Done()
			var x starlark.Value
			for it.Next(&x) {
				if err := walk(x, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("target: got %s, want a host, a list of hosts or a pattern string", v.Type())
		}
		return nil
	}
	if err := walk(v, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// absence is why a call does not work on one of its targets: the host
// left the run at an earlier call, or it is outside --limit. A host call
// reports it as the host's skipped result; a cluster call names it when
// no target is left to reach the cluster through.
type absence struct {
	host *Host
	// left is where and why the host left the run; nil when it is
	// outside --limit.
	left *dropInfo
}

// absent says whether a call skips h, and why: the one place that decides
// which targets a call leaves out.
func (r *runner) absent(h *Host) (absence, bool) {
	r.emitMu.Lock()
	d, dropped := r.dropped[h.Name()]
	r.emitMu.Unlock()
	switch {
	case dropped:
		return absence{host: h, left: &d}, true
	case r.limited(h.h):
		return absence{host: h}, true
	}
	return absence{}, false
}

// skipMsg is the absent host's result message in a host call.
func (a absence) skipMsg() string {
	if a.left != nil {
		return "left the run: " + a.left.why
	}
	return "outside --limit"
}

// note names the absent host among the targets a cluster call could not
// use.
func (a absence) note() string {
	if a.left != nil {
		return a.host.Name() + " left the run earlier (" + a.left.why + ")"
	}
	return a.host.Name() + " is outside --limit"
}
