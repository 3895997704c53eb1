package engine

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

// perHost resolves an argument value for one host: a dict whose keys are
// all hosts gives the host's entry, a function is called with the host.
// Other values are the same for every host.
func (r *runner) perHost(th *starlark.Thread, h *Host, v starlark.Value) (starlark.Value, bool, error) {
	switch v := v.(type) {
	case *starlark.Dict:
		if v.Len() == 0 {
			return v, false, nil
		}
		for _, k := range v.Keys() {
			if _, ok := k.(*Host); !ok {
				return v, false, nil
			}
		}
		x, found, _ := v.Get(h)
		if !found {
			var names []string
			for _, k := range v.Keys() {
				names = append(names, k.(*Host).Name())
			}
			return nil, true, fmt.Errorf("no value for %s in the dict keyed by host (it has %s)", h.Name(), strings.Join(names, ", "))
		}
		return x, true, nil
	case starlark.Callable:
		x, err := starlark.Call(th, v, starlark.Tuple{h}, nil)
		if err != nil {
			return nil, true, fmt.Errorf("%s(%s): %w", v.Name(), h.Name(), err)
		}
		return x, true, nil
	}
	return v, false, nil
}

// argsFor is a call's arguments for host h (see perHost), frozen for the
// host's goroutine; per reports whether any of them was per-host.
func (r *runner) argsFor(th *starlark.Thread, h *Host, args starlark.Tuple, kwargs []starlark.Tuple) (a starlark.Tuple, kw []starlark.Tuple, per bool, err error) {
	return mapArgs(args, kwargs, func(v starlark.Value) (starlark.Value, bool, error) {
		x, per, err := r.perHost(th, h, v)
		if err == nil {
			x, err = frozenCopy(x)
		}
		return x, per, err
	})
}

// frozenArgs is frozenCopy of every argument: a cluster call's, which
// are the same for every target.
func frozenArgs(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Tuple, []starlark.Tuple, error) {
	a, kw, _, err := mapArgs(args, kwargs, func(v starlark.Value) (starlark.Value, bool, error) {
		x, err := frozenCopy(v)
		return x, false, err
	})
	return a, kw, err
}

// mapArgs is args and kwargs with f applied to every value; an error
// names its keyword argument, and per reports whether f said any value
// was per-host.
func mapArgs(args starlark.Tuple, kwargs []starlark.Tuple, f func(starlark.Value) (starlark.Value, bool, error)) (starlark.Tuple, []starlark.Tuple, bool, error) {
	anyPer := false
	a := make(starlark.Tuple, len(args))
	for i, v := range args {
		x, per, err := f(v)
		if err != nil {
			return nil, nil, true, err
		}
		anyPer = anyPer || per
		a[i] = x
	}
	kw := make([]starlark.Tuple, len(kwargs))
	for i, kv := range kwargs {
		x, per, err := f(kv[1])
		if err != nil {
			return nil, nil, true, fmt.Errorf("%s: %w", kv[0].(starlark.String).GoString(), err)
		}
		anyPer = anyPer || per
		kw[i] = starlark.Tuple{kv[0], x}
	}
	return a, kw, anyPer, nil
}
