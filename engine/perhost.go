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

func (r *runner) argsFor(th *starlark.Thread, h *Host, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Tuple, []starlark.Tuple, bool, error) {
	any := false
	a := make(starlark.Tuple, len(args))
	for i, v := range args {
		x, per, err := r.perHost(th, h, v)
		if err == nil {
			x, err = frozenCopy(x)
		}
		if err != nil {
			return nil, nil, true, err
		}
		any = any || per
		a[i] = x
	}
	kw := make([]starlark.Tuple, len(kwargs))
	for i, kv := range kwargs {
		x, per, err := r.perHost(th, h, kv[1])
		if err == nil {
			x, err = frozenCopy(x)
		}
		if err != nil {
			return nil, nil, true, fmt.Errorf("%s: %w", kv[0].(starlark.String).GoString(), err)
		}
		any = any || per
		kw[i] = starlark.Tuple{kv[0], x}
	}
	return a, kw, any, nil
}

// frozenArgs is frozenCopy of every argument.
func frozenArgs(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Tuple, []starlark.Tuple, error) {
	a := make(starlark.Tuple, len(args))
	for i, v := range args {
		c, err := frozenCopy(v)
		if err != nil {
			return nil, nil, err
		}
		a[i] = c
	}
	kw := make([]starlark.Tuple, len(kwargs))
	for i, kv := range kwargs {
		c, err := frozenCopy(kv[1])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", kv[0].(starlark.String).GoString(), err)
		}
		kw[i] = starlark.Tuple{kv[0], c}
	}
	return a, kw, nil
}
