package inventory

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Templates: the part of Jinja that inventories use. A variable whose
// value (or a string inside its list or mapping value) holds "{{" is a
// template, evaluated for the host whose variable it is, as Ansible
// evaluates it when the variable is used:
//
//	{{ name }}                    another variable of the same host
//	{{ inventory_hostname }}      and inventory_hostname_short, group_names
//	{{ groups['etcd'] }}          the hosts of a group, a list: groups['etcd'][0]
//	{{ hostvars['etcd-1']['v'] }} a variable of another host
//	{{ x | default('y') }}        and lower, upper, replace('a', 'b'), join(',')
//
// with string, number and boolean literals, subscripts ([0], ['key'])
// and attributes (.key). A template that is one {{ expression }} and
// nothing else keeps the type of its value (a list stays a list); one
// with text around it is a string. Anything else ({% %} blocks, other
// filters, lookups, operators) is an error naming the host, the variable
// and the expression, and so is an undefined name without default. It is
// raised only when that host's variable is read (Host.Lookup,
// Host.ConnectionError), never when the inventory is loaded.

// templateSubset is what errors say etcdplay does evaluate.
const templateSubset = "etcdplay evaluates {{ name }}, inventory_hostname, inventory_hostname_short, group_names, groups['g'], hostvars['h']['v'], literals, [..] and .attr subscripts, and the filters default, lower, upper, replace and join"

// VarError is a variable that cannot be resolved: a template outside
// what etcdplay evaluates, a template that refers to an undefined name,
// an Ansible Vault value without the password, a templated connection
// variable whose value cannot work. Host.Vars holds it in place of the
// value, and Host.Lookup returns it as the error.
type VarError struct {
	File string // where the variable was set, and its line (0 if unknown)
	Line int
	Host string
	Var  string
	Expr string // the template, or "" when the value was not one
	Msg  string

	cycle bool // Msg shows a chain of references that loops
}

