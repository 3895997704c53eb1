package modules

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/enginetest"
)

// TestRegistry checks every module at start-up time: unique names that do
// not hide a builtin, parameters that parse, and documentation that covers
// every parameter, check mode and an example.
func TestRegistry(t *testing.T) {
	all := All()
	if len(all) < 7 {
		t.Fatalf("All() has %d modules", len(all))
	}
	reserved := map[string]bool{"fail": true, "serial": true, "struct": true, "json": true, "print": true, "load": true}
	for _, m := range all {
		info := m.Info()
		if reserved[info.Name] {
			t.Errorf("module %s hides a builtin", info.Name)
		}
		if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(info.Name) {
			t.Errorf("module name %q is not a lower-case identifier", info.Name)
		}
		doc, ok := Doc(info.Name)
		if !ok || doc == "" {
			t.Errorf("module %s has no doc comment", info.Name)
			continue
		}
		if !strings.HasPrefix(doc, info.Name+" ") {
			t.Errorf("doc of %s does not start with its name: %.40q", info.Name, doc)
		}
		for _, p := range info.Params {
			if !regexp.MustCompile(`(?m)^\s+` + p.Name + `\b|\b` + p.Name + `, `).MatchString(doc) {
				t.Errorf("doc of %s does not describe argument %s", info.Name, p.Name)
			}
		}
		for _, section := range []string{"Check mode:", "Example:"} {
			if !strings.Contains(doc, section) {
				t.Errorf("doc of %s has no %q section", info.Name, section)
			}
		}
		if s := Summary(info.Name); s == "" || len(s) > 80 {
			t.Errorf("summary of %s is %d characters: %q", info.Name, len(s), s)
		}
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want fileFacts
	}{
		{"missing\n", fileFacts{}},
		{"regular file|644|root|adm|12\n0123abcd  /etc/x\n", fileFacts{Exists: true, Type: "regular file", Mode: 0o644, Owner: "root", Group: "adm", Size: 12, SHA256: "0123abcd"}},
		{"regular empty file|600|etcd|etcd|0\n", fileFacts{Exists: true, Type: "regular empty file", Mode: 0o600, Owner: "etcd", Group: "etcd"}},
		{"directory|4755|root|root|4096\n", fileFacts{Exists: true, Dir: true, Type: "directory", Mode: 0o4755, Owner: "root", Group: "root", Size: 4096}},
	} {
		got, err := statFact("/x", true).Parse(tc.out)
		if err != nil || got != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v", tc.out, got, err, tc.want)
		}
	}
	if _, err := statFact("/x", true).Parse("garbage\n"); err == nil {
		t.Error("parseStat(garbage): no error")
	}
}

