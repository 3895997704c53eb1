package modules

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestErrorsNameModuleOnce: the engine places a module's error at its
// call as "MODULE on HOST: ...", so a module's own messages start with
// what went wrong, never with its name again ("systemd: systemd: unit is
// empty") nor with "MODULE on HOST". Every error a module or the etcd
// layer makes from a literal is checked against the names of the modules
// declared in its file, and against "MODULE on" for every module.
func TestErrorsNameModuleOnce(t *testing.T) {
	names := Names()
	var files []string
	for _, dir := range []string{".", "../etcd"} {
		fs, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	checked := 0
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		own := declaredModules(f)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isErrorConstructor(call.Fun) || len(call.Args) == 0 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			msg, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			checked++
			for _, m := range own {
				if strings.HasPrefix(msg, m+":") || strings.HasPrefix(msg, m+" ") {
					t.Errorf("%s: module %s's error %q names the module again: the engine says %q already", file, m, msg, m+" on HOST:")
				}
			}
			for _, m := range names {
				if strings.HasPrefix(msg, m+" on ") {
					t.Errorf("%s: error %q names the module and host the engine adds", file, msg)
				}
			}
			return true
		})
	}
	if checked < 100 {
		t.Fatalf("checked %d error messages: the test no longer finds them", checked)
	}
}

// declaredModules are the names of the modules a file declares
// (Name: "x" in an engine.HostModule or engine.ClusterModule literal).
func declaredModules(f *ast.File) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		idx, ok := lit.Type.(*ast.IndexExpr)
		if !ok {
			return true
		}
		sel, ok := idx.X.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "HostModule" && sel.Sel.Name != "ClusterModule") {
			return true
		}
		for _, e := range lit.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if k, _ := kv.Key.(*ast.Ident); !ok || k == nil || k.Name != "Name" {
				continue
			}
			if v, ok := kv.Value.(*ast.BasicLit); ok && v.Kind == token.STRING {
				if s, err := strconv.Unquote(v.Value); err == nil {
					out = append(out, s)
				}
			}
		}
		return true
	})
	return out
}

// isErrorConstructor reports whether fun makes an error from a format or
// message: fmt.Errorf, errors.New, engine.BadInput, engine.Refuse (and the
// etcd package's own calls of the last two).
func isErrorConstructor(fun ast.Expr) bool {
	switch fun := fun.(type) {
	case *ast.SelectorExpr:
		x, _ := fun.X.(*ast.Ident)
		if x == nil {
			return false
		}
		switch x.Name + "." + fun.Sel.Name {
		case "fmt.Errorf", "errors.New", "engine.BadInput", "engine.Refuse":
			return true
		}
	case *ast.Ident:
		return fun.Name == "BadInput" || fun.Name == "Refuse"
	}
	return false
}

// TestValidateErrorNamesModuleOnce: a Validate error as the operator reads
// it, the module named once by the engine.
func TestValidateErrorNamesModuleOnce(t *testing.T) {
	p := newPlay(t)
	_, err := p.run(`
def main(ctx):
    systemd("h1", unit = "")
`)
	if err == nil || !strings.HasSuffix(err.Error(), ": systemd: unit is empty") || strings.Count(err.Error(), "systemd") != 1 {
		t.Fatalf("got %v, want the module named once: ...: systemd: unit is empty", err)
	}
}
