package engine

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/inventory/suggest"
)

// varsDict is ctx.vars: a read-only dict of the extra vars whose missing
// keys say how to give them (-e key=VALUE) instead of a bare KeyError.
type varsDict struct{ d *starlark.Dict }

var (
	_ starlark.IterableMapping = varsDict{}
	_ starlark.HasAttrs        = varsDict{}
	_ starlark.Sequence        = varsDict{}
)

func (v varsDict) String() string                           { return v.d.String() }
func (v varsDict) Type() string                             { return "dict" }
func (v varsDict) Freeze()                                  {}
func (v varsDict) Truth() starlark.Bool                     { return v.d.Truth() }
func (v varsDict) Hash() (uint32, error)                    { return 0, fmt.Errorf("unhashable: ctx.vars") }
func (v varsDict) Iterate() starlark.Iterator               { return v.d.Iterate() }
func (v varsDict) Len() int                                 { return v.d.Len() }
func (v varsDict) Items() []starlark.Tuple                  { return v.d.Items() }
func (v varsDict) Attr(name string) (starlark.Value, error) { return v.d.Attr(name) }
func (v varsDict) AttrNames() []string                      { return v.d.AttrNames() }

// Get implements ctx.vars[key] and "key in ctx.vars".
func (v varsDict) Get(k starlark.Value) (starlark.Value, bool, error) {
	x, found, err := v.d.Get(k)
	if err != nil || found {
		return x, found, err
	}
	if s, ok := k.(starlark.String); ok {
		var names []string
		for _, key := range v.d.Keys() {
			if ks, ok := key.(starlark.String); ok {
				names = append(names, string(ks))
			}
		}
		return nil, false, fmt.Errorf("no extra var %s: give it with -e %s=VALUE%s", s, string(s), suggest.Hint(string(s), names))
	}
	return nil, false, fmt.Errorf("ctx.vars: key %s not found", k)
}