func (e *VarError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(pos{e.File, e.Line}.String())
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "host %q: variable %q: ", e.Host, e.Var)
	if e.Expr != "" {
		b.WriteString(quote(e.Expr))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func isTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

// hasTemplate reports whether v is or holds a template string.
func hasTemplate(v any) bool {
	return anyLeaf(v, func(x any) bool { s, ok := x.(string); return ok && isTemplate(s) })
}

// resolver evaluates the templated variables of an inventory's hosts,
// each once: a host's variable may refer to another's, and to other
// hosts' through hostvars.
type resolver struct {
	inv   *Inventory
	raw   map[*Host]map[string]any // the variables as written, before templates
	state map[varKey]int           // 1: being resolved, 2: done
	err   map[varKey]*VarError
	stack []varKey
	cycle bool // the error being made is a loop's
	// usedSecret is set when the template being evaluated reads a
	// variable from Ansible Vault, which makes its value a secret too.
	usedSecret bool
}

type varKey struct {
	h    *Host
	name string
}

// resolveTemplates evaluates every templated variable of every host and
// puts the value, or a *VarError, in Host.Vars. It returns the templated
// variables of each host as they were written.
func (inv *Inventory) resolveTemplates() map[*Host]map[string]any {
	r := &resolver{inv: inv, raw: map[*Host]map[string]any{}, state: map[varKey]int{}, err: map[varKey]*VarError{}}
	var todo []varKey
	for _, h := range inv.hosts {
		start := len(todo)
		for k, v := range h.Vars {
			if _, locked := v.(lockedVault); locked {
				at, _ := h.source(k)
				h.Vars[k] = &VarError{File: at.file, Line: at.line, Host: h.Name, Var: k, Msg: vaultNoPassword}
				continue
			}
			if hasTemplate(v) {
				if r.raw[h] == nil {
					r.raw[h] = map[string]any{}
				}
				r.raw[h][k] = v
				todo = append(todo, varKey{h, k})
			}
		}
		// In name order, so that which variable of a loop reports it
		// does not change from run to run.
		sort.Slice(todo[start:], func(i, j int) bool { return todo[start+i].name < todo[start+j].name })
	}
	for _, k := range todo {
		r.resolve(k.h, k.name)
	}
	return r.raw
}

// resolve returns host h's variable name with its templates evaluated;
// ok is false when h has no such variable.
func (r *resolver) resolve(h *Host, name string) (v any, ok bool, err *VarError) {
	k := varKey{h, name}
	raw, templated := r.raw[h][name]
	if !templated {
		v, ok := h.Vars[name]
		if e, isErr := v.(*VarError); isErr {
			return nil, true, e
		}
		return v, ok, nil
	}
	switch r.state[k] {
	case 2:
		if e := r.err[k]; e != nil {
			return nil, true, e
		}
		return h.Vars[name], true, nil
	case 1:
		var path []string
		for i := len(r.stack) - 1; i >= 0; i-- {
			s := r.stack[i]
			path = append([]string{s.h.Name + "." + s.name}, path...)
			if s == k {
				break
			}
		}
		e := r.errorFor(h, name, raw, "refers to itself: "+strings.Join(append(path, h.Name+"."+name), " > "))
		e.cycle = true
		return nil, true, e
	}
	r.state[k] = 1
	r.stack = append(r.stack, k)
	outer := r.usedSecret
	r.usedSecret = false
	v, msg := r.value(h, raw)
	if r.usedSecret {
		if h.secret == nil {
			h.secret = map[string]bool{}
		}
		h.secret[name] = true
	}
	r.usedSecret = outer || r.usedSecret
	r.stack = r.stack[:len(r.stack)-1]
	r.state[k] = 2
	if msg != "" {
		e := r.errorFor(h, name, raw, msg)
		e.cycle = r.cycle
		r.cycle = false
		r.err[k] = e
		h.Vars[name] = e
		return nil, true, e
	}
	h.Vars[name] = v
	return v, true, nil
}

// inner is the error of a template that uses what, a variable that
// cannot be resolved: err's message after what, or for a loop the loop
// itself, which names every variable in it.
func (r *resolver) inner(what string, err *VarError) error {
	if err.cycle {
		r.cycle = true
		return errors.New(err.Msg)
	}
	return fmt.Errorf("%s: %s", what, err.Msg)
}

func (r *resolver) errorFor(h *Host, name string, raw any, msg string) *VarError {
	at, _ := h.source(name)
	expr, _ := raw.(string)
	return &VarError{File: at.file, Line: at.line, Host: h.Name, Var: name, Expr: expr, Msg: msg}
}

// value evaluates the templates in v for host h; msg says what is wrong.
func (r *resolver) value(h *Host, v any) (any, string) {
	switch v := v.(type) {
	case string:
		if !isTemplate(v) {
			return v, ""
		}
		return r.render(h, v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			y, msg := r.value(h, x)
			if msg != "" {
				return nil, msg
			}
			out[i] = y
		}
		return out, ""
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, msg := r.value(h, x)
			if msg != "" {
				return nil, msg
			}
			out[k] = y
		}
		return out, ""
	}
	return v, ""
}

// render evaluates one template string.
func (r *resolver) render(h *Host, s string) (any, string) {
	parts, err := parseTemplate(s)
	if err != nil {
		return nil, err.Error()
	}
	if len(parts) == 1 && parts[0].expr != nil {
		v, err := r.eval(h, parts[0].expr)
		if err != nil {
			return nil, err.Error()
		}
		if u, ok := v.(undefined); ok {
			return nil, u.Error()
		}
		return plain(v), ""
	}
	var b strings.Builder
	for _, p := range parts {
		if p.expr == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := r.eval(h, p.expr)
		if err != nil {
			return nil, err.Error()
		}
		if u, ok := v.(undefined); ok {
			return nil, u.Error()
		}
		b.WriteString(pyStr(plain(v)))
	}
	return b.String(), ""
}

// undefined is the value of a name no variable has: an error unless a
// default filter replaces it.
type undefined struct{ name string }

func (u undefined) Error() string {
	return fmt.Sprintf("%s is undefined (give it a value, or a default: {{ %s | default('...') }})", u.name, u.name)
}

// hostvarsValue is hostvars; hostRef is hostvars['h'], whose variables
// are resolved as they are read.
type (
	hostvarsValue struct{}
	hostRef       struct{ h *Host }
)

// plain turns evaluation values back into variable values.
func plain(v any) any {
	switch v := v.(type) {
	case hostRef:
		out := map[string]any{}
		for k, x := range v.h.Vars {
			if _, bad := x.(*VarError); !bad {
				out[k] = x
			}
		}
		return out
	case hostvarsValue:
		return map[string]any{}
	}
	return v
}

