package modules

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// hostsArg reads a list of hosts given as an argument.
func hostsArg(v starlark.Value) ([]*inventory.Host, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	if h, ok := v.(*engine.Host); ok {
		return []*inventory.Host{h.Inventory()}, nil
	}
	it, ok := v.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("got %s, want a list of hosts", v.Type())
	}
	var out []*inventory.Host
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		h, ok := x.(*engine.Host)
		if !ok {
			return nil, fmt.Errorf("got a %s in the list, want hosts (ctx.hosts(...))", x.Type())
		}
		out = append(out, h.Inventory())
	}
	return out, nil
}
