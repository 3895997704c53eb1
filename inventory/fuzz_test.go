package inventory

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// FuzzParse checks that the parser never panics, that every error is a
// *ParseError naming the file and a line inside it, and that what it does
// accept is a consistent inventory. It is seeded with every file in
// testdata/inventory, under its own name (which picks the format) and
// under the other format's.
func FuzzParse(f *testing.F) {
	err := filepath.WalkDir("../testdata/inventory", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(filepath.Base(path), data)
		f.Add("sniffed", data)
		if strings.HasSuffix(path, ".ini") {
			f.Add("as.yaml", data)
		} else {
			f.Add("as.ini", data)
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"[a:children]\nb\n[b:children]\na\n",
		"h[0:99999999]\n",
		"g: &a\n  children:\n    x: *a\n",
		"h x=\"{'a': [1, (2,), {3}]}\" y='\\x41'\n",
		"g:\n  hosts:\n    h:\n      <<: [*x]\n",
		"h a=\"{{ b | default(c) | join('-') }}\" b=\"{{ hostvars['h']['a'] }}\" c=\"{{ groups['all'][0] }}x\"\n",
		"h a=\"{{ x['y'].z[0] | replace('a', 'b', 1) | upper }}\" x=\"{'y': {'z': ['q']}}\"\n",
	} {
		f.Add("seed.ini", []byte(s))
		f.Add("seed.yaml", []byte(s))
	}

	f.Fuzz(func(t *testing.T, name string, data []byte) {
		inv, err := Parse(name, data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is a %T, want a *ParseError", err, err)
			}
			// Line breaks as Python's splitlines (INI) counts them, a
			// superset of YAML's.
			lines := len(splitLines(string(data))) + 1
			if pe.File != name || pe.Line < 1 || pe.Line > lines {
				t.Fatalf("error at %q line %d, want %q line 1 to %d: %v", pe.File, pe.Line, name, lines, err)
			}
			if pe.Msg == "" {
				t.Fatal("empty error message")
			}
			return
		}
		checkConsistent(t, inv)
	})
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// checkConsistent checks invariants of any inventory that parsed.
func checkConsistent(t *testing.T, inv *Inventory) {
	seen := map[string]bool{}
	for _, h := range inv.Hosts() {
		if seen[h.Name] {
			t.Fatalf("host %q listed twice", h.Name)
		}
		seen[h.Name] = true
		if h.Vars["inventory_hostname"] != h.Name {
			t.Fatalf("%q: inventory_hostname = %v", h.Name, h.Vars["inventory_hostname"])
		}
		if !sort.StringsAreSorted(h.Groups) || len(h.Groups) == 0 {
			t.Fatalf("%q: groups %q", h.Name, h.Groups)
		}
		for _, g := range h.Groups {
			if g == "all" {
				t.Fatalf("%q: groups include all", h.Name)
			}
			if _, ok := inv.Group(g); !ok {
				t.Fatalf("%q: in unknown group %q", h.Name, g)
			}
		}
		h.Address()
		h.Port()
		h.User()
		h.KeyFile()
		h.Become()
		h.BecomeUser()
	}
	all, err := inv.Select("all")
	if err != nil || len(all) != len(inv.Hosts()) {
		t.Fatalf("Select(all) = %d hosts, %v; Hosts() has %d", len(all), err, len(inv.Hosts()))
	}
	for _, g := range inv.Groups() {
		for _, c := range g.Children {
			if _, ok := inv.Group(c); !ok {
				t.Fatalf("group %q has unknown child %q", g.Name, c)
			}
		}
		if g.Name != "all" && len(g.Parents) == 0 {
			t.Fatalf("group %q has no parent", g.Name)
		}
		// Names like "!x", "a,b" or "g[0]" mean something else in a
		// pattern, in Ansible too; plain names must select their group.
		if plainName.MatchString(g.Name) {
			if _, err := inv.Select(g.Name); err != nil {
				t.Fatalf("Select(%q): %v", g.Name, err)
			}
		}
	}
	if err := inv.Graph(io.Discard, "all"); err != nil {
		t.Fatal(err)
	}
}
