package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/etcdplay/etcdplay/inventory"
)

// Host is an inventory host as a Starlark value: h.name, h.address,
// h.port, h.user, h.groups and h.vars (its inventory variables). Hosts are
// hashable and compare by name, so they work as dict keys, in sets, with
// ==, in and sorted().
type Host struct {
	h     *inventory.Host
	vars  *starlark.Dict
	attrs map[string]HostAttr

	mu     sync.Mutex
	values map[string]starlark.Value
}

// HostAttr computes an attribute of host values that a layer above the
// engine defines (Config.HostAttrs): h.etcd is the etcd layer's identity of
// the host's member. It is computed once per host and run; an error is
// the playbook's, at the attribute's use.
type HostAttr func(h *inventory.Host) (starlark.Value, error)

var (
	_ starlark.HasAttrs   = (*Host)(nil)
	_ starlark.Comparable = (*Host)(nil)
)

func newHost(h *inventory.Host, attrs map[string]HostAttr) (*Host, error) {
	vars := starlark.NewDict(len(h.Vars))
	keys := make([]string, 0, len(h.Vars))
	for k := range h.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// A variable that cannot be resolved (an inventory template
		// outside what etcdplay evaluates) stops the use of its host, not
		// only the reading of that variable: modules and the etcd layer
		// read host variables without a way to fail, and would take its
		// error for a value (a member named after the message).
		if _, _, err := h.Lookup(k); err != nil {
			return nil, err
		}
		v, err := ToStarlark(h.Vars[k])
		if err != nil {
			return nil, fmt.Errorf("host %s: var %s: %v", h.Name, k, err)
		}
		vars.SetKey(starlark.String(k), v)
	}
	vars.Freeze()
	return &Host{h: h, vars: vars, attrs: attrs}, nil
}

// Inventory returns the inventory host.
func (h *Host) Inventory() *inventory.Host { return h.h }

// Name is the host's inventory name.
func (h *Host) Name() string { return h.h.Name }

func (h *Host) String() string        { return h.h.Name }
func (h *Host) Type() string          { return "host" }
func (h *Host) Freeze()               {}
func (h *Host) Truth() starlark.Bool  { return starlark.True }
func (h *Host) Hash() (uint32, error) { return starlark.String(h.h.Name).Hash() }

func (h *Host) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	return starlark.Compare(op, starlark.String(h.h.Name), starlark.String(y.(*Host).h.Name))
}

func (h *Host) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(h.h.Name), nil
	case "address":
		return starlark.String(h.h.Address()), nil
	case "port":
		if h.h.Port() == 0 {
			return starlark.None, nil // not in the inventory: ssh decides
		}
		return starlark.MakeInt(h.h.Port()), nil
	case "user":
		return starlark.String(h.h.User()), nil
	case "groups":
		gs := make([]starlark.Value, len(h.h.Groups))
		for i, g := range h.h.Groups {
			gs[i] = starlark.String(g)
		}
		l := starlark.NewList(gs)
		l.Freeze()
		return l, nil
	case "vars":
		return h.vars, nil
	}
	if f, ok := h.attrs[name]; ok {
		h.mu.Lock()
		defer h.mu.Unlock()
		if v, ok := h.values[name]; ok {
			return v, nil
		}
		v, err := f(h.h)
		if err != nil {
			return nil, err
		}
		v.Freeze()
		if h.values == nil {
			h.values = map[string]starlark.Value{}
		}
		h.values[name] = v
		return v, nil
	}
	return nil, nil
}

