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
