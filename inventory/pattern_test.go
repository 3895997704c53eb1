package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const patternInventory = `
loner
[etcd]
etcd-1
etcd-2
etcd-3
[spare]
etcd-4
spare-1
[dc1]
etcd-1
etcd-4
[dc2]
etcd-2
etcd-3
[cluster:children]
etcd
spare
[web]
web.example.com
10.0.0.5
2001:db8::5
[empty]
`

var allHosts = []string{"loner", "etcd-1", "etcd-2", "etcd-3", "etcd-4", "spare-1", "web.example.com", "10.0.0.5", "2001:db8::5"}

func TestSelect(t *testing.T) {
	inv := mustParse(t, "p.ini", patternInventory)
	tests := []struct {
		pattern string
		want    []string
		err     string
	}{
		{"all", allHosts, ""},
		{"*", allHosts, ""},
		{"etcd", []string{"etcd-1", "etcd-2", "etcd-3"}, ""},
		{"etcd-2", []string{"etcd-2"}, ""},
		{"ungrouped", []string{"loner"}, ""},
		{"empty", nil, ""},

		// Union, intersection, exclusion, in Ansible's order whatever the
		// order written; results in inventory order.
		{"spare:etcd", []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4", "spare-1"}, ""},
		{"spare,etcd", []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4", "spare-1"}, ""},
		{" spare , etcd ", []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4", "spare-1"}, ""},
		{"spare etcd", []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4", "spare-1"}, ""},
		{"etcd:etcd-2:etcd", []string{"etcd-1", "etcd-2", "etcd-3"}, ""},
		{"etcd:!etcd-2", []string{"etcd-1", "etcd-3"}, ""},
		{"!etcd-2:etcd", []string{"etcd-1", "etcd-3"}, ""},
		{"etcd,!etcd-2", []string{"etcd-1", "etcd-3"}, ""},
		{"etcd:&dc1", []string{"etcd-1"}, ""},
		{"&dc1:etcd", []string{"etcd-1"}, ""},
		{"cluster:&dc1:!etcd-1", []string{"etcd-4"}, ""},
		{"cluster:!dc1:&dc2", []string{"etcd-2", "etcd-3"}, ""},
		{"etcd:spare:&dc1:&dc2", nil, ""},
		{"&dc2", []string{"etcd-2", "etcd-3"}, ""},
		{"!cluster", []string{"loner", "web.example.com", "10.0.0.5", "2001:db8::5"}, ""},
		{"!cluster:!web", []string{"loner"}, ""},
		{"all:!all", nil, ""},

		// Globs and regular expressions match group and host names.
		{"etcd-*", []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4"}, ""},
		{"etcd*", []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4"}, ""},
		{"dc?", []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4"}, ""},
		{"*.example.com", []string{"web.example.com"}, ""},
		{"etcd-[!1]", []string{"etcd-2", "etcd-3", "etcd-4"}, ""},
		{"etcd-[13a]", []string{"etcd-1", "etcd-3"}, ""},
		{"etcd-[a-z]", nil, ""},
		{"nothing*", nil, ""},
		{"~etcd-[13]", []string{"etcd-1", "etcd-3"}, ""},
		{"~spa", []string{"etcd-4", "spare-1"}, ""},
		{"~pare", nil, ""}, // matched at the start, as Python's re.match
		{"~.*re", []string{"etcd-4", "spare-1"}, ""},
		{"~(etcd|web)$", []string{"etcd-1", "etcd-2", "etcd-3", "web.example.com", "10.0.0.5", "2001:db8::5"}, ""},

		// Subscripts pick by position in the group's own order.
		{"etcd[0]", []string{"etcd-1"}, ""},
		{"etcd[2]", []string{"etcd-3"}, ""},
		{"etcd[-1]", []string{"etcd-3"}, ""},
		{"etcd[-3]", []string{"etcd-1"}, ""},
		{"etcd[0:1]", []string{"etcd-1", "etcd-2"}, ""},
		{"etcd[1:]", []string{"etcd-2", "etcd-3"}, ""},
		{"etcd[1-2]", []string{"etcd-2", "etcd-3"}, ""},
		{"etcd[1:0]", []string{"etcd-2"}, ""},
		{"etcd[1:9]", []string{"etcd-2", "etcd-3"}, ""},
		{"etcd[5:7]", nil, ""},
		{"cluster[3]", []string{"etcd-4"}, ""},
		{"spare[0]:etcd[0]", []string{"etcd-1", "etcd-4"}, ""},
		{"etcd:!etcd[0]", []string{"etcd-2", "etcd-3"}, ""},
		{"etcd*[0]", []string{"etcd-1"}, ""},
		{"empty[0]", nil, ""},
		{"etcd[3]", nil, `etcd[3]: no host at index 3: "etcd" matches 3 host(s), indexes 0 to 2 (or -3 to -1)`},
		{"etcd[-4]", nil, `etcd[-4]: no host at index -4: "etcd" matches 3 host(s), indexes 0 to 2 (or -3 to -1)`},

		// Host names with dots and colons.
		{"web.example.com", []string{"web.example.com"}, ""},
		{"10.0.0.5", []string{"10.0.0.5"}, ""},
		{"2001:db8::5", []string{"2001:db8::5"}, ""},
		{"2001:db8::5,loner", []string{"loner", "2001:db8::5"}, ""},

		// Mistakes.
		{"etdc", nil, `no host or group named "etdc" (did you mean "etcd"?)`},
		{"etcd:!etcd-9", nil, `no host or group named "etcd-9" (did you mean "etcd-1"?)`},
		{"etcd:&dc3", nil, `no host or group named "dc3" (did you mean "dc1"?)`},
		{"database", nil, `no host or group named "database"`},
		{"etcd-[5-9]", nil, `no host or group named "etcd-" (did you mean "etcd"?) (a [N] or [N:M] suffix picks hosts of a group by position)`},
		// A subscript, never a glob, as in Ansible, which selects nothing.
		{"etcd-[12]", nil, `no host or group named "etcd-" (did you mean "etcd"?) (a [N] or [N:M] suffix picks hosts of a group by position; to match host names by a character class, write ~etcd-[12]$)`},
		{"etcd-[1-3]", nil, `no host or group named "etcd-" ... by position; to match host names by a character class, write ~etcd-[1-3]$)`},
		{"~etcd-[12]$", []string{"etcd-1", "etcd-2"}, ""},
		{"etdc[0]", nil, `no host or group named "etdc" (did you mean "etcd"?) (a [N] or [N:M] suffix picks hosts of a group by position)`},
		{"web.example.com:22", nil, `no host or group named "web.example.com:22" (did you mean "web.example.com"?)`},
		{"~(", nil, "~(: invalid regular expression: missing closing ): `(`"},
		{"", nil, `empty host pattern: expected a host or group name, "all", or terms like 'etcd:!etcd-3' (empty terms between commas are ignored, but a pattern of nothing else selects nothing)`},
		{" , ", nil, `empty host pattern: ...`},
		{",,", nil, `empty host pattern: ...`},

		// Empty terms are ignored, as Ansible ignores them (ansible#61964).
		{"etcd-1,,etcd-3", []string{"etcd-1", "etcd-3"}, ""},
		{"etcd-1,", []string{"etcd-1"}, ""},
		{",etcd-2, ,", []string{"etcd-2"}, ""},
		{"etcd:!", nil, `"!": expected a host or group name after "!"`},
		{"etcd,&", nil, `"&": expected a host or group name after "&"`},
	}
	for _, tt := range tests {
		hosts, err := inv.Select(tt.pattern)
		if tt.err != "" {
			var pe *PatternError
			if err == nil || !errors.As(err, &pe) || !matchMsg(err.Error(), tt.err) {
				t.Errorf("Select(%q) = %q, %v; want error %q", tt.pattern, names(hosts), err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Select(%q): %v", tt.pattern, err)
			continue
		}
		if got := names(hosts); !equalStrings(got, tt.want) {
			t.Errorf("Select(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestSelectHostAndGroupOfTheSameName(t *testing.T) {
	inv := mustParse(t, "s.ini", "[etcd]\netcd\nx\n")
	if w := inv.Warnings(); len(w) != 1 || !strings.Contains(w[0], `"etcd" is both a host and a group`) {
		t.Errorf("warnings = %q", w)
	}
	// As in Ansible: a plain name is the host, an & or ! term the group.
	for pattern, want := range map[string][]string{
		"etcd":      {"etcd"},
		"all:&etcd": {"etcd", "x"},
		"all:!etcd": {},
		"etcd*":     {"etcd", "x"},
	} {
		hosts, err := inv.Select(pattern)
		if err != nil || !equalStrings(names(hosts), want) {
			t.Errorf("Select(%q) = %q, %v; want %q", pattern, names(hosts), err, want)
		}
	}
}

func TestSelectAllIsEveryHost(t *testing.T) {
	// Ansible would select only the host called "all" here.
	inv := mustParse(t, "a.ini", "all\nx\n")
	for _, pattern := range []string{"all", "*", "all:x"} {
		if hosts, err := inv.Select(pattern); err != nil || len(hosts) != 2 {
			t.Errorf("Select(%q) = %q, %v; want both hosts", pattern, names(hosts), err)
		}
	}
}

func TestSelectOrderForSubscripts(t *testing.T) {
	// h2 comes first in the inventory but second in group g: g[0] is h1,
	// as in Ansible, while the result list stays in inventory order.
	inv := mustParse(t, "o.ini", "[a]\nh2\n[g]\nh1\nh2\n[p:children]\nc\n[p]\nh3\n[c]\nh4\n")
	for pattern, want := range map[string][]string{
		"g[0]":   {"h1"},
		"g[1]":   {"h2"},
		"g":      {"h2", "h1"},
		"p[0]":   {"h3"}, // the group's own hosts come before its children's
		"p[1]":   {"h4"},
		"p[0:1]": {"h3", "h4"},
	} {
		hosts, err := inv.Select(pattern)
		if err != nil || !equalStrings(names(hosts), want) {
			t.Errorf("Select(%q) = %q, %v; want %q", pattern, names(hosts), err, want)
		}
	}
}

func TestSetLimit(t *testing.T) {
	inv := mustParse(t, "p.ini", patternInventory)
	if err := inv.SetLimit("etcd:!etcd-3"); err != nil {
		t.Fatal(err)
	}
	if got := names(inv.Hosts()); !reflect.DeepEqual(got, []string{"etcd-1", "etcd-2"}) {
		t.Errorf("Hosts() within the limit = %q", got)
	}
	for pattern, want := range map[string][]string{
		"all":     {"etcd-1", "etcd-2"},
		"dc2":     {"etcd-2"},
		"spare":   {},
		"etcd[2]": {}, // etcd-3, outside the limit
	} {
		hosts, err := inv.Select(pattern)
		if err != nil || !equalStrings(names(hosts), want) {
			t.Errorf("limited Select(%q) = %q, %v; want %q", pattern, names(hosts), err, want)
		}
	}
	if _, ok := inv.Host("spare-1"); !ok {
		t.Error("Host() outside the limit: not found")
	}
	var b strings.Builder
	inv.Graph(&b, "dc2")
	if want := "@dc2:\n  |--etcd-2\n"; b.String() != want {
		t.Errorf("limited Graph = %q, want %q", b.String(), want)
	}

	if err := inv.SetLimit("nothing*"); err == nil || err.Error() != "matches no host" {
		t.Errorf("SetLimit(nothing*) = %v", err)
	}
	if err := inv.SetLimit("etdc"); err == nil || err.Error() != `no host or group named "etdc" (did you mean "etcd"?)` {
		t.Errorf("SetLimit(etdc) = %v", err)
	}
	// A failed SetLimit keeps the limit it had.
	if got := names(inv.Hosts()); len(got) != 2 {
		t.Errorf("after failed SetLimit, Hosts() = %q", got)
	}
	if err := inv.SetLimit(""); err != nil || len(inv.Hosts()) != len(allHosts) {
		t.Errorf("SetLimit(\"\") = %v, %d hosts", err, len(inv.Hosts()))
	}

	retry := filepath.Join(t.TempDir(), "site.retry")
	os.WriteFile(retry, []byte("etcd-2\n\nspare-1\n"), 0o644)
	if err := inv.SetLimit("@" + retry); err != nil {
		t.Fatal(err)
	}
	if got := names(inv.Hosts()); !reflect.DeepEqual(got, []string{"etcd-2", "spare-1"}) {
		t.Errorf("limit from a file: %q", got)
	}
	if err := inv.SetLimit("@" + retry + ".missing"); err == nil || !strings.Contains(err.Error(), "cannot read limit file") {
		t.Errorf("missing limit file: %v", err)
	}
}

func TestGraph(t *testing.T) {
	inv, err := Load("../testdata/inventory/lab.ini")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := inv.Graph(&b, ""); err != nil {
		t.Fatal(err)
	}
	want := `@all:
  |--@ungrouped:
  |--@cluster:
  |  |--@etcd:
  |  |  |--etcd-1
  |  |  |--etcd-2
  |  |  |--etcd-3
  |  |--@spare:
  |  |  |--etcd-4
`
	if b.String() != want {
		t.Errorf("Graph(all) =\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	inv.Graph(&b, "spare")
	if want := "@spare:\n  |--etcd-4\n"; b.String() != want {
		t.Errorf("Graph(spare) = %q, want %q", b.String(), want)
	}
	if err := inv.Graph(&b, "etdc"); err == nil || err.Error() != `no group named "etdc" (did you mean "etcd"?)` {
		t.Errorf("Graph(etdc) = %v", err)
	}
}

func TestGroups(t *testing.T) {
	inv := mustParse(t, "g.ini", patternInventory)
	var got []string
	for _, g := range inv.Groups() {
		got = append(got, g.Name)
	}
	want := []string{"all", "cluster", "dc1", "dc2", "empty", "etcd", "spare", "ungrouped", "web"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Groups() = %q, want %q", got, want)
	}
	g, ok := inv.Group("etcd")
	if !ok || !reflect.DeepEqual(g.Hosts, []string{"etcd-1", "etcd-2", "etcd-3"}) || !reflect.DeepEqual(g.Parents, []string{"cluster"}) {
		t.Errorf("Group(etcd) = %+v", g)
	}
	if _, ok := inv.Group("nope"); ok {
		t.Error("Group(nope) found")
	}
}

func TestAccessors(t *testing.T) {
	inv := mustParse(t, "a.ini", `
plain
full ansible_host=10.0.0.1 ansible_port=2222 ansible_user=root ansible_ssh_private_key_file=~/.ssh/id ansible_become=yes ansible_become_user=etcd
short host=10.0.0.2 port=2200 user=ops private_key=/k become=true become_user=postgres
old ansible_ssh_host=10.0.0.3 ansible_ssh_port="'2300'" ansible_ssh_user=legacy ansible_private_key_file=/old
both ansible_host=10.0.0.4 host=ignored address=ignored ansible_become=False become=True
v6 ansible_host=[2001:db8::9]
addr address=10.0.0.5 become=0
nullhost ansible_host=None
portonly:2022
`)
	tests := []struct {
		host              string
		addr              string
		port              int
		user, key         string
		become, becomeSet bool
		becomeUser        string
	}{
		{"plain", "plain", 0, "", "", false, false, ""},
		{"full", "10.0.0.1", 2222, "root", "~/.ssh/id", true, true, "etcd"},
		{"short", "10.0.0.2", 2200, "ops", "/k", true, true, "postgres"},
		{"old", "10.0.0.3", 2300, "legacy", "/old", false, false, ""},
		{"both", "10.0.0.4", 0, "", "", false, true, ""},
		{"v6", "2001:db8::9", 0, "", "", false, false, ""},
		{"addr", "10.0.0.5", 0, "", "", false, true, ""},
		{"nullhost", "nullhost", 0, "", "", false, false, ""},
		{"portonly", "portonly", 2022, "", "", false, false, ""},
	}
	for _, tt := range tests {
		h, ok := inv.Host(tt.host)
		if !ok {
			t.Fatalf("no host %s", tt.host)
		}
		become, set := h.Become()
		if h.Address() != tt.addr || h.Port() != tt.port || h.User() != tt.user || h.KeyFile() != tt.key ||
			become != tt.become || set != tt.becomeSet || h.BecomeUser() != tt.becomeUser {
			t.Errorf("%s: Address %q Port %d User %q KeyFile %q Become %v,%v BecomeUser %q; want %q %d %q %q %v,%v %q",
				tt.host, h.Address(), h.Port(), h.User(), h.KeyFile(), become, set, h.BecomeUser(),
				tt.addr, tt.port, tt.user, tt.key, tt.become, tt.becomeSet, tt.becomeUser)
		}
	}
}

func TestBoolean(t *testing.T) {
	for _, v := range []any{true, 1, 1.0, "yes", "Yes", "on", "1", "true", "True", "t", "y", " YES "} {
		if b, ok := Bool(v); !b || !ok {
			t.Errorf("Bool(%#v) = %v, %v; want true", v, b, ok)
		}
	}
	for _, v := range []any{false, 0, 0.0, "no", "off", "0", "false", "FALSE", "f", "n"} {
		if b, ok := Bool(v); b || !ok {
			t.Errorf("Bool(%#v) = %v, %v; want false", v, b, ok)
		}
	}
	for _, v := range []any{2, "maybe", "", nil, []any{}} {
		if _, ok := Bool(v); ok {
			t.Errorf("Bool(%#v) accepted", v)
		}
	}
}

// TestSelectNeverMoreThanAnsible is the case of Ansible's pattern tests
// with groups a, b, c and hosts c1, c2, baz1, baz2 (a copy written here):
// what ansible-core 2.14 selects nothing for must select nothing, or be
// an error naming what is missing, never hosts by a glob.
func TestSelectNeverMoreThanAnsible(t *testing.T) {
	inv := mustParse(t, "abc.ini", "[a]\na1\n[b]\nb1\n[c]\n[other]\nc1\nc2\nbaz1\nbaz2\n")
	for pattern, want := range map[string]string{
		"c[1:2]":   "",                                                                                                          // the empty group c has no hosts 1 to 2
		"c[0]":     "",                                                                                                          // nor a first
		"baz[12]":  `no host or group named "baz" ... by position; to match host names by a character class, write ~baz[12]$)`,  // Ansible: nothing, with a warning
		"baz[1-2]": `no host or group named "baz" ... by position; to match host names by a character class, write ~baz[1-2]$)`, // the removed [x-y] form
		"c*[1:2]":  "c2",                                                                                                        // a subscript on a glob counts in what it matches: c1, c2
		"baz*":     "baz1,baz2",
		"c1,,c2":   "c1,c2",
	} {
		hosts, err := inv.Select(pattern)
		got := strings.Join(names(hosts), ",")
		if strings.HasPrefix(want, "no host") {
			if err == nil || !matchMsg(err.Error(), want) {
				t.Errorf("Select(%q) = %q, %v; want error %q", pattern, got, err, want)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Select(%q) = %q, %v; want %q", pattern, got, err, want)
		}
	}
}

func TestSetLimitOfOnlySeparators(t *testing.T) {
	// Ansible limits nothing then, and works on every host
	// (ansible#85278); a limit that came out empty must not.
	inv := mustParse(t, "l.ini", "h1\nh2\nh3\n")
	for _, l := range []string{",", ",,", " , "} {
		if err := inv.SetLimit(l); err == nil {
			t.Errorf("SetLimit(%q) = nil, want an error", l)
		}
	}
	if err := inv.SetLimit("h1,,h3"); err != nil {
		t.Fatal(err)
	}
	if got := names(inv.Hosts()); !equalStrings(got, []string{"h1", "h3"}) {
		t.Errorf("SetLimit(h1,,h3): Hosts() = %q", got)
	}
}
