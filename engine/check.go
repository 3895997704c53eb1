package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/etcdplay/etcdplay/inventory"
	"github.com/etcdplay/etcdplay/inventory/suggest"
)

// CheckConfig is what Check needs. Nothing in it connects anywhere.
type CheckConfig struct {
	Modules []Module
	Shipped fs.FS
	// Inventory, if set, is used to check literal host patterns and names
	// (ctx.hosts("etcd"), ctx.host("etcd-1"), a pattern string as a target).
	Inventory *inventory.Inventory
}

// Diagnostic is one problem Check found, at a position in a playbook file.
type Diagnostic struct {
	Pos string `json:"pos"`
	Msg string `json:"msg"`
}

func (d Diagnostic) String() string {
	if d.Pos == "" {
		return d.Msg
	}
	return d.Pos + ": " + d.Msg
}

// Check checks a playbook and every file it loads without running them:
// syntax, undefined names, loads of missing files or names, calls to
// unknown modules, unknown or missing module arguments, attributes ctx
// does not have (where ctx is a function's parameter), a missing
// main(ctx), and, given an inventory, literal host patterns that match no
// host. It returns the problems in file and position order.
func Check(pb *Playbook, cfg CheckConfig) []Diagnostic {
	c := &checker{
		cfg:     cfg,
		modules: map[string]ModuleInfo{},
		files:   map[source]*checkedFile{},
		loader:  newLoader(cfg.Shipped, nil),
	}
	for _, m := range cfg.Modules {
		info := m.Info()
		c.modules[info.Name] = info
	}
	f := c.file(pb.src, pb.data)
	if f.parsed && !f.globals["main"] {
		c.add(pb.Name(), "no main(ctx) function: a playbook defines def main(ctx): and etcdplay calls it")
	} else if f.mainParams == 0 && f.parsed {
		c.add(f.mainPos, "main takes no parameters: define it as def main(ctx):")
	}
	sort.SliceStable(c.diags, func(i, j int) bool { return posLess(c.diags[i].Pos, c.diags[j].Pos) })
	return c.diags
}

type checker struct {
	cfg     CheckConfig
	modules map[string]ModuleInfo
	files   map[source]*checkedFile
	loader  *loader
	diags   []Diagnostic
}

type checkedFile struct {
	parsed     bool
	loading    bool
	globals    map[string]bool
	mainParams int
	mainPos    string
}

func (c *checker) add(pos, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) isPredeclared(name string) bool {
	if _, ok := c.modules[name]; ok {
		return true
	}
	for _, h := range helperNames {
		if h == name {
			return true
		}
	}
	return false
}

// names are the predeclared and universal names, for suggestions.
func (c *checker) names() []string {
	var ns []string
	for n := range c.modules {
		ns = append(ns, n)
	}
	ns = append(ns, helperNames...)
	return append(ns, starlark.Universe.Keys()...)
}

func (c *checker) file(src source, data []byte) *checkedFile {
	if cf, ok := c.files[src]; ok {
		return cf
	}
	cf := &checkedFile{loading: true, globals: map[string]bool{}, mainParams: -1}
	c.files[src] = cf
	defer func() { cf.loading = false }()

	f, err := fileOptions.Parse(src.name(), data, 0)
	if err != nil {
		var se syntax.Error
		if errors.As(err, &se) {
			c.add(se.Pos.String(), "%s", se.Msg)
		} else {
			c.add(src.name(), "%v", err)
		}
		return cf
	}
	cf.parsed = true

	// Loads.
	for _, stmt := range f.Stmts {
		load, ok := stmt.(*syntax.LoadStmt)
		if !ok {
			continue
		}
		module := load.ModuleName()
		lsrc, ldata, err := c.loader.resolve(src, module)
		if err != nil {
			c.add(load.Module.TokenPos.String(), "%v", err)
			continue
		}
		sub := c.file(lsrc, ldata)
		if sub.loading {
			c.add(load.Module.TokenPos.String(), "load cycle: %s is still being loaded", lsrc.name())
			continue
		}
		if !sub.parsed {
			continue
		}
		var names []string
		for n := range sub.globals {
			names = append(names, n)
		}
		for _, from := range load.From {
			if strings.HasPrefix(from.Name, "_") {
				c.add(from.NamePos.String(), "load: %s is private to %s (names starting with _ are not exported)", from.Name, lsrc.name())
			} else if !sub.globals[from.Name] {
				c.add(from.NamePos.String(), "load: %s defines no %s%s", lsrc.name(), from.Name, suggest.Hint(from.Name, names))
			}
		}
	}

	// Names. Calls to undefined names are most likely misspelt modules.
	callees := map[syntax.Position]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if call, ok := n.(*syntax.CallExpr); ok {
			if id, ok := call.Fn.(*syntax.Ident); ok {
				callees[id.NamePos] = true
			}
		}
		return true
	})
	if err := resolve.File(f, c.isPredeclared, starlark.Universe.Has); err != nil {
		var list resolve.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				msg := e.Msg
				if rest, ok := strings.CutPrefix(msg, "undefined: "); ok && callees[e.Pos] {
					msg = "unknown module or function " + rest
					if !strings.Contains(rest, "did you mean") {
						msg += suggest.Hint(rest, c.names())
					}
				}
				c.add(e.Pos.String(), "%s", msg)
			}
		} else {
			c.add(src.name(), "%v", err)
		}
	}
	if m, ok := f.Module.(*resolve.Module); ok {
		for _, b := range m.Globals {
			cf.globals[b.First.Name] = true
		}
	}
	for _, stmt := range f.Stmts {
		if def, ok := stmt.(*syntax.DefStmt); ok && def.Name.Name == "main" {
			cf.mainParams = len(def.Params)
			cf.mainPos = def.Def.String()
		}
	}

	// ctx's attributes, where ctx is a function's parameter (main's,
	// or a helper's that it is handed to).
	// A def is walked before its body, so its parameters are known
	// before any use of them.
	ctxParams := map[*syntax.Ident]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.DefStmt:
			for _, p := range n.Params {
				if id, ok := p.(*syntax.Ident); ok && id.Name == "ctx" {
					ctxParams[id] = true
				}
			}
		case *syntax.DotExpr:
			id, ok := n.X.(*syntax.Ident)
			if !ok {
				break
			}
			if b, ok := id.Binding.(*resolve.Binding); ok && ctxParams[b.First] && !slices.Contains(ctxAttrs, n.Name.Name) {
				c.add(n.Name.NamePos.String(), "ctx has no attribute %s%s", n.Name.Name, suggest.Hint(n.Name.Name, ctxAttrs))
			}
		}
		return true
	})

	// Module calls and literal host patterns.
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		switch fn := call.Fn.(type) {
		case *syntax.Ident:
			if b, ok := fn.Binding.(*resolve.Binding); ok && b.Scope == resolve.Predeclared {
				if info, ok := c.modules[fn.Name]; ok {
					c.moduleCall(info, call)
				}
			}
		case *syntax.DotExpr:
			if id, ok := fn.X.(*syntax.Ident); ok && id.Name == "ctx" && len(call.Args) > 0 {
				if lit := stringLit(call.Args[0]); lit != nil {
					switch fn.Name.Name {
					case "hosts":
						c.pattern(lit)
					case "host":
						c.hostName(lit)
					}
				}
			}
		}
		return true
	})
	return cf
}