func (r *resolver) eval(h *Host, n tnode) (any, error) {
	switch n := n.(type) {
	case tlit:
		return n.v, nil
	case tname:
		switch n.name {
		case "hostvars":
			return hostvarsValue{}, nil
		case "groups":
			groups := make(map[string]any, len(r.inv.groups))
			for name, members := range r.inv.members {
				list := make([]any, len(members))
				for i, idx := range members {
					list[i] = r.inv.hosts[idx].Name
				}
				groups[name] = list
			}
			return groups, nil
		}
		v, ok, err := r.resolve(h, n.name)
		if err != nil {
			return nil, r.inner(n.name, err)
		}
		r.usedSecret = r.usedSecret || h.Secret(n.name)
		if !ok {
			return undefined{n.name}, nil
		}
		return v, nil
	case tindex:
		x, err := r.eval(h, n.x)
		if err != nil {
			return nil, err
		}
		key, err := r.eval(h, n.key)
		if err != nil {
			return nil, err
		}
		return r.index(x, key, n)
	case tfilter:
		x, err := r.eval(h, n.x)
		if err != nil {
			return nil, err
		}
		args := make([]any, len(n.args))
		for i, a := range n.args {
			if args[i], err = r.eval(h, a); err != nil {
				return nil, err
			}
		}
		return applyFilter(n.name, x, args)
	}
	return nil, fmt.Errorf("cannot evaluate %T", n)
}

func (r *resolver) index(x, key any, n tindex) (any, error) {
	if u, ok := x.(undefined); ok {
		return nil, u
	}
	if u, ok := key.(undefined); ok {
		return nil, u
	}
	what := n.x.String()
	switch x := x.(type) {
	case hostvarsValue:
		name, ok := key.(string)
		if !ok {
			return nil, fmt.Errorf("hostvars[%s]: expected a host name", pyRepr(key))
		}
		other, found := r.inv.hostByName[name]
		if !found {
			return nil, fmt.Errorf("hostvars[%s]: no host named %q%s", pyRepr(key), name, didYouMean(name, r.inv.hostNames()))
		}
		return hostRef{other}, nil
	case hostRef:
		name, ok := key.(string)
		if !ok {
			return nil, fmt.Errorf("%s[%s]: expected a variable name", what, pyRepr(key))
		}
		v, found, err := r.resolve(x.h, name)
		if err != nil {
			return nil, r.inner(fmt.Sprintf("%s[%s]", what, pyRepr(key)), err)
		}
		r.usedSecret = r.usedSecret || x.h.Secret(name)
		if !found {
			return undefined{fmt.Sprintf("%s[%s]", what, pyRepr(key))}, nil
		}
		return v, nil
	case map[string]any:
		k, ok := key.(string)
		if !ok {
			k, ok = keyString(key)
		}
		v, found := x[k]
		if !ok || !found {
			if what == "groups" {
				names := make([]string, 0, len(x))
				for g := range x {
					names = append(names, g)
				}
				return nil, fmt.Errorf("groups[%s]: no group named %s%s", pyRepr(key), pyRepr(key), didYouMean(k, names))
			}
			return undefined{fmt.Sprintf("%s[%s]", what, pyRepr(key))}, nil
		}
		return v, nil
	case []any:
		i, ok := key.(int)
		if !ok {
			return nil, fmt.Errorf("%s[%s]: a list takes a number as index", what, pyRepr(key))
		}
		if i < 0 {
			i += len(x)
		}
		if i < 0 || i >= len(x) {
			return nil, fmt.Errorf("%s[%s]: index out of range: the list has %d item(s)", what, pyRepr(key), len(x))
		}
		return x[i], nil
	}
	return nil, fmt.Errorf("%s[%s]: %s has no items", what, pyRepr(key), describe(x))
}

func (inv *Inventory) hostNames() []string {
	out := make([]string, len(inv.hosts))
	for i, h := range inv.hosts {
		out[i] = h.Name
	}
	return out
}