func (h *Host) AttrNames() []string {
	names := []string{"address", "groups", "name", "port", "user", "vars"}
	for n := range h.attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// playCtx is the ctx argument of main(ctx).
type playCtx struct {
	r    *runner
	vars *starlark.Dict
}

var _ starlark.HasAttrs = (*playCtx)(nil)

func (c *playCtx) String() string        { return "<ctx>" }
func (c *playCtx) Type() string          { return "ctx" }
func (c *playCtx) Freeze()               {}
func (c *playCtx) Truth() starlark.Bool  { return starlark.True }
func (c *playCtx) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: ctx") }

// ctxAttrs are ctx's attributes, for AttrNames and etcdplay check.
var ctxAttrs = []string{"check", "command", "command_for", "connect", "diff", "dropped_hosts", "exec_command", "host", "hosts", "vars"}

func (c *playCtx) AttrNames() []string { return slices.Clone(ctxAttrs) }

func (c *playCtx) Attr(name string) (starlark.Value, error) {
	switch name {
	case "check":
		return starlark.Bool(c.r.cfg.Check), nil
	case "diff":
		return starlark.Bool(c.r.cfg.Diff), nil
	case "command":
		return starlark.String(c.r.cfg.Command), nil
	case "command_for":
		return starlark.NewBuiltin("command_for", c.commandFor).BindReceiver(c), nil
	case "exec_command":
		return starlark.NewBuiltin("exec_command", c.execCommand).BindReceiver(c), nil
	case "connect":
		return starlark.NewBuiltin("connect", c.connect).BindReceiver(c), nil
	case "vars":
		return varsDict{c.vars}, nil
	case "hosts":
		return starlark.NewBuiltin("hosts", c.hosts).BindReceiver(c), nil
	case "host":
		return starlark.NewBuiltin("host", c.host).BindReceiver(c), nil
	case "dropped_hosts":
		return c.r.droppedHosts(), nil
	}
	return nil, nil
}

// commandFor implements ctx.command_for(playbook, drop = [], **vars):
// the command line of this run with another playbook, the extra vars in
// drop left out and these set, for a remedy that is another playbook's
// run.
func (c *playCtx) commandFor(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var playbook string
	if err := starlark.UnpackPositionalArgs("ctx.command_for", args, nil, 1, &playbook); err != nil {
		return nil, &Error{Pos: callerPos(th), Module: "ctx.command_for", Err: inputErr(err)}
	}
	vars := map[string]string{}
	for _, kv := range kwargs {
		k := string(kv[0].(starlark.String))
		if k == "drop" {
			l, ok := kv[1].(*starlark.List)
			if !ok {
				return nil, &Error{Pos: callerPos(th), Module: "ctx.command_for", Err: BadInput("drop: want a list of extra var names, got %s", kv[1].Type())}
			}
			for i := range l.Len() {
				if n, ok := starlark.AsString(l.Index(i)); ok {
					vars[n] = ""
				}
			}
			continue
		}
		vars[k] = word(kv[1])
	}
	if c.r.cfg.CommandFor == nil {
		return starlark.String(strings.Join(withExtraVars([]string{"etcdplay", "run", playbook}, vars), " ")), nil
	}
	return starlark.String(c.r.cfg.CommandFor(playbook, vars)), nil
}

// execCommand implements ctx.exec_command(pattern, module, **args): the
// etcdplay exec command that runs module on pattern's hosts with args, as
// this run reaches them.
func (c *playCtx) execCommand(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, module string
	if err := starlark.UnpackPositionalArgs("ctx.exec_command", args, nil, 2, &pattern, &module); err != nil {
		return nil, &Error{Pos: callerPos(th), Module: "ctx.exec_command", Err: inputErr(err)}
	}
	margs := map[string]string{}
	for _, kv := range kwargs {
		margs[string(kv[0].(starlark.String))] = word(kv[1])
	}
	return starlark.String(c.r.execCommand(pattern, module, margs)), nil
}

// connect implements ctx.connect(hosts): the hosts' SSH connections are
// opened in the background, so that the first call on each need not wait
// for its handshake; it returns at once.
func (c *playCtx) connect(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs("ctx.connect", args, kwargs, 1, &v); err != nil {
		return nil, &Error{Pos: callerPos(th), Module: "ctx.connect", Err: inputErr(err)}
	}
	hs, err := c.r.targets(v)
	if err != nil {
		return nil, &Error{Pos: callerPos(th), Module: "ctx.connect", Err: inputErr(err)}
	}
	c.r.connectAhead(hs)
	return starlark.None, nil
}

// word is v as a command line gives it: a string as it is, any other
// value as Starlark writes it.
func word(v starlark.Value) string {
	if s, ok := starlark.AsString(v); ok {
		return s
	}
	return v.String()
}

// hosts implements ctx.hosts(pattern="all"): the hosts matching an
// inventory pattern, within --limit, in inventory order.
func (c *playCtx) hosts(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	pattern := "all"
	if err := starlark.UnpackArgs("ctx.hosts", args, kwargs, "pattern?", &pattern); err != nil {
		return nil, inputErr(err)
	}
	hs, err := c.r.selectHosts(pattern)
	if err != nil {
		return nil, &Error{Pos: callerPos(th), Module: "ctx.hosts", Err: inputErr(err)}
	}
	if len(hs) == 0 {
		c.r.emit(Event{Type: EventWarning, Pos: callerPos(th), Msg: fmt.Sprintf("ctx.hosts(%q) matched no host", pattern)})
	}
	vs := make([]starlark.Value, len(hs))
	for i, h := range hs {
		vs[i] = h
	}
	return starlark.NewList(vs), nil
}

// host implements ctx.host(name): one host by name, even outside --limit
// (module calls skip such a host).
func (c *playCtx) host(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackArgs("ctx.host", args, kwargs, "name", &name); err != nil {
		return nil, inputErr(err)
	}
	h, err := c.r.hostByName(name)
	if err != nil {
		return nil, &Error{Pos: callerPos(th), Module: "ctx.host", Err: inputErr(err)}
	}
	return h, nil
}

// callerPos is the position of the call to the builtin running on th, or
// "" when it was not called from Starlark code (ad-hoc runs).
func callerPos(th *starlark.Thread) string {
	if th.CallStackDepth() < 2 {
		return ""
	}
	p := th.CallFrame(1).Pos
	if !p.IsValid() {
		return ""
	}
	return p.String()
}