func stringLit(e syntax.Expr) *syntax.Literal {
	if lit, ok := e.(*syntax.Literal); ok && lit.Token == syntax.STRING {
		return lit
	}
	return nil
}

// moduleCall checks a call of a module: a target, known arguments, the
// required ones given.
func (c *checker) moduleCall(info ModuleInfo, call *syntax.CallExpr) {
	pos := call.Lparen.String()
	if id, ok := call.Fn.(*syntax.Ident); ok {
		pos = id.NamePos.String()
	}
	var positional []syntax.Expr
	given := map[string]bool{}
	dynamic := false
	for _, arg := range call.Args {
		switch a := arg.(type) {
		case *syntax.BinaryExpr:
			if a.Op == syntax.EQ {
				name := a.X.(*syntax.Ident).Name
				given[name] = true
				if _, ok := info.Param(name); ok {
					continue
				}
				if _, ok := commonTypes[name]; ok {
					if name == "hosts" {
						if lit := stringLit(a.Y); lit != nil {
							c.pattern(lit)
						}
					}
					continue
				}
				c.add(a.X.(*syntax.Ident).NamePos.String(), "%s has no argument %s%s", info.Name, name, suggest.Hint(name, argNames(info)))
				continue
			}
			positional = append(positional, arg)
		case *syntax.UnaryExpr:
			if a.Op == syntax.STAR || a.Op == syntax.STARSTAR {
				dynamic = true
				continue
			}
			positional = append(positional, arg)
		default:
			positional = append(positional, arg)
		}
	}
	if dynamic {
		return
	}
	if !given["hosts"] {
		if len(positional) == 0 {
			c.add(pos, "%s: no target: give a host, a list of hosts or a pattern as the first argument (or hosts=)", info.Name)
			return
		}
		if lit := stringLit(positional[0]); lit != nil {
			c.pattern(lit)
		}
		positional = positional[1:]
	}
	if len(positional) > len(info.Params) {
		c.add(pos, "%s: got %d positional arguments after the target, want at most %d", info.Name, len(positional), len(info.Params))
		return
	}
	for i, p := range info.Params {
		if p.Optional {
			break
		}
		if i < len(positional) {
			continue
		}
		if !given[p.Name] {
			c.add(pos, "%s: missing argument %s", info.Name, p.Name)
		}
	}
}

func (c *checker) pattern(lit *syntax.Literal) {
	if c.cfg.Inventory == nil {
		return
	}
	p := lit.Value.(string)
	hs, err := c.cfg.Inventory.Select(p)
	if err != nil {
		c.add(lit.TokenPos.String(), "host pattern %q: %v", p, err)
	} else if len(hs) == 0 {
		c.add(lit.TokenPos.String(), "host pattern %q matches no host in the inventory", p)
	}
}

func (c *checker) hostName(lit *syntax.Literal) {
	if c.cfg.Inventory == nil {
		return
	}
	name := lit.Value.(string)
	if _, ok := c.cfg.Inventory.Host(name); !ok {
		var names []string
		for _, h := range c.cfg.Inventory.Hosts() {
			names = append(names, h.Name)
		}
		c.add(lit.TokenPos.String(), "no host %q in the inventory%s", name, suggest.Hint(name, names))
	}
}

// posLess orders "file:line:col" positions by file, then numerically.
func posLess(a, b string) bool {
	fa, la, ca := splitPos(a)
	fb, lb, cb := splitPos(b)
	if fa != fb {
		return fa < fb
	}
	if la != lb {
		return la < lb
	}
	return ca < cb
}

func splitPos(p string) (string, int, int) {
	parts := strings.Split(p, ":")
	if len(parts) < 3 {
		return p, 0, 0
	}
	n := len(parts)
	line, _ := strconv.Atoi(parts[n-2])
	col, _ := strconv.Atoi(parts[n-1])
	return strings.Join(parts[:n-2], ":"), line, col
}