func applyFilter(name string, x any, args []any) (any, error) {
	nargs := func(lo, hi int) error {
		if len(args) < lo || len(args) > hi {
			if lo == hi {
				return fmt.Errorf("filter %s: expected %d argument(s), found %d", name, lo, len(args))
			}
			return fmt.Errorf("filter %s: expected %d to %d arguments, found %d", name, lo, hi, len(args))
		}
		return nil
	}
	if name != "default" {
		if u, ok := x.(undefined); ok {
			return nil, u
		}
	}
	for _, a := range args {
		if u, ok := a.(undefined); ok {
			return nil, u
		}
	}
	switch name {
	case "default":
		if err := nargs(0, 2); err != nil {
			return nil, err
		}
		var d any = ""
		if len(args) > 0 {
			d = args[0]
		}
		if _, ok := x.(undefined); ok {
			return d, nil
		}
		if len(args) == 2 && truthy(args[1]) && !truthy(x) {
			return d, nil
		}
		return x, nil
	case "lower", "upper":
		if err := nargs(0, 0); err != nil {
			return nil, err
		}
		if name == "lower" {
			return strings.ToLower(pyStr(plain(x))), nil
		}
		return strings.ToUpper(pyStr(plain(x))), nil
	case "replace":
		if err := nargs(2, 3); err != nil {
			return nil, err
		}
		n := -1
		if len(args) == 3 {
			c, ok := args[2].(int)
			if !ok {
				return nil, fmt.Errorf("filter replace: expected a count as third argument, found %s", describe(args[2]))
			}
			n = c
		}
		return strings.Replace(pyStr(plain(x)), pyStr(args[0]), pyStr(args[1]), n), nil
	case "join":
		if err := nargs(0, 1); err != nil {
			return nil, err
		}
		sep := ""
		if len(args) == 1 {
			sep = pyStr(args[0])
		}
		list, ok := x.([]any)
		if !ok {
			return nil, fmt.Errorf("filter join: expected a list, found %s", describe(plain(x)))
		}
		parts := make([]string, len(list))
		for i, v := range list {
			parts[i] = pyStr(v)
		}
		return strings.Join(parts, sep), nil
	}
	return nil, fmt.Errorf("filter %q is not supported: %s", name, templateSubset)
}

// truthy is Python's truth of a value, for default(x, true).
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case int:
		return v != 0
	case float64:
		return v != 0
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// pyStr is str(v) as Python (and so Jinja) writes it into text.
func pyStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case Vaulted:
		return string(v)
	}
	return pyRepr(v)
}

