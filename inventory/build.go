package inventory

import (
	"fmt"
	"strings"
)

// builder accumulates hosts, groups and variables from one or more files,
// in the order they are read, the way Ansible's InventoryData does; build
// then applies Ansible's reconcile rules and resolves every host's vars.
type builder struct {
	hosts      []*hostDef
	hostByName map[string]*hostDef
	groups     []*groupDef
	groupByNm  map[string]*groupDef
	all        *groupDef
	ungrouped  *groupDef
	source     string // absolute path of the file being read, for inventory_file
	warnings   []string
	ancestors  [][]*groupDef // by group index, filled in by build
	varsDirs   []string      // where to look for group_vars/ and host_vars/
	// vaultPassword opens Ansible Vault values and files (Options).
	vaultPassword []byte
	// secret is set while a file encrypted with Ansible Vault is read:
	// every variable it sets is a secret, never printed.
	secret bool
}

type hostDef struct {
	name     string
	at       pos         // where it first appears
	source   string      // the file it first appears in, for inventory_file
	vars     []hostVar   // in the order set: a later one wins
	fileVars []hostVar   // from host_vars/ files, which win over vars
	groups   []*groupDef // direct groups, in the order joined
}

// hostVar is one assignment of a host variable. Hosts keep a list rather
// than a map: most have a handful of variables, and a map per host was a
// large part of the time to load a big inventory.
type hostVar struct {
	key string
	value
}

type groupDef struct {
	name     string
	idx      int // position in builder.groups
	at       pos
	declared bool // has a [name] or [name:children] section, or comes from YAML
	hosts    []*hostDef
	children []*groupDef
	parents  []*groupDef
	vars     map[string]value
	fileVars []hostVar // from group_vars/ files
	priority int
	depth    int
}

// value is a variable's value and where it was set.
type value struct {
	v  any
	at pos
	// secret: it came from a file encrypted with Ansible Vault.
	secret bool
}

func newBuilder() *builder {
	b := &builder{hostByName: map[string]*hostDef{}, groupByNm: map[string]*groupDef{}}
	b.all = b.group("all", pos{})
	b.ungrouped = b.group("ungrouped", pos{})
	b.all.declared, b.ungrouped.declared = true, true
	b.all.children = append(b.all.children, b.ungrouped)
	b.ungrouped.parents = append(b.ungrouped.parents, b.all)
	return b
}

// group returns the group called name, creating it (first seen at at).
func (b *builder) group(name string, at pos) *groupDef {
	if g := b.groupByNm[name]; g != nil {
		return g
	}
	g := &groupDef{name: name, idx: len(b.groups), at: at, vars: map[string]value{}, priority: 1}
	b.groups = append(b.groups, g)
	b.groupByNm[name] = g
	return g
}

// host returns the host called name, creating it (first seen at at, with
// ansible_port set from a "host:port" form, which as in Ansible only
// counts where the host is first defined).
func (b *builder) host(name string, port int, at pos) *hostDef {
	if h := b.hostByName[name]; h != nil {
		return h
	}
	h := &hostDef{name: name, at: at, source: b.source}
	if port > 0 {
		h.vars = append(h.vars, hostVar{"ansible_port", value{v: port, at: at}})
	}
	b.hosts = append(b.hosts, h)
	b.hostByName[name] = h
	return h
}

func (b *builder) addHost(g *groupDef, h *hostDef) {
	for _, x := range h.groups {
		if x == g {
			return
		}
	}
	h.groups = append(h.groups, g)
	g.hosts = append(g.hosts, h)
}

// addChild makes child a child group of parent. at is where that is said,
// for the error when it would make a loop.
func (b *builder) addChild(parent, child *groupDef, at pos) error {
	if child == b.all {
		return at.errorf("group %q cannot be a child of %q: every group is already inside \"all\"", "all", parent.name)
	}
	if parent == child {
		return at.errorf("group %q cannot be a child of itself", parent.name)
	}
	for _, c := range parent.children {
		if c == child {
			return nil
		}
	}
	if path := b.pathDown(child, parent); path != nil {
		names := make([]string, 0, len(path)+1)
		for _, g := range path {
			names = append(names, g.name)
		}
		names = append(names, child.name)
		return at.errorf("making %q a child of %q would create a loop: %s; expected groups to form a tree without cycles",
			child.name, parent.name, strings.Join(names, " > "))
	}
	parent.children = append(parent.children, child)
	child.parents = append(child.parents, parent)
	return nil
}

// pathDown returns the chain of groups from `from` down to `to` through
// children, or nil if `to` is not below `from`.
func (b *builder) pathDown(from, to *groupDef) []*groupDef {
	seen := map[*groupDef]bool{}
	var walk func(g *groupDef) []*groupDef
	walk = func(g *groupDef) []*groupDef {
		if g == to {
			return []*groupDef{g}
		}
		if seen[g] {
			return nil
		}
		seen[g] = true
		for _, c := range g.children {
			if p := walk(c); p != nil {
				return append([]*groupDef{g}, p...)
			}
		}
		return nil
	}
	return walk(from)
}

// setGroupVar sets a group variable. ansible_group_priority is not a
// variable but the group's merge priority, as in Ansible.
func (b *builder) setGroupVar(g *groupDef, key string, v any, at pos) error {
	if key == "ansible_group_priority" {
		n, ok := toInt(v)
		if !ok {
			return at.errorf("ansible_group_priority for group %q: expected an integer, found %s", g.name, describe(v))
		}
		g.priority = n
		return nil
	}
	g.vars[key] = value{v, at, b.secret}
	return nil
}

func (b *builder) setHostVar(h *hostDef, key string, v any, at pos) {
	h.vars = append(h.vars, hostVar{key, value{v, at, b.secret}})
}

// toInt accepts an int, or a string or float that holds one.
func toInt(v any) (int, bool) {
	switch v := v.(type) {
	case Vaulted:
		return toInt(string(v))
	case int:
		return v, true
	case float64:
		if v == float64(int(v)) {
			return int(v), true
		}
	case string:
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(v), &n); err == nil && fmt.Sprint(n) == strings.TrimLeft(strings.TrimSpace(v), "+") {
			return n, true
		}
	}
	return 0, false
}

// describe shows a value found where another was expected.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return "the string " + quote(v)
	case Vaulted:
		return "a value from Ansible Vault"
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case int, float64:
		return fmt.Sprintf("the number %v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
