package engine

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
)

// commonTypes are the arguments every module call takes; the wrapper
// handles them. A module that declares a parameter of the same name takes
// it over (wait_healthy's timeout= is how long to wait, and the module
// handles it).
var commonTypes = map[string]reflect.Type{
	"hosts":              valueType,
	"ignore_errors":      reflect.TypeFor[bool](),
	"ignore_unreachable": reflect.TypeFor[bool](),
	"timeout":            reflect.TypeFor[Duration](),
	"retries":            reflect.TypeFor[int](),
	"delay":              reflect.TypeFor[Duration](),
	"until":              reflect.TypeFor[starlark.Callable](),
	"become":             reflect.TypeFor[bool](),
	"become_user":        stringType,
	"run_once":           reflect.TypeFor[bool](),
	"serial":             reflect.TypeFor[int](),
}

// CommonArgs are the names of the arguments every module call takes.
func CommonArgs() []string {
	var ns []string
	for n := range commonTypes {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// callOptions are a call's common arguments.
type callOptions struct {
	hosts             starlark.Value
	ignoreErrors      bool
	ignoreUnreachable bool
	timeout           time.Duration
	retries           int
	delay             time.Duration
	until             starlark.Callable
	become            *bool
	becomeUser        string
	runOnce           bool
	serial            int
}

const defaultUntilRetries = 3

// parseOptions takes the common arguments out of kwargs.
func parseOptions(info ModuleInfo, kwargs []starlark.Tuple) (*callOptions, []starlark.Tuple, error) {
	o := &callOptions{retries: -1, delay: time.Second}
	var rest []starlark.Tuple
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		v := kv[1]
		if _, ok := commonTypes[name]; !ok {
			rest = append(rest, kv)
			continue
		}
		if _, taken := info.Param(name); taken {
			rest = append(rest, kv)
			continue
		}
		var err error
		switch name {
		case "hosts":
			o.hosts = v
		case "ignore_errors":
			err = unpackOne(name, v, &o.ignoreErrors)
		case "ignore_unreachable":
			err = unpackOne(name, v, &o.ignoreUnreachable)
		case "timeout":
			o.timeout, err = parseDuration(v)
		case "delay":
			o.delay, err = parseDuration(v)
		case "retries":
			err = unpackOne(name, v, &o.retries)
			if err == nil && o.retries < 0 {
				err = fmt.Errorf("retries: got %d, want 0 or more", o.retries)
			}
		case "until":
			if v != starlark.None {
				f, ok := v.(starlark.Callable)
				if !ok {
					err = fmt.Errorf("until: got %s, want a function of the result, e.g. lambda r: r.rc == 0", v.Type())
				}
				o.until = f
			}
		case "become":
			var b bool
			err = unpackOne(name, v, &b)
			o.become = &b
		case "become_user":
			err = unpackOne(name, v, &o.becomeUser)
		case "run_once":
			err = unpackOne(name, v, &o.runOnce)
		case "serial":
			err = unpackOne(name, v, &o.serial)
			if err == nil && o.serial < 0 {
				err = fmt.Errorf("serial: got %d, want the number of hosts per batch", o.serial)
			}
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), name+":") {
				err = fmt.Errorf("%s: %v", name, err)
			}
			return nil, nil, err
		}
	}
	if o.retries < 0 {
		o.retries = 0
		if o.until != nil {
			o.retries = defaultUntilRetries
		}
	}
	return o, rest, nil
}

func unpackOne(name string, v starlark.Value, p any) error {
	if _, ok := p.(*bool); ok {
		b, err := ansibleBool(v)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		v = b
	}
	err := starlark.UnpackArgs(name, nil, []starlark.Tuple{{starlark.String(name), v}}, name, p)
	if err != nil {
		// "name: for parameter name: got ..." reads badly; keep the tail.
		msg := err.Error()
		if i := strings.LastIndex(msg, ": got "); i >= 0 {
			msg = msg[i+2:]
		}
		return fmt.Errorf("%s: %s", name, msg)
	}
	return nil
}
