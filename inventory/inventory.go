package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Inventory is a parsed inventory: hosts in the order they were first
// defined, groups, and every host's resolved variables. It is read-only
// once loaded, except for SetLimit, which should be called before the
// inventory is shared between goroutines.
type Inventory struct {
	hosts      []*Host
	hostByName map[string]*Host
	groups     map[string]*Group
	groupList  []*Group // all, then by name
	groupOrder []*Group // in the order first seen, as Ansible iterates them
	// members holds, per group, the indexes of its hosts and its
	// descendants' hosts in Ansible's order for that group (its own hosts,
	// then its children's, breadth first): what subscripts like etcd[0]
	// count in.
	members  map[string][]int
	limit    []bool // nil when there is no --limit
	warnings []string
}

// Host is one inventory host.
type Host struct {
	Name string
	// Vars are the host's variables with Ansible's precedence applied (all,
	// then parent groups, then child groups, then the host itself), plus
	// inventory_hostname, inventory_hostname_short, group_names,
	// inventory_file and inventory_dir. Treat the map as read-only; each
	// host has its own copy of list and map values.
	Vars map[string]any
	// Groups are the groups the host is in, directly or through a child
	// group, sorted, without "all".
	Groups []string

	index  int
	def    *hostDef          // for VarSource: the host's own variables
	chain  *chain            // and its groups' merged variables
	extra  map[string]string // variables set by extra vars (SetExtraVars): the source of what each overrides
	secret map[string]bool   // templated variables that used a secret
}

// Group is one inventory group. "all" and "ungrouped" always exist.
type Group struct {
	Name     string
	Hosts    []string // hosts directly in the group, in the order added
	Children []string // child groups, in the order they were added
	Parents  []string
	Vars     map[string]any // the group's own variables, before precedence
}

// Load reads inventory files and merges them in order, as several -i
// options do in Ansible. A file named .yaml, .yml or .json is YAML, .ini
// is INI, anything else is recognised by its content. A directory loads
// the files in it in name order, skipping hidden files, group_vars,
// host_vars and backup or documentation files (*~, *.bak, *.md, *.txt,
// ...), as Ansible does.
//
// Every error is a *ParseError (possibly wrapped) with the file and line.
func Load(paths ...string) (*Inventory, error) {
	return Options{}.Load(paths...)
}

// Options say how Load reads inventories.
type Options struct {
	// VaultPassword decrypts what is encrypted with Ansible Vault: !vault
	// values, and inventory, group_vars and host_vars files (see
	// ReadVaultPasswordFile). Without it an encrypted file is an error, and
	// a !vault value an error when its host's variable is used.
	VaultPassword []byte
}

// Load is Load with o.
func (o Options) Load(paths ...string) (*Inventory, error) {
	b := newBuilder()
	b.vaultPassword = o.VaultPassword
	for _, p := range paths {
		if err := b.loadPath(p, true); err != nil {
			return nil, err
		}
	}
	if err := b.loadVarsDirs(); err != nil {
		return nil, err
	}
	return b.build()
}

// Parse reads one inventory from data; name is the file name used for the
// format (by extension) and in errors. Every error is a *ParseError.
func Parse(name string, data []byte) (*Inventory, error) {
	b := newBuilder()
	if err := b.parse(name, name, data); err != nil {
		return nil, err
	}
	return b.build()
}

// ignoredInDir are the names Ansible skips when it reads a directory of
// inventory files (IGNORED_ALWAYS and the default INVENTORY_IGNORE_EXTS).
var ignoredInDir = regexp.MustCompile(`^\.|^host_vars$|^group_vars$|^vars_plugins$|(?:\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.cfg|\.retry)$`)

