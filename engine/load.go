package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/etcdplay/etcdplay/inventory/suggest"
)

// fileOptions are the Starlark dialect of playbooks: sets, while loops,
// if/for at top level and reassigning globals are allowed; recursion is
// not.
var fileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
}

// source is a playbook file: on the local disk, or shipped in the binary.
type source struct {
	shipped bool
	path    string // OS path, or a slash path in the shipped FS
}

// name is how positions and messages show the file: the local path as the
// user gave it, or playbooks/NAME for a shipped file.
func (s source) name() string {
	if s.shipped {
		return "playbooks/" + s.path
	}
	return s.path
}

// Playbook is a playbook to run or check.
type Playbook struct {
	src     source
	data    []byte
	shipped fs.FS
}

// Name is the playbook's file as shown in positions.
func (p *Playbook) Name() string { return p.src.name() }

// Source returns the playbook's text.
func (p *Playbook) Source() []byte { return p.data }

// Local reports whether the playbook is a file on disk (not a shipped one),
// and its directory.
func (p *Playbook) Local() (dir string, ok bool) {
	if p.src.shipped {
		return "", false
	}
	return filepath.Dir(p.src.path), true
}

// OpenPlaybook finds a playbook: arg is a path to a .star file, or the name
// of a playbook shipped in shipped ("replace" or "replace.star").
func OpenPlaybook(arg string, shipped fs.FS) (*Playbook, error) {
	looksLocal := strings.HasSuffix(arg, ".star") || strings.ContainsRune(arg, os.PathSeparator) || strings.ContainsRune(arg, '/')
	if looksLocal {
		data, err := os.ReadFile(arg)
		if err == nil {
			return &Playbook{src: source{path: filepath.Clean(arg)}, data: data, shipped: shipped}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || strings.ContainsRune(arg, '/') {
			return nil, &InputError{Err: fmt.Errorf("playbook %s: %w", arg, err)}
		}
	}
	name := strings.TrimSuffix(arg, ".star") + ".star"
	if shipped != nil && !strings.Contains(name, "/") {
		if data, err := fs.ReadFile(shipped, name); err == nil {
			return &Playbook{src: source{shipped: true, path: name}, data: data, shipped: shipped}, nil
		}
	}
	var names []string
	for _, s := range ShippedPlaybooks(shipped) {
		names = append(names, s.Name)
	}
	return nil, BadInput("no playbook %q: not a .star file here, nor a shipped playbook%s (etcdplay playbooks lists them)", arg, suggest.Hint(strings.TrimSuffix(arg, ".star"), names))
}

// loader executes playbook files and their loads, each once per run.
type loader struct {
	shipped     fs.FS
	predeclared starlark.StringDict

	mu     sync.Mutex
	cache  map[source]*loadEntry
	byName map[string]source // source.name() -> source, to find the loading file
	files  []PlanFileSum     // the files executed, in order, with their sha256
}

// sums are the files the loader executed and their sha256, in order.
func (l *loader) sums() []PlanFileSum {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]PlanFileSum{}, l.files...)
}

type loadEntry struct {
	globals starlark.StringDict
	err     error
	loading bool
}

func newLoader(shipped fs.FS, predeclared starlark.StringDict) *loader {
	return &loader{shipped: shipped, predeclared: predeclared, cache: map[source]*loadEntry{}, byName: map[string]source{}}
}

func (l *loader) execPlaybook(th *starlark.Thread, pb *Playbook) (starlark.StringDict, error) {
	return l.exec(th, pb.src, pb.data)
}

func (l *loader) exec(th *starlark.Thread, src source, data []byte) (starlark.StringDict, error) {
	l.mu.Lock()
	if e, ok := l.cache[src]; ok {
		l.mu.Unlock()
		if e.loading {
			return nil, fmt.Errorf("load cycle: %s loads itself (through its loads)", src.name())
		}
		return e.globals, e.err
	}
	e := &loadEntry{loading: true}
	l.cache[src] = e
	l.byName[src.name()] = src
	l.files = append(l.files, PlanFileSum{Name: src.name(), SHA256: sum(data)})
	l.mu.Unlock()

	globals, err := starlark.ExecFileOptions(fileOptions, th, src.name(), data, l.predeclared)
	var ee *starlark.EvalError
	if err != nil && !errors.As(err, &ee) {
		// Syntax and name resolution errors: the file is wrong.
		err = &InputError{Err: err}
	}
	e.globals, e.err, e.loading = globals, err, false
	return globals, err
}