// TestWriteSteps is Plan for copy and template against recorded facts.
func TestWriteSteps(t *testing.T) {
	content := []byte("a=1\n")
	sum := sha256Hex(content)
	mode := func(m os.FileMode) engine.FileMode { return engine.FileMode{Mode: m, Set: true} }
	for _, tc := range []struct {
		name   string
		facts  fileFacts
		want   wantFile
		steps  string // kinds, space-separated
		reason string
	}{
		{"new file", fileFacts{}, wantFile{Path: "/etc/x", Content: content}, "create", ""},
		{"new file with attributes", fileFacts{}, wantFile{Path: "/etc/x", Content: content, Mode: mode(0o600), Owner: "etcd"}, "create", ""},
		{"same content", fileFacts{Exists: true, Type: "regular file", Mode: 0o644, Owner: "root", Group: "root", SHA256: sum}, wantFile{Path: "/etc/x", Content: content}, "", "/etc/x unchanged"},
		{"same content, same mode", fileFacts{Exists: true, Type: "regular file", Mode: 0o600, SHA256: sum}, wantFile{Path: "/etc/x", Content: content, Mode: mode(0o600)}, "", "unchanged"},
		{"other content", fileFacts{Exists: true, Type: "regular file", Mode: 0o644, SHA256: "00"}, wantFile{Path: "/etc/x", Content: content}, "update", ""},
		{"other content, backup", fileFacts{Exists: true, Type: "regular file", Mode: 0o644, SHA256: "00"}, wantFile{Path: "/etc/x", Content: content, Backup: true}, "backup update", ""},
		{"backup only when content changes", fileFacts{Exists: true, Type: "regular file", Mode: 0o644, SHA256: sum}, wantFile{Path: "/etc/x", Content: content, Backup: true, Mode: mode(0o640)}, "chmod", ""},
		{"owner differs", fileFacts{Exists: true, Type: "regular file", Mode: 0o644, Owner: "root", Group: "root", SHA256: sum}, wantFile{Path: "/etc/x", Content: content, Owner: "etcd"}, "chown", ""},
		{"group differs", fileFacts{Exists: true, Type: "regular file", Mode: 0o644, Owner: "root", Group: "root", SHA256: sum}, wantFile{Path: "/etc/x", Content: content, Group: "etcd"}, "chown", ""},
		{"mode and owner differ", fileFacts{Exists: true, Type: "regular file", Mode: 0o644, Owner: "root", Group: "root", SHA256: sum}, wantFile{Path: "/etc/x", Content: content, Mode: mode(0o600), Owner: "etcd", Group: "etcd"}, "chmod chown", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps, reason := writeSteps(tc.facts, tc.want, "/etc/x.bak~")
			var kinds []string
			for _, s := range steps {
				kinds = append(kinds, s.kind)
				if s.desc == "" {
					t.Errorf("step %s has no description", s.kind)
				}
			}
			if got := strings.Join(kinds, " "); got != tc.steps {
				t.Errorf("steps = %q, want %q (%+v)", got, tc.steps, steps)
			}
			if !strings.Contains(reason, tc.reason) || (tc.reason == "") != (reason == "") {
				t.Errorf("reason = %q, want %q", reason, tc.reason)
			}
		})
	}
}

// TestFileSteps is Plan for file against recorded facts.
func TestFileSteps(t *testing.T) {
	dir := fileFacts{Exists: true, Dir: true, Type: "directory", Mode: 0o755, Owner: "root", Group: "root"}
	reg := fileFacts{Exists: true, Type: "regular file", Mode: 0o644, Owner: "root", Group: "root"}
	mode := func(m os.FileMode) engine.FileMode { return engine.FileMode{Mode: m, Set: true} }
	for _, tc := range []struct {
		name  string
		facts fileFacts
		args  fileArgs
		steps string
		err   string
	}{
		{"absent, missing", fileFacts{}, fileArgs{Path: "/d", State: "absent"}, "", ""},
		{"absent, present", dir, fileArgs{Path: "/d", State: "absent"}, "remove", ""},
		{"directory, missing", fileFacts{}, fileArgs{Path: "/d", State: "directory"}, "mkdir", ""},
		{"directory, missing, with mode and owner", fileFacts{}, fileArgs{Path: "/d", State: "directory", Mode: mode(0o700), Owner: "etcd"}, "mkdir chmod chown", ""},
		{"directory, present", dir, fileArgs{Path: "/d", State: "directory"}, "", ""},
		{"directory, mode differs", dir, fileArgs{Path: "/d", State: "directory", Mode: mode(0o700)}, "chmod", ""},
		{"directory, is a file", reg, fileArgs{Path: "/d", State: "directory"}, "", "not a directory"},
		{"touch, missing", fileFacts{}, fileArgs{Path: "/f", State: "touch", Mode: mode(0o600)}, "touch", ""},
		{"touch, present", reg, fileArgs{Path: "/f", State: "touch"}, "", ""},
		{"file, missing", fileFacts{}, fileArgs{Path: "/f", State: "file"}, "", "no file /f"},
		{"file, owner differs", reg, fileArgs{Path: "/f", State: "file", Owner: "etcd"}, "chown", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps, _, err := fileSteps(tc.facts, &tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, s := range steps {
				kinds = append(kinds, s.kind)
			}
			if got := strings.Join(kinds, " "); got != tc.steps {
				t.Errorf("steps = %q, want %q", got, tc.steps)
			}
		})
	}
}