func (b *builder) loadPath(path string, top bool) error {
	if path == "" {
		return &ParseError{File: `""`, Msg: "empty inventory path: expected a file or directory name"}
	}
	info, err := os.Stat(path)
	if err != nil {
		msg := "cannot read inventory: " + pathErr(err)
		if top && errors.Is(err, fs.ErrNotExist) && strings.Contains(path, ",") {
			// Ansible reads a -i that is not a path but has a comma as a
			// list of hosts ("h1,h2,"); etcdplay reads only files.
			msg += " (a list of hosts such as -i 'h1,h2,' is not read as an inventory: write the hosts in an INI file)"
		}
		return &ParseError{File: path, Msg: msg}
	}
	if top {
		b.addVarsDir(path, info.IsDir())
	}
	if info.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return &ParseError{File: path, Msg: "cannot read inventory directory: " + pathErr(err)}
		}
		for _, e := range entries { // os.ReadDir sorts by name
			if ignoredInDir.MatchString(e.Name()) {
				continue
			}
			if err := b.loadPath(filepath.Join(path, e.Name()), false); err != nil {
				return err
			}
		}
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return &ParseError{File: path, Msg: "cannot read inventory: " + pathErr(err)}
	}
	if bytes.HasPrefix(data, []byte("#!")) && info.Mode()&0o111 != 0 {
		return &ParseError{File: path, Line: 1, Msg: "this is an executable inventory script: expected a static INI or YAML inventory (run the script and save its output as a .json file)"}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	if isVaulted(data) {
		// Ansible opens an encrypted inventory file as it opens any.
		if data, err = b.openVault(path, data); err != nil {
			return err
		}
		b.secret = true
		defer func() { b.secret = false }()
	}
	return b.parse(path, abs, data)
}

func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parse reads one file's data into b. name is what errors call it, abs
// what inventory_file says.
func (b *builder) parse(name, abs string, data []byte) error {
	b.source = abs
	defer func() { b.source = "" }()
	if formatOf(name, data) == "yaml" {
		return parseYAML(b, name, data, func(w string) { b.warnings = append(b.warnings, w) })
	}
	return parseINI(b, name, data)
}

var yamlKeyLine = regexp.MustCompile(`^(?:"[^"]*"|'[^']*'|[^\s\[\]=#;"'][^\s=#;]*)\s*:(?:\s|$)`)

// formatOf decides how to read a file: by extension, else by its first
// line that is not blank or a comment.
func formatOf(name string, data []byte) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return "yaml"
	case ".ini":
		return "ini"
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
		switch {
		case line == "" || line[0] == '#':
			continue
		case line[0] == ';' || line[0] == '[':
			return "ini"
		case line == "---" || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "%YAML") ||
			line[0] == '{' || strings.HasPrefix(line, "- ") || yamlKeyLine.MatchString(line):
			return "yaml"
		}
		return "ini"
	}
	return "ini"
}