// pyRepr is repr(v) as Python writes it: strings quoted, lists and dicts
// in brackets, True, False and None.
func pyRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(v)
	case float64:
		return FormatFloat(v)
	case string:
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(v) + "'"
	case Vaulted:
		return pyRepr(string(v))
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = pyRepr(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// A parsed template is text and expressions.
type tpart struct {
	text string
	expr tnode
}

// tnode is an expression of the subset.
type tnode interface{ String() string }

type (
	tlit    struct{ v any }
	tname   struct{ name string }
	tindex  struct{ x, key tnode }
	tfilter struct {
		x    tnode
		name string
		args []tnode
	}
)

func (n tlit) String() string  { return pyRepr(n.v) }
func (n tname) String() string { return n.name }
func (n tindex) String() string {
	return n.x.String() + "[" + n.key.String() + "]"
}
func (n tfilter) String() string {
	s := n.x.String() + " | " + n.name
	if len(n.args) > 0 {
		args := make([]string, len(n.args))
		for i, a := range n.args {
			args[i] = a.String()
		}
		s += "(" + strings.Join(args, ", ") + ")"
	}
	return s
}

// parseTemplate splits s into text and {{ expressions }}.
func parseTemplate(s string) ([]tpart, error) {
	var parts []tpart
	for s != "" {
		i := strings.Index(s, "{")
		for i >= 0 && i+1 < len(s) && !strings.ContainsRune("{%#", rune(s[i+1])) {
			j := strings.Index(s[i+1:], "{")
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i < 0 || i+1 >= len(s) {
			parts = append(parts, tpart{text: s})
			break
		}
		if i > 0 {
			parts = append(parts, tpart{text: s[:i]})
		}
		switch s[i+1] {
		case '%':
			return nil, fmt.Errorf("{%% ... %%} blocks are not supported: %s", templateSubset)
		case '#':
			return nil, fmt.Errorf("{# ... #} comments are not supported: %s", templateSubset)
		}
		end := strings.Index(s[i+2:], "}}")
		if end < 0 {
			return nil, fmt.Errorf("{{ has no closing }}")
		}
		src := s[i+2 : i+2+end]
		e, err := parseExpr(src)
		if err != nil {
			return nil, err
		}
		parts = append(parts, tpart{expr: e})
		s = s[i+2+end+2:]
	}
	return parts, nil
}

// exprParser reads one expression of the subset.
type exprParser struct {
	s string
	i int
}

func parseExpr(src string) (tnode, error) {
	p := &exprParser{s: src}
	p.space()
	if p.i == len(p.s) {
		return nil, fmt.Errorf("empty {{ }}: expected an expression")
	}
	n, err := p.filtered()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, p.unsupported()
	}
	return n, nil
}

func (p *exprParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// unsupported says what was found where the subset ends.
func (p *exprParser) unsupported() error {
	rest := strings.TrimSpace(p.s[p.i:])
	what := rest
	if len(what) > 20 {
		what = what[:20] + "..."
	}
	return fmt.Errorf("%q is not supported here: %s", what, templateSubset)
}

func (p *exprParser) filtered() (tnode, error) {
	n, err := p.postfix()
	if err != nil {
		return nil, err
	}
	for {
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '|' {
			return n, nil
		}
		p.i++
		p.space()
		name := p.ident()
		if name == "" {
			return nil, fmt.Errorf("expected a filter name after |")
		}
		switch name {
		case "default", "lower", "upper", "replace", "join":
		default:
			return nil, fmt.Errorf("filter %q is not supported: %s", name, templateSubset)
		}
		f := tfilter{x: n, name: name}
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '(' {
			p.i++
			for {
				p.space()
				if p.i < len(p.s) && p.s[p.i] == ')' {
					p.i++
					break
				}
				a, err := p.filtered()
				if err != nil {
					return nil, err
				}
				f.args = append(f.args, a)
				p.space()
				if p.i < len(p.s) && p.s[p.i] == ',' {
					p.i++
					continue
				}
				if p.i < len(p.s) && p.s[p.i] == ')' {
					p.i++
					break
				}
				return nil, p.unsupported()
			}
		}
		n = f
	}
}

func (p *exprParser) postfix() (tnode, error) {
	n, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '[':
			p.i++
			p.space()
			key, err := p.filtered()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ']' {
				return nil, p.unsupported()
			}
			p.i++
			n = tindex{n, key}
		case '.':
			p.i++
			name := p.ident()
			if name == "" {
				return nil, p.unsupported()
			}
			n = tindex{n, tlit{name}}
		case '(':
			return nil, fmt.Errorf("calling %s(...) is not supported: %s", n, templateSubset)
		default:
			return n, nil
		}
	}
	return n, nil
}

func (p *exprParser) ident() string {
	start := p.i
	for p.i < len(p.s) && (isIdentChar(p.s[p.i]) && (p.i > start || !(p.s[p.i] >= '0' && p.s[p.i] <= '9'))) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *exprParser) primary() (tnode, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("expected a name or a value")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		end := p.i + 1
		var b strings.Builder
		for ; end < len(p.s) && p.s[end] != c; end++ {
			if p.s[end] == '\\' && end+1 < len(p.s) {
				end++
			}
			b.WriteByte(p.s[end])
		}
		if end >= len(p.s) {
			return nil, fmt.Errorf("string %s has no closing %c", p.s[p.i:], c)
		}
		p.i = end + 1
		return tlit{b.String()}, nil
	case c >= '0' && c <= '9' || c == '-':
		start := p.i
		p.i++
		for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
			p.i++
		}
		text := p.s[start:p.i]
		if n, err := strconv.Atoi(text); err == nil {
			return tlit{n}, nil
		}
		if f, err := strconv.ParseFloat(text, 64); err == nil {
			return tlit{f}, nil
		}
		p.i = start
		return nil, p.unsupported()
	case isIdentStart(c):
		name := p.ident()
		switch name {
		case "true", "True":
			return tlit{true}, nil
		case "false", "False":
			return tlit{false}, nil
		case "none", "None":
			return tlit{nil}, nil
		case "lookup", "query", "q", "range", "now", "undef":
			return nil, fmt.Errorf("%s(...) is not supported: %s", name, templateSubset)
		case "not", "and", "or", "in", "is", "if":
			p.i -= len(name)
			return nil, p.unsupported()
		}
		return tname{name}, nil
	}
	return nil, p.unsupported()
}