func TestFileRefusesSystemDirectories(t *testing.T) {
	for _, p := range []string{"/", "/etc", "/etc/", "/var/lib", "//usr", "."} {
		a := &fileArgs{Path: p, State: "absent"}
		var r *engine.RefusedError
		if err := fileModule.Validate(a); err == nil || !asRefused(err, &r) {
			t.Errorf("file(path=%q, state=absent): %v, want a refusal", p, err)
		}
	}
	if err := fileModule.Validate(&fileArgs{Path: "/var/lib/etcd", State: "absent"}); err != nil {
		t.Errorf("file(path=/var/lib/etcd, state=absent): %v", err)
	}
}

// play runs a playbook source on local hosts h1 and h2 and returns the
// events as text.
type play struct {
	t     *testing.T
	conn  *enginetest.Connector
	inv   *inventoryT
	dir   string
	check bool
	diff  bool
}

func newPlay(t *testing.T) *play {
	inv, conn := enginetest.Hosts(t, "", "h1", "h2")
	return &play{t: t, conn: conn, inv: inv, dir: t.TempDir()}
}

func (p *play) hostDir(h string) string { return p.conn.Conns[h].Dir }

func (p *play) run(src string) (string, error) {
	p.t.Helper()
	file := filepath.Join(p.dir, "play.star")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		p.t.Fatal(err)
	}
	pb, err := engine.OpenPlaybook(file, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if diags := engine.Check(pb, engine.CheckConfig{Modules: All()}); len(diags) > 0 {
		p.t.Fatalf("check: %v", diags)
	}
	var out syncBuffer
	text := engine.NewText(&out, &out, engine.TextOptions{})
	_, err = engine.Run(context.Background(), engine.Config{
		Inventory: p.inv, Connector: p.conn, Modules: All(), Output: text,
		Check: p.check, Diff: p.diff, BaseDir: p.dir,
	}, pb)
	text.Close()
	return out.String(), err
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDocNamesExist checks that the package documentation names only
// what exists: this package's identifiers, its files, and engine's
// exported names and call methods.
func TestDocNamesExist(t *testing.T) {
	ours := declaredNames(t, ".")
	theirs := declaredNames(t, "../engine")
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b[a-z]+[A-Z][A-Za-z0-9]*\b`).FindAllString(doc, -1) {
		if !ours[m] && !seen[m] {
			seen[m] = true
			t.Errorf("doc.go names %s, which this package does not declare", m)
		}
	}
	for _, m := range regexp.MustCompile(`\b[a-z_]+\.go\b`).FindAllString(doc, -1) {
		if _, err := os.Stat(m); err != nil {
			t.Errorf("doc.go names %s: %v", m, err)
		}
	}
	for _, m := range regexp.MustCompile(`\b(?:engine|c)\.([A-Z][A-Za-z]*)\b`).FindAllStringSubmatch(doc, -1) {
		if !theirs[m[1]] {
			t.Errorf("doc.go names %s, which package engine does not declare", m[0])
		}
	}
}

// declaredNames are the names a package's files (tests left out)
// declare: functions, methods, types, variables, constants and fields.
func declaredNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	names := map[string]bool{}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				names[n.Name.Name] = true
			case *ast.TypeSpec:
				names[n.Name.Name] = true
			case *ast.ValueSpec:
				for _, id := range n.Names {
					names[id.Name] = true
				}
			case *ast.Field:
				for _, id := range n.Names {
					names[id.Name] = true
				}
			}
			return true
		})
	}
	return names
}