// build applies Ansible's reconcile rules (groups without a parent go
// under all; hosts in no other group are in ungrouped), works out group
// depths and every host's variables, and checks the connection variables.
func (b *builder) build() (*Inventory, error) {
	for _, g := range b.groups {
		if g != b.all && len(g.parents) == 0 {
			b.all.children = append(b.all.children, g)
			g.parents = append(g.parents, b.all)
		}
	}
	b.ancestors = make([][]*groupDef, len(b.groups))
	leave := map[*hostDef]bool{}
	for _, h := range b.hosts {
		b.reconcileUngrouped(h, leave)
	}
	if len(leave) > 0 {
		b.ungrouped.hosts = slices.DeleteFunc(b.ungrouped.hosts, func(h *hostDef) bool { return leave[h] })
	}
	depth := map[*groupDef]int{b.all: 0}
	var depthOf func(g *groupDef) int
	depthOf = func(g *groupDef) int {
		if d, ok := depth[g]; ok {
			return d
		}
		d := 0
		for _, p := range g.parents {
			d = max(d, depthOf(p)+1)
		}
		depth[g] = d
		return d
	}
	for _, g := range b.groups {
		g.depth = depthOf(g)
	}

	inv := &Inventory{
		hostByName: make(map[string]*Host, len(b.hosts)),
		groups:     make(map[string]*Group, len(b.groups)),
		members:    make(map[string][]int, len(b.groups)),
		warnings:   b.warnings,
	}
	index := make(map[*hostDef]int, len(b.hosts))
	for i, hd := range b.hosts {
		index[hd] = i
	}
	chains := map[string]*chain{}
	for _, hd := range b.hosts {
		h, err := b.resolve(hd, index[hd], chains)
		if err != nil {
			return nil, err
		}
		inv.hosts = append(inv.hosts, h)
		inv.hostByName[h.Name] = h
	}
	hostSeen := make([]bool, len(b.hosts))
	for _, gd := range b.groups {
		g := &Group{Name: gd.name, Vars: map[string]any{}}
		for _, h := range gd.hosts {
			g.Hosts = append(g.Hosts, h.name)
		}
		for _, c := range gd.children {
			g.Children = append(g.Children, c.name)
		}
		for _, p := range gd.parents {
			g.Parents = append(g.Parents, p.name)
		}
		for k, v := range gd.vars {
			g.Vars[k] = deepCopy(v.v)
		}
		inv.groups[g.Name] = g
		inv.groupList = append(inv.groupList, g)
		inv.groupOrder = append(inv.groupOrder, g)
		inv.members[g.Name] = b.members(gd, index, hostSeen)
		if b.hostByName[gd.name] != nil {
			inv.warnings = append(inv.warnings, fmt.Sprintf("%q is both a host and a group: a plain pattern %q selects the host", gd.name, gd.name))
		}
	}
	sort.Slice(inv.groupList, func(i, j int) bool {
		a, c := inv.groupList[i], inv.groupList[j]
		if (a.Name == "all") != (c.Name == "all") {
			return a.Name == "all"
		}
		return a.Name < c.Name
	})
	templated := inv.resolveTemplates()
	for _, h := range inv.hosts {
		if err := h.check(templated[h]); err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// reconcileUngrouped puts a host that is in no group but all (or in none)
// into ungrouped, and takes a host out of ungrouped once it is in another
// group, as Ansible's reconcile_inventory does. Unlike Ansible, only the
// groups the host is directly in count: if ungrouped itself has a parent,
// Ansible takes its hosts out of every group. Hosts to take out of
// ungrouped's own list are added to leave, for the caller to remove in
// one pass.
func (b *builder) reconcileUngrouped(h *hostDef, leave map[*hostDef]bool) {
	inUngrouped, others := false, false
	for _, g := range h.groups {
		switch g {
		case b.ungrouped:
			inUngrouped = true
		case b.all:
		default:
			others = true
		}
	}
	switch {
	case inUngrouped && others:
		h.groups = slices.DeleteFunc(h.groups, func(g *groupDef) bool { return g == b.ungrouped })
		leave[h] = true
	case !inUngrouped && !others:
		b.addHost(b.ungrouped, h)
	}
}

// ancestry is every group h is in: its own and all their ancestors.
func (b *builder) ancestry(h *hostDef) []*groupDef {
	if len(h.groups) == 1 {
		return b.groupAncestry(h.groups[0])
	}
	seen := make([]bool, len(b.groups))
	var out []*groupDef
	for _, g := range h.groups {
		for _, a := range b.groupAncestry(g) {
			if !seen[a.idx] {
				seen[a.idx] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// groupAncestry is g and all its ancestors, worked out once per group.
func (b *builder) groupAncestry(g *groupDef) []*groupDef {
	if a := b.ancestors[g.idx]; a != nil {
		return a
	}
	seen := map[*groupDef]bool{g: true}
	out := []*groupDef{g}
	for i := 0; i < len(out); i++ {
		for _, p := range out[i].parents {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	b.ancestors[g.idx] = out
	return out
}

// members lists g's hosts and its descendants' hosts: g's own first, then
// each level of children in order.
func (b *builder) members(g *groupDef, index map[*hostDef]int, hostSeen []bool) []int {
	order := []*groupDef{g}
	seen := map[*groupDef]bool{g: true}
	for i := 0; i < len(order); i++ { // breadth first: each level in order
		for _, c := range order[i].children {
			if !seen[c] {
				seen[c] = true
				order = append(order, c)
			}
		}
	}
	var out []int
	for _, x := range order {
		for _, h := range x.hosts {
			if i := index[h]; !hostSeen[i] {
				hostSeen[i] = true
				out = append(out, i)
			}
		}
	}
	for _, i := range out {
		hostSeen[i] = false
	}
	return out
}

// chain is the groups of the hosts that are directly in the same groups,
// sorted for merging, with their variables merged once for all of them.
type chain struct {
	names []string         // sorted, without all: Host.Groups
	vars  map[string]value // merged group variables
}

// resolve merges a host's variables: its groups sorted by depth, then
// ansible_group_priority, then name (so all comes first and a child group
// wins over its parent), then the host's own, then the magic variables.
func (b *builder) resolve(hd *hostDef, index int, chains map[string]*chain) (*Host, error) {
	var buf [64]byte
	key := buf[:0]
	for _, g := range hd.groups {
		key = strconv.AppendInt(key, int64(g.idx), 36)
		key = append(key, ',')
	}
	c := chains[string(key)]
	if c == nil {
		c = b.newChain(hd)
		chains[string(key)] = c
	}
	h := &Host{Name: hd.name, Groups: append([]string(nil), c.names...), index: index, def: hd, chain: c}
	h.Vars = make(map[string]any, len(c.vars)+len(hd.vars)+5)
	for k, v := range c.vars {
		h.Vars[k] = deepCopy(v.v)
	}
	for _, v := range hd.vars {
		h.Vars[v.key] = deepCopy(v.v)
	}
	for _, v := range hd.fileVars {
		h.Vars[v.key] = deepCopy(v.v)
	}
	names := make([]any, len(c.names))
	for i, g := range c.names {
		names[i] = g
	}
	short, _, _ := strings.Cut(hd.name, ".")
	h.Vars["inventory_hostname"] = hd.name
	h.Vars["inventory_hostname_short"] = short
	h.Vars["group_names"] = names
	if _, ok := h.Vars["inventory_file"]; !ok {
		h.Vars["inventory_file"] = hd.source
		h.Vars["inventory_dir"] = filepath.Dir(hd.source)
	}
	return h, nil
}

func (b *builder) newChain(hd *hostDef) *chain {
	groups := append([]*groupDef(nil), b.ancestry(hd)...)
	hasAll := false
	for _, g := range groups {
		hasAll = hasAll || g == b.all
	}
	if !hasAll {
		groups = append(groups, b.all)
	}
	sort.Slice(groups, func(i, j int) bool {
		a, c := groups[i], groups[j]
		if a.depth != c.depth {
			return a.depth < c.depth
		}
		if a.priority != c.priority {
			return a.priority < c.priority
		}
		return a.name < c.name
	})
	c := &chain{vars: map[string]value{}, names: make([]string, 0, len(groups))}
	for _, g := range groups {
		for k, v := range g.vars {
			c.vars[k] = v
		}
		if g != b.all {
			c.names = append(c.names, g.name)
		}
	}
	// Then group_vars/ files, all first: Ansible's default
	// VARIABLE_PRECEDENCE puts them above every group's inventory vars.
	for _, g := range groups {
		for _, v := range g.fileVars {
			c.vars[v.key] = v.value
		}
	}
	sort.Strings(c.names)
	return c
}

// MagicVar reports whether name is one of the variables etcdplay adds to
// every host (inventory_hostname, inventory_hostname_short, group_names,
// inventory_file, inventory_dir), which ansible-inventory leaves out of its
// listings.
func MagicVar(name string) bool {
	switch name {
	case "inventory_hostname", "inventory_hostname_short", "group_names", "inventory_file", "inventory_dir":
		return true
	}
	return false
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = deepCopy(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = deepCopy(x)
		}
		return out
	}
	return v
}

// Hosts returns every host in inventory order (the order in which hosts
// first appear in the files), restricted to the limit if one is set.
func (inv *Inventory) Hosts() []*Host {
	out := make([]*Host, 0, len(inv.hosts))
	for i, h := range inv.hosts {
		if inv.limit == nil || inv.limit[i] {
			out = append(out, h)
		}
	}
	return out
}

// Host returns the host called name, whether or not it is within the
// limit: a playbook may need to know about a host it does not target.
func (inv *Inventory) Host(name string) (*Host, bool) {
	h, ok := inv.hostByName[name]
	return h, ok
}

// Groups returns every group: all first, then the others by name
// (ungrouped among them).
func (inv *Inventory) Groups() []*Group {
	return append([]*Group(nil), inv.groupList...)
}

// Group returns the group called name.
func (inv *Inventory) Group(name string) (*Group, bool) {
	g, ok := inv.groups[name]
	return g, ok
}

// Warnings returns things that were accepted but look wrong, such as a
// host and a group with the same name, or a Vault-encrypted value.
func (inv *Inventory) Warnings() []string { return append([]string(nil), inv.warnings...) }

// Var returns the resolved value of a variable: a *VarError when it
// cannot be resolved (see Lookup).
func (h *Host) Var(name string) (any, bool) {
	v, ok := h.Vars[name]
	return v, ok
}

// Lookup returns the resolved value of a variable, with its templates
// evaluated; err is the *VarError that says why it cannot be resolved
// (a template outside the subset, an undefined name, a Vault value
// without the password), naming the host, the variable and the
// expression.
func (h *Host) Lookup(name string) (v any, ok bool, err error) {
	v, ok = h.Vars[name]
	if e, bad := v.(*VarError); bad {
		return nil, true, e
	}
	return v, ok, nil
}

// ConnectionError is the first of the connection variables (those that
// Address, Port, User, KeyFile, Become and BecomeUser read) that cannot
// be resolved, or nil. Check it before connecting: the accessors cannot
// return an error, and a host must never be reached at an address that
// is not the one the inventory meant.
func (h *Host) ConnectionError() error {
	for _, names := range [][]string{addressVars, portVars, userVars, keyFileVars, becomeVars, becomeUserVars} {
		if _, v, ok := h.first(names); ok {
			if e, bad := v.(*VarError); bad {
				return e
			}
		}
	}
	return nil
}

// VarSource says where the value of a variable came from, as "FILE:LINE"
// (or "extra vars (-e)"), or "" for magic variables and unknown names.
func (h *Host) VarSource(name string) string {
	if over, ok := h.extra[name]; ok {
		if over != "" {
			return "extra vars (-e), over " + over
		}
		return "extra vars (-e)"
	}
	if p, ok := h.source(name); ok {
		return p.String()
	}
	return ""
}

func (h *Host) source(name string) (pos, bool) {
	v, ok := h.winning(name)
	return v.at, ok
}

// winning is the assignment whose value a variable has.
func (h *Host) winning(name string) (value, bool) {
	if h.def == nil || MagicVar(name) {
		return value{}, false
	}
	for _, list := range [][]hostVar{h.def.fileVars, h.def.vars} {
		for i := len(list) - 1; i >= 0; i-- {
			if list[i].key == name {
				return list[i].value, true
			}
		}
	}
	v, ok := h.chain.vars[name]
	return v, ok
}

// Secret reports whether a variable's value came from Ansible Vault: a
// !vault value, a file encrypted with it, or a template that used one.
// Nothing that etcdplay prints shows such a value: it shows VaultedText.
func (h *Host) Secret(name string) bool {
	if h.secret[name] {
		return true
	}
	if v, ok := h.winning(name); ok && v.secret {
		return true
	}
	return anyLeaf(h.Vars[name], func(v any) bool { _, ok := v.(Vaulted); return ok })
}

// anyLeaf reports whether match is true of v or, in a list or mapping,
// of any value inside it.
func anyLeaf(v any, match func(any) bool) bool {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if anyLeaf(x, match) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, x := range v {
			if anyLeaf(x, match) {
				return true
			}
		}
		return false
	}
	return match(v)
}

// The connection variables and their aliases, first match wins: Ansible's
// names first, then etcdplay's short names.
var (
	addressVars    = []string{"ansible_host", "ansible_ssh_host", "host", "address"}
	portVars       = []string{"ansible_port", "ansible_ssh_port", "port"}
	userVars       = []string{"ansible_user", "ansible_ssh_user", "user"}
	keyFileVars    = []string{"ansible_ssh_private_key_file", "ansible_private_key_file", "private_key"}
	becomeVars     = []string{"ansible_become", "become"}
	becomeUserVars = []string{"ansible_become_user", "become_user"}
)

// first returns the first of names set to something other than null.
func (h *Host) first(names []string) (name string, v any, ok bool) {
	for _, n := range names {
		if v, ok := h.Vars[n]; ok && v != nil {
			return n, v, true
		}
	}
	return "", nil, false
}

// Address is where to connect: ansible_host, ansible_ssh_host, host or
// address, else the host's name. Brackets around an IPv6 address are
// removed.
func (h *Host) Address() string {
	if _, v, ok := h.first(addressVars); ok {
		s := scalarString(v)
		if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			s = s[1 : len(s)-1]
		}
		return s
	}
	return h.Name
}

// Port is the SSH port: ansible_port, ansible_ssh_port or port (also set
// by "host:port" in a host line); 0 when none is set.
func (h *Host) Port() int {
	if _, v, ok := h.first(portVars); ok {
		n, _ := portNumber(v)
		return n
	}
	return 0
}

// User is the login user: ansible_user, ansible_ssh_user or user; "" when
// none is set.
func (h *Host) User() string {
	if _, v, ok := h.first(userVars); ok {
		return scalarString(v)
	}
	return ""
}

// KeyFile is the private key file, as written (a leading ~ is not
// expanded here): ansible_ssh_private_key_file, ansible_private_key_file
// or private_key; "" when none is set.
func (h *Host) KeyFile() string {
	if _, v, ok := h.first(keyFileVars); ok {
		return scalarString(v)
	}
	return ""
}

// Become says whether to run commands with sudo, from ansible_become or
// become, read as Ansible reads booleans (yes/no, true/false, on/off, 1/0,
// in any case); set is false when neither is set.
func (h *Host) Become() (become bool, set bool) {
	if _, v, ok := h.first(becomeVars); ok {
		b, _ := Bool(v)
		return b, true
	}
	return false, false
}

// BecomeUser is the user to become: ansible_become_user or become_user;
// "" when none is set.
func (h *Host) BecomeUser() string {
	if _, v, ok := h.first(becomeUserVars); ok {
		return scalarString(v)
	}
	return ""
}

// check refuses connection variables that cannot be used, at the line
// that set them, so a bad port is found when the inventory is read rather
// than halfway through a run. A value that came from a template
// (templated holds the host's templated variables as written) is not
// refused here but turned into a *VarError, raised when it is used, like
// a template that cannot be evaluated: one host's template must not stop
// a run that does not touch that host.
func (h *Host) check(templated map[string]any) error {
	bad := func(name string, format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		at, _ := h.source(name)
		if raw, ok := templated[name]; ok {
			expr, _ := raw.(string)
			h.Vars[name] = &VarError{File: at.file, Line: at.line, Host: h.Name, Var: name, Expr: expr, Msg: msg}
			return nil
		}
		return at.errorf("%s for host %q: %s", name, h.Name, msg)
	}
	stringish := func(names []string, what string) error {
		name, v, ok := h.first(names)
		if !ok {
			return nil
		}
		switch v.(type) {
		case string, int, float64, Vaulted:
		case *VarError:
			return nil // raised when used
		default:
			return bad(name, "expected %s, found %s", what, describe(v))
		}
		if s := scalarString(v); strings.TrimSpace(s) == "" {
			return bad(name, "expected %s, found an empty string", what)
		}
		return nil
	}
	if err := stringish(addressVars, "a host name or address"); err != nil {
		return err
	}
	if name, v, _ := h.first(addressVars); name != "" && !isVarError(v) && strings.ContainsAny(scalarString(v), " \t") {
		if err := bad(name, "expected a host name or address, found %s, which has blanks in it", quote(scalarString(v))); err != nil {
			return err
		}
	}
	if name, v, ok := h.first(portVars); ok && !isVarError(v) {
		if _, ok := portNumber(v); !ok {
			if err := bad(name, "expected a port number from 1 to 65535, found %s", describe(v)); err != nil {
				return err
			}
		}
	}
	if err := stringish(userVars, "a user name"); err != nil {
		return err
	}
	if err := stringish(keyFileVars, "a key file path"); err != nil {
		return err
	}
	if err := stringish(becomeUserVars, "a user name"); err != nil {
		return err
	}
	if name, v, ok := h.first(becomeVars); ok && !isVarError(v) {
		if _, ok := Bool(v); !ok {
			return bad(name, "expected a boolean (true/false, yes/no, on/off, 1/0), found %s", describe(v))
		}
	}
	return nil
}

func isVarError(v any) bool {
	_, ok := v.(*VarError)
	return ok
}

func portNumber(v any) (int, bool) {
	n, ok := toInt(v)
	if !ok || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// Bool reads a boolean the way Ansible's boolean() does.
func Bool(v any) (b bool, ok bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case int:
		if v == 0 || v == 1 {
			return v == 1, true
		}
	case float64:
		if v == 0 || v == 1 {
			return v == 1, true
		}
	case Vaulted:
		return Bool(string(v))
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "y", "yes", "on", "1", "true", "t":
			return true, true
		case "n", "no", "off", "0", "false", "f":
			return false, true
		}
	}
	return false, false
}

func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case Vaulted:
		return string(v)
	case int:
		return strconv.Itoa(v)
	case float64:
		return FormatFloat(v)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
