package modules

import (
	"embed"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/etcdplay/etcdplay/engine"
)

// All returns every module, in the order etcdplay doc lists them. It panics
// if two share a name: that is a bug found at start, not a user error.
func All() []engine.Module {
	all := []engine.Module{
		pingModule,
		commandModule,
		shellModule,
		copyModule,
		templateModule,
		fetchModule,
		fileModule,
		renderConfModule,
		memberListModule,
		memberAddModule,
		memberRemoveModule,
		memberUpdateModule,
		memberPromoteModule,
		waitHealthyModule,
		snapshotSaveModule,
		snapshotRestoreModule,
		defragModule,
		compactModule,
		alarmModule,
		hashKVModule,
		preflightModule,
		upgradeCheckModule,
		downgradeModule,
		diagnoseModule,
		etcdFactsModule,
		certsModule,
		moveLeaderModule,
		clusterLockModule,
		pendingChangeModule,
		wipeDatadirModule,
		systemdModule,
		installEtcdModule,
	}
	seen := map[string]bool{}
	for _, m := range all {
		name := m.Info().Name
		if seen[name] {
			panic("modules: two modules are called " + name)
		}
		seen[name] = true
	}
	return all
}

// sources are this package's Go files: a module's documentation is the doc
// comment of its declaration, read from here so it has one source.
//
//go:embed *.go
var sources embed.FS

var (
	docsOnce sync.Once
	docs     map[string]string
)

// Doc returns the documentation of the module called name: the doc comment
// of the declaration whose composite literal has Name: "name".
func Doc(name string) (string, bool) {
	docsOnce.Do(func() { docs = readDocs(sources) })
	d, ok := docs[name]
	return d, ok
}

// Summary returns the first sentence of a module's documentation, without
// the module's name, cut at a clause boundary to fit a listing line.
func Summary(name string) string {
	d, _ := Doc(name)
	first, _, _ := strings.Cut(d, "\n\n")
	first = strings.Join(strings.Fields(first), " ")
	if i := strings.Index(first, ". "); i >= 0 {
		first = first[:i+1]
	}
	first = strings.TrimPrefix(first, name+" ")
	const max = 80
	if len(first) <= max {
		return first
	}
	cut := -1
	for _, sep := range []string{": ", ", ", " (", " - "} {
		if i := strings.LastIndex(first[:max], sep); i > cut {
			cut = i
		}
	}
	if cut < 20 {
		cut = strings.LastIndex(first[:max-3], " ")
		return first[:cut] + "..."
	}
	return first[:cut]
}

func readDocs(fsys fs.FS) map[string]string {
	out := map[string]string{}
	files, _ := fs.Glob(fsys, "*.go")
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			continue
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				doc := vs.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				if doc == nil {
					continue
				}
				for _, v := range vs.Values {
					if n := moduleName(v); n != "" {
						out[n] = strings.TrimSpace(doc.Text())
					}
				}
			}
		}
	}
	return out
}

// moduleName finds Name: "..." in &T{...} or T{...}.
func moduleName(e ast.Expr) string {
	if u, ok := e.(*ast.UnaryExpr); ok {
		e = u.X
	}
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return ""
	}
	for _, elt := range cl.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
			if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, err := strconv.Unquote(lit.Value)
				if err == nil {
					return s
				}
			}
		}
	}
	return ""
}

// Names returns the module names, sorted.
func Names() []string {
	var ns []string
	for _, m := range All() {
		ns = append(ns, m.Info().Name)
	}
	sort.Strings(ns)
	return ns
}
