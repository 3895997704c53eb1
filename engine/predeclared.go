package engine

import (
	"errors"
	"strings"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// helperNames are the builtins a playbook has besides modules and
// Starlark's own, for the static check: those of predeclared, which a
// runner without modules has alone.
var helperNames = (&runner{}).predeclared().Keys()

// predeclared are the names every playbook file sees besides Starlark's
// own: the modules, fail, refuse, on_failure, serial, truthy, struct and
// json.
func (r *runner) predeclared() starlark.StringDict {
	d := starlark.StringDict{
		"fail":       starlark.NewBuiltin("fail", r.fail),
		"refuse":     starlark.NewBuiltin("refuse", r.fail),
		"on_failure": starlark.NewBuiltin("on_failure", r.onFailure),
		"serial":     starlark.NewBuiltin("serial", r.serial),
		"truthy":     starlark.NewBuiltin("truthy", truthy),
		"struct":     starlark.NewBuiltin("struct", starlarkstruct.Make),
		"json":       json.Module,
	}
	for name, b := range r.builtins {
		if _, dup := d[name]; dup {
			panic("module " + name + " has the name of a builtin")
		}
		d[name] = b
	}
	return d
}

// fail stops the run with a message, placed at the call (KindStopped);
// refuse does the same for a safety check of the playbook (KindRefused).
func (r *runner) fail(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	sep := " "
	if err := starlark.UnpackArgs(b.Name(), nil, kwargs, "sep?", &sep); err != nil {
		return nil, err
	}
	parts := make([]string, len(args))
	for i, v := range args {
		if s, ok := starlark.AsString(v); ok {
			parts[i] = s
		} else {
			parts[i] = v.String()
		}
	}
	msg := strings.Join(parts, sep)
	if b.Name() == "refuse" {
		// A playbook's own safety check: nothing was changed by the step it
		// refuses, and the error's kind says so, as a module's would.
		return nil, &Error{Pos: callerPos(th), Err: &RefusedError{Msg: msg}}
	}
	return nil, &Error{Pos: callerPos(th), Err: errors.New(msg)}
}

// truthy implements truthy(v): v as a boolean by Ansible's rule, the one
// module arguments, -a and the inventory's ansible_become follow
// (inventory.Bool): True or False, 1 or 0, or a word yes/no, true/false,
// on/off, y/n, t/f, 1/0 in any case. Anything else is refused, naming
// it, rather than read as false: an extra var "-e recreate=ture" must not
// quietly mean no.
func truthy(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, &Error{Pos: callerPos(th), Err: inputErr(err)}
	}
	t, err := truthOf(v)
	if err != nil {
		return nil, &Error{Pos: callerPos(th), Module: b.Name(), Err: inputErr(err)}
	}
	return starlark.Bool(t), nil
}