// load implements load(): a path relative to the loading file, or
// "lib/..." from the shipped library when no such local file exists.
func (l *loader) load(th *starlark.Thread, module string) (starlark.StringDict, error) {
	from := th.CallFrame(0).Pos.Filename()
	l.mu.Lock()
	cur, ok := l.byName[from]
	l.mu.Unlock()
	if !ok {
		cur = source{path: from}
	}
	src, data, err := l.resolve(cur, module)
	if err != nil {
		return nil, err
	}
	return l.exec(th, src, data)
}

// resolve finds the file load(module) names from the file cur.
func (l *loader) resolve(cur source, module string) (source, []byte, error) {
	if !strings.HasSuffix(module, ".star") {
		return source{}, nil, BadInput("load %q: want a path to a .star file", module)
	}
	if cur.shipped {
		p := path.Join(path.Dir(cur.path), module)
		if !fs.ValidPath(p) || path.IsAbs(module) {
			return source{}, nil, BadInput("load %q: outside the shipped playbooks", module)
		}
		data, err := fs.ReadFile(l.shipped, p)
		if err != nil {
			return source{}, nil, BadInput("load %q: no such shipped file %s", module, "playbooks/"+p)
		}
		return source{shipped: true, path: p}, data, nil
	}
	p := filepath.FromSlash(module)
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(cur.path), p)
	}
	data, err := os.ReadFile(p)
	if err == nil {
		return source{path: p}, data, nil
	}
	if strings.HasPrefix(module, "lib/") && l.shipped != nil {
		if data, serr := fs.ReadFile(l.shipped, module); serr == nil {
			return source{shipped: true, path: module}, data, nil
		}
		return source{}, nil, BadInput("load %q: no file %s, and no shipped playbooks/%s", module, p, module)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return source{}, nil, BadInput("load %q: no file %s (loads are relative to the loading file; lib/... also finds the shipped library)", module, p)
	}
	return source{}, nil, &InputError{Err: fmt.Errorf("load %q: %w", module, err)}
}

// PlaybookInfo describes a shipped playbook.
type PlaybookInfo struct {
	Name    string // run it with etcdplay run NAME
	Summary string // first line of its documentation
	Doc     string // its documentation: the module docstring or leading comment
}

// ShippedPlaybooks lists the playbooks at the top of shipped, by name.
func ShippedPlaybooks(shipped fs.FS) []PlaybookInfo {
	if shipped == nil {
		return nil
	}
	entries, err := fs.ReadDir(shipped, ".")
	if err != nil {
		return nil
	}
	var out []PlaybookInfo
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".star") {
			continue
		}
		data, err := fs.ReadFile(shipped, e.Name())
		if err != nil {
			continue
		}
		doc := FileDoc(data)
		summary, _, _ := strings.Cut(doc, "\n")
		out = append(out, PlaybookInfo{Name: strings.TrimSuffix(e.Name(), ".star"), Summary: summary, Doc: doc})
	}
	return out
}

// FileDoc returns a .star file's documentation: its module docstring (a
// string literal as the first statement) or else its leading comment
// block, without the comment markers.
func FileDoc(data []byte) string {
	f, err := fileOptions.Parse("doc.star", data, syntax.RetainComments)
	if err != nil {
		return ""
	}
	if len(f.Stmts) > 0 {
		if es, ok := f.Stmts[0].(*syntax.ExprStmt); ok {
			if lit, ok := es.X.(*syntax.Literal); ok && lit.Token == syntax.STRING {
				return dedent(lit.Value.(string))
			}
		}
	}
	// Leading comment lines, up to the first blank line or code.
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "#") {
			break
		}
		if strings.HasPrefix(t, "#!") {
			continue
		}
		t = strings.TrimPrefix(t, "#")
		t = strings.TrimPrefix(t, " ")
		lines = append(lines, t)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// dedent trims a docstring as Python's inspect.cleandoc does.
func dedent(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	indent := -1
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i := 1; i < len(lines) && indent > 0; i++ {
		if len(lines[i]) >= indent {
			lines[i] = lines[i][indent:]
		} else {
			lines[i] = strings.TrimLeft(lines[i], " \t")
		}
	}
	return strings.Join(lines, "\n")
}
