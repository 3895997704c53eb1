package inventory

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// want is what a parse test expects: the hosts in inventory order, some
// of their variables, their groups, and some groups' children.
type want struct {
	hosts    []string
	vars     map[string]map[string]any // host -> variables that must have these values
	novars   map[string][]string       // host -> variables that must not be set
	groups   map[string][]string       // host -> Host.Groups
	children map[string][]string       // group -> Children
	members  map[string][]string       // group -> Hosts (direct)
}

func mustParse(t *testing.T, name, src string) *Inventory {
	t.Helper()
	inv, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return inv
}

func names(hosts []*Host) []string {
	out := []string{}
	for _, h := range hosts {
		out = append(out, h.Name)
	}
	return out
}

func (w want) check(t *testing.T, inv *Inventory) {
	t.Helper()
	if w.hosts != nil {
		if got := names(inv.Hosts()); !reflect.DeepEqual(got, w.hosts) {
			t.Errorf("hosts = %q, want %q", got, w.hosts)
		}
	}
	for host, vars := range w.vars {
		h, ok := inv.Host(host)
		if !ok {
			t.Errorf("no host %q", host)
			continue
		}
		for k, v := range vars {
			got, ok := h.Var(k)
			if !ok {
				t.Errorf("%s: %s not set, want %#v", host, k, v)
			} else if !reflect.DeepEqual(got, v) {
				t.Errorf("%s: %s = %#v (%T), want %#v (%T)", host, k, got, got, v, v)
			}
		}
	}
	for host, vars := range w.novars {
		h, _ := inv.Host(host)
		for _, k := range vars {
			if v, ok := h.Var(k); ok {
				t.Errorf("%s: %s = %#v, want it unset", host, k, v)
			}
		}
	}
	for host, groups := range w.groups {
		h, ok := inv.Host(host)
		if !ok {
			t.Errorf("no host %q", host)
			continue
		}
		if !reflect.DeepEqual(h.Groups, groups) {
			t.Errorf("%s: groups = %q, want %q", host, h.Groups, groups)
		}
		gn, _ := h.Var("group_names")
		if len(groups) > 0 && !reflect.DeepEqual(gn, toAny(groups)) {
			t.Errorf("%s: group_names = %#v, want %q", host, gn, groups)
		}
	}
	for group, children := range w.children {
		g, ok := inv.Group(group)
		if !ok {
			t.Errorf("no group %q", group)
			continue
		}
		if !equalStrings(g.Children, children) {
			t.Errorf("group %s: children = %q, want %q", group, g.Children, children)
		}
	}
	for group, hosts := range w.members {
		g, ok := inv.Group(group)
		if !ok {
			t.Errorf("no group %q", group)
			continue
		}
		if !equalStrings(g.Hosts, hosts) {
			t.Errorf("group %s: hosts = %q, want %q", group, g.Hosts, hosts)
		}
	}
}

func equalStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func TestParseINI(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want want
	}{
		{"hosts before any section are ungrouped", "a\nb\n[g]\nc\n", want{
			hosts:    []string{"a", "b", "c"},
			groups:   map[string][]string{"a": {"ungrouped"}, "c": {"g"}},
			children: map[string][]string{"all": {"ungrouped", "g"}},
			members:  map[string][]string{"ungrouped": {"a", "b"}},
		}},
		{"a host in ungrouped and a group leaves ungrouped", "a\n[g]\na\n", want{
			groups:  map[string][]string{"a": {"g"}},
			members: map[string][]string{"ungrouped": nil, "g": {"a"}},
		}},
		{"[all] hosts are also ungrouped", "[all]\na\n", want{
			groups:  map[string][]string{"a": {"ungrouped"}},
			members: map[string][]string{"all": {"a"}, "ungrouped": {"a"}},
		}},
		{"explicit [ungrouped] and [g:hosts]", "[ungrouped]\nu\n[g:hosts]\nh\n", want{
			hosts:  []string{"u", "h"},
			groups: map[string][]string{"u": {"ungrouped"}, "h": {"g"}},
		}},
		{"inline values are Python literals", `h i=2379 neg=-5 f=1.5 e=1e3 hex=0x1F u=1_000 t=True F=False lt=true lf=false n=None s=abc q="'2379'" dq='"x"' l="[1, 'a', None]" tup="(1, 2)" d="{'a': 1, 'b': [True]}" set="{1, 2, 1}" z=0123 v=3.10 ver=3.6.16 ip=10.0.0.1 neg2=--5`, want{
			vars: map[string]map[string]any{"h": {
				"i": 2379, "neg": -5, "f": 1.5, "e": 1000.0, "hex": 31, "u": 1000,
				"t": true, "F": false, "lt": true, "lf": false, "n": nil, "s": "abc",
				"q": "2379", "dq": "x", "l": []any{1, "a", nil}, "tup": []any{1, 2},
				"d": map[string]any{"a": 1, "b": []any{true}}, "set": []any{1, 2},
				"z": "0123", "v": 3.1, "ver": "3.6.16", "ip": "10.0.0.1", "neg2": "--5",
			}},
		}},
		{"quoting and escapes like a shell", `h a="x y" b='x y' c=x\ y d="x\"y" e='x\y' f="" g=a"b c"d`, want{
			vars: map[string]map[string]any{"h": {"a": "x y", "b": "x y", "c": "x y", "d": `x"y`, "e": `x\y`, "f": "", "g": "ab cd"}},
		}},
		{"# starts a comment on host lines, outside quotes", "h a=1 # b=2\nk c=x#y d=2\nm e=\"#x\"\n", want{
			vars:   map[string]map[string]any{"h": {"a": 1}, "k": {"c": "x"}, "m": {"e": "#x"}},
			novars: map[string][]string{"h": {"b"}, "k": {"d"}},
		}},
		{"comment lines with # and ;", "# c\n; c\n  # indented\n[g] # after section\nh\n", want{hosts: []string{"h"}}},
		{"vars sections read literals, values run to the end of the line", "[g]\nh\n[g:vars]\nport=2379\nflag=False\nflag2 = true\ns='quoted'\nspaced = a b c\ncomment=8080 # http\nname=foo # bar\nurl=http://x/#y\nlist=[1, 2]\nkey with space=1\nempty=\n", want{
			vars: map[string]map[string]any{"h": {
				"port": 2379, "flag": false, "flag2": true, "s": "quoted", "spaced": "a b c",
				"comment": 8080, "name": "foo", "url": "http://x/#y", "list": []any{1, 2}, "key with space": 1, "empty": "",
			}},
		}},
		{"host:port sets ansible_port, inline ansible_port overrides", "a:2222\nb:2222 ansible_port=3333\n10.0.0.1:22\n", want{
			hosts: []string{"a", "b", "10.0.0.1"},
			vars:  map[string]map[string]any{"a": {"ansible_port": 2222}, "b": {"ansible_port": 3333}, "10.0.0.1": {"ansible_port": 22}},
		}},
		{"port only where a host is first defined, as Ansible", "a:2222\n[g]\na:3333\n", want{
			vars: map[string]map[string]any{"a": {"ansible_port": 2222}},
		}},
		{"IPv6 with and without a port", "2001:db8::1\n[2001:db8::2]:2222\nfe80::1%eth0\n::1\n", want{
			hosts: []string{"2001:db8::1", "2001:db8::2", "fe80::1%eth0", "::1"},
			vars:  map[string]map[string]any{"2001:db8::2": {"ansible_port": 2222}},
			novars: map[string][]string{
				"2001:db8::1": {"ansible_port"},
			},
		}},
		{"numeric range", "[g]\netcd[1:3].example.com\n", want{
			hosts: []string{"etcd1.example.com", "etcd2.example.com", "etcd3.example.com"},
		}},
		{"zero-padded range with a stride", "[g]\nwww[01:10:3]\n", want{
			hosts: []string{"www01", "www04", "www07", "www10"},
		}},
		{"letter range", "[g]\ndb-[a:c]\n", want{hosts: []string{"db-a", "db-b", "db-c"}}},
		{"letter range across cases", "[g]\nx[y:B]\n", want{hosts: []string{"xy", "xz", "xA", "xB"}}},
		{"range without start starts at 0", "[g]\nh[:2]\n", want{hosts: []string{"h0", "h1", "h2"}}},
		{"two ranges and vars on each host", "[g]\nr[1:2]-n[a:b] u=ops\n", want{
			hosts: []string{"r1-na", "r1-nb", "r2-na", "r2-nb"},
			vars:  map[string]map[string]any{"r2-nb": {"u": "ops"}},
		}},
		{"range with a port", "[g]\napi[1:2]:8022\n", want{
			hosts: []string{"api1", "api2"},
			vars:  map[string]map[string]any{"api2": {"ansible_port": 8022}},
		}},
		{"children and their order", "[a]\nh1\n[b]\nh2\n[p:children]\nb\na\n", want{
			children: map[string][]string{"p": {"b", "a"}, "all": {"ungrouped", "p"}},
			groups:   map[string][]string{"h1": {"a", "p"}},
		}},
		{"children defined after the parent", "[p:children]\nc\n[p:vars]\nx=1\n[c]\nh\n", want{
			groups: map[string][]string{"h": {"c", "p"}},
			vars:   map[string]map[string]any{"h": {"x": 1}},
		}},
		{"an empty [c] section defines an empty child", "[p:children]\nc\n[c]\n", want{
			children: map[string][]string{"p": {"c"}},
			hosts:    []string{},
		}},
		{"[c:children] defines c for a pending reference", "[p:children]\nc\n[c:children]\nd\n[d]\nh\n", want{
			groups: map[string][]string{"h": {"c", "d", "p"}},
		}},
		{"[g:vars] before [g]", "[g:vars]\nx=1\n[g]\nh\n", want{
			vars: map[string]map[string]any{"h": {"x": 1}},
		}},
		{"a group in two parents", "[a:children]\nc\n[b:children]\nc\n[c]\nh\n", want{
			groups:   map[string][]string{"h": {"a", "b", "c"}},
			children: map[string][]string{"all": {"ungrouped", "a", "b"}},
		}},
		{"duplicates are kept once", "[g]\nh\nh\n[p:children]\ng\ng\n", want{
			members:  map[string][]string{"g": {"h"}},
			children: map[string][]string{"p": {"g"}},
		}},
		{"later definitions of a variable win", "h a=1\n[g]\nh a=2\n", want{
			vars: map[string]map[string]any{"h": {"a": 2}},
		}},
		{"group names may have dashes and dots", "[etcd-cluster.eu]\nh\n", want{
			groups: map[string][]string{"h": {"etcd-cluster.eu"}},
		}},
		{"a line starting with a range is a host", "[g]\n[a:b]-x\n", want{hosts: []string{"a-x", "b-x"}}},
		{"magic variables", "[g]\netcd-1.example.com\n", want{
			vars: map[string]map[string]any{"etcd-1.example.com": {
				"inventory_hostname": "etcd-1.example.com", "inventory_hostname_short": "etcd-1",
				"group_names": []any{"g"}, "inventory_file": "t.ini", "inventory_dir": ".",
			}},
		}},
		{"empty file", "", want{hosts: []string{}, children: map[string][]string{"all": {"ungrouped"}}}},
		{"only comments and blanks", "# x\n\n;y\n   \n", want{hosts: []string{}}},
		{"no final newline", "[g]\nh", want{hosts: []string{"h"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, mustParse(t, "t.ini", tt.src))
		})
	}
}

func TestParseYAML(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want want
	}{
		{"all with hosts, vars and children", `
all:
  hosts:
    a:
  vars:
    x: 1
  children:
    g:
      hosts:
        b:
          y: 2
`, want{
			hosts:    []string{"a", "b"},
			groups:   map[string][]string{"a": {"ungrouped"}, "b": {"g"}},
			vars:     map[string]map[string]any{"a": {"x": 1}, "b": {"x": 1, "y": 2}},
			children: map[string][]string{"all": {"ungrouped", "g"}},
			members:  map[string][]string{"all": {"a"}, "ungrouped": {"a"}},
		}},
		{"top-level groups without all", "g:\n  hosts:\n    h:\n", want{
			groups: map[string][]string{"h": {"g"}}, children: map[string][]string{"all": {"ungrouped", "g"}},
		}},
		{"null hosts, null vars, null groups", "g:\n  hosts:\n    h:\n  vars:\n  children:\ne:\n", want{
			hosts: []string{"h"}, children: map[string][]string{"all": {"ungrouped", "g", "e"}},
		}},
		{"hosts as a string, children as a string", "g:\n  hosts: h\np:\n  children: g\n", want{
			groups: map[string][]string{"h": {"g", "p"}},
		}},
		{"value types, YAML 1.1 like PyYAML", `
g:
  hosts:
    h:
      i: 2379
      s: "2379"
      f: 1.5
      exp_is_string: 1e3
      exp_signed: 1.0e+3
      octal: 0755
      hex: 0x1F
      under: 1_000
      sexagesimal: 1:20
      yes_: yes
      No_: No
      on_: on
      OFF_: OFF
      y_is_string: y
      t: true
      n: null
      tilde: ~
      empty:
      list: [1, a, null]
      map: {a: {b: c}}
      date: 2024-01-02
      ver: 3.6.16
      v: 3.10
      inf: .inf
      quoted_yes: 'yes'
      tagged: !!str 12
      block: |
        line1
        line2
`, want{vars: map[string]map[string]any{"h": {
			"i": 2379, "s": "2379", "f": 1.5, "exp_is_string": "1e3", "exp_signed": 1000.0, "octal": 493, "hex": 31,
			"under": 1000, "sexagesimal": 80, "yes_": true, "No_": false, "on_": true, "OFF_": false, "y_is_string": "y",
			"t": true, "n": nil, "tilde": nil, "empty": nil, "list": []any{1, "a", nil}, "map": map[string]any{"a": map[string]any{"b": "c"}},
			"date": "2024-01-02", "ver": "3.6.16", "v": 3.1, "inf": math.Inf(1), "quoted_yes": "yes", "tagged": "12",
			"block": "line1\nline2\n",
		}}}},
		{"anchors, aliases and merge keys", `
all:
  vars:
    base: &base {user: root, port: 22}
  children:
    g:
      hosts:
        h1:
          <<: *base
          port: 2222
        h2: *base
        h3:
          <<: [*base, {extra: 1}]
`, want{vars: map[string]map[string]any{
			"h1": {"user": "root", "port": 2222},
			"h2": {"user": "root", "port": 22},
			"h3": {"extra": 1, "user": "root"},
		}}},
		{"ranges and ports in host keys", "g:\n  hosts:\n    etcd-[1:2]:\n      x: 1\n    \"10.0.0.1:2222\":\n", want{
			hosts: []string{"etcd-1", "etcd-2", "10.0.0.1"},
			vars:  map[string]map[string]any{"etcd-2": {"x": 1}, "10.0.0.1": {"ansible_port": 2222}},
		}},
		{"the same group under two parents", "a:\n  children:\n    c:\n      hosts:\n        h:\nb:\n  children:\n    c:\n", want{
			groups: map[string][]string{"h": {"a", "b", "c"}},
		}},
		{"lists of hosts and children, ansible-inventory --list style", `{"_meta": {"hostvars": {"h": {"x": 1}}}, "all": {"children": ["ungrouped", "g"]}, "g": {"hosts": ["h", "k"]}}`, want{
			hosts: []string{"h", "k"}, vars: map[string]map[string]any{"h": {"x": 1}}, groups: map[string][]string{"k": {"g"}},
		}},
		{"ungrouped under another group keeps its hosts", `{"a": {"children": ["ungrouped"]}, "ungrouped": {"hosts": ["h"]}}`, want{
			groups: map[string][]string{"h": {"a", "ungrouped"}},
		}},
		{"an inventory-script group as a plain list", `{"g": ["a", "b"]}`, want{hosts: []string{"a", "b"}}},
		{"only a document marker", "---\n", want{hosts: []string{}}},
		{"empty", "", want{hosts: []string{}}},
		{"comments only", "# nothing\n", want{hosts: []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, mustParse(t, "t.yaml", tt.src))
		})
	}
}

// TestLabFormatsAgree checks that the INI and YAML forms of one inventory
// give the same hosts, groups and variables.
func TestLabFormatsAgree(t *testing.T) {
	ini, err := Load("../testdata/inventory/lab.ini")
	if err != nil {
		t.Fatal(err)
	}
	yml, err := Load("../testdata/inventory/lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := names(ini.Hosts()), names(yml.Hosts()); !reflect.DeepEqual(a, b) {
		t.Fatalf("hosts differ: ini %q, yaml %q", a, b)
	}
	for _, h := range ini.Hosts() {
		y, _ := yml.Host(h.Name)
		a, b := withoutFile(h.Vars), withoutFile(y.Vars)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: vars differ:\nini  %v\nyaml %v", h.Name, a, b)
		}
	}
	want{
		groups: map[string][]string{"etcd-1": {"cluster", "etcd"}, "etcd-4": {"cluster", "spare"}},
		vars: map[string]map[string]any{
			"etcd-1": {"etcd_role": "voter", "etcd_client_port": 2379, "ansible_user": "root", "etcd_name": "etcd-1"},
			"etcd-4": {"etcd_role": "none", "ansible_host": "10.77.0.14"},
		},
	}.check(t, ini)
}

func withoutFile(vars map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range vars {
		if k != "inventory_file" && k != "inventory_dir" {
			out[k] = v
		}
	}
	return out
}

// TestTestdata checks what the sample inventories in testdata/inventory
// are there to show.
func TestTestdata(t *testing.T) {
	tests := []struct {
		path string
		want want
	}{
		{"ansible-docs.ini", want{
			hosts: []string{"host1", "host2", "tomcat1", "tomcat2", "tomcat3", "jenkins1"},
			vars: map[string]map[string]any{
				"host2":    {"ansible_port": 222, "http_port": 8080, "myvar": 23, "has_java": false},
				"tomcat2":  {"myvar": 34, "has_java": false},
				"tomcat3":  {"mysecret": "03#pa33w0rd"},
				"jenkins1": {"has_java": true, "http_port": 8080},
			},
			groups: map[string][]string{"jenkins1": {"nginx", "web"}},
		}},
		{"ranges.ini", want{
			hosts: []string{
				"etcd1.example.com", "etcd2.example.com", "etcd3.example.com",
				"www01.example.com", "www04.example.com", "www07.example.com", "www10.example.com",
				"db-a", "db-b", "db-c", "rack1-nodea", "rack1-nodeb", "rack2-nodea", "rack2-nodeb",
				"api1.example.com", "api2.example.com",
			},
			vars: map[string]map[string]any{"rack2-nodeb": {"ansible_user": "ops"}, "api2.example.com": {"ansible_port": 2222}},
		}},
		{"tricky.ini", want{
			hosts: []string{"w1", "w2", "2001:db8::10", "2001:db8::11", "e3", "e4"},
			groups: map[string][]string{
				"w1": {"cluster", "west"}, "e4": {"cluster", "east"},
			},
			children: map[string][]string{"cluster": {"west", "east"}},
			vars: map[string]map[string]any{
				"w1":           {"ansible_host": "192.0.2.1", "ansible_port": 2201},
				"w2":           {"ansible_host": "192.0.2.2", "ansible_port": 2202},
				"2001:db8::11": {"ansible_port": 2211},
				"e3": {"note": "a value with blanks", "quoted": "1", "list": []any{1, 2.5, "x", nil},
					"dict": map[string]any{"a": map[string]any{"b": true}}},
				"e4": {"escaped": "a b", "hash": "#not a comment", "empty": "", "trailing": 1,
					"spaced value": "hello world", "url": "http://example.com/#frag", "typed": false, "squoted": "kept as string"},
			},
		}},
		{"tricky.yaml", want{
			hosts: []string{"etcd-1", "etcd-2", "etcd-3", "10.0.0.5", "lonely", "l1", "l2"},
			vars: map[string]map[string]any{
				"etcd-1": {"ansible_user": "root", "become": true, "etcd_learner": false, "version": "3.6",
					"octal": 493, "not_a_float": "1e3", "a_float": 1000.0, "on_off": false, "nothing": nil,
					"common": map[string]any{"ansible_user": "root", "become": true}},
				"10.0.0.5": {"ansible_port": 2222},
			},
			novars:   map[string][]string{"etcd-3": {"etcd_learner"}},
			groups:   map[string][]string{"etcd-1": {"etcd", "listed"}, "lonely": {"single"}},
			children: map[string][]string{"all": {"ungrouped", "etcd", "empty", "single", "listed"}, "listed": {"etcd"}},
		}},
		{"list.json", want{
			hosts:  []string{"etcd-1", "etcd-2", "loner"},
			vars:   map[string]map[string]any{"etcd-2": {"ansible_host": "10.77.0.12"}},
			groups: map[string][]string{"loner": {"ungrouped"}, "etcd-1": {"etcd"}},
		}},
		{"noext-yaml", want{hosts: []string{"y1"}, groups: map[string][]string{"y1": {"etcd"}}}},
		{"noext-ini", want{hosts: []string{"i1", "i2"}, vars: map[string]map[string]any{"i1": {"ansible_port": 2200}}}},
		{"dir", want{
			hosts:  []string{"d1", "d2"},
			groups: map[string][]string{"d1": {"cluster", "etcd"}},
			vars: map[string]map[string]any{
				"d1": {"ansible_host": "192.0.2.11"},
				"d2": {"from_dir": true, "from_group_vars": "etcd", "etcd_version": "3.6.16", "etcd_data_dir": "/srv/etcd"},
			},
			novars: map[string][]string{"d2": {"ignored", "ansible_host"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			inv, err := Load("../testdata/inventory/" + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.check(t, inv)
		})
	}
}

func TestPrecedence(t *testing.T) {
	inv, err := Load("../testdata/inventory/precedence.ini")
	if err != nil {
		t.Fatal(err)
	}
	want{vars: map[string]map[string]any{
		"h-all":    {"from": "all", "only_all": 1},
		"h-parent": {"from": "parent", "only_all": 1, "only_parent": 1},
		"h-child":  {"from": "child", "only_parent": 1},
		"h-host":   {"from": "host", "only_parent": 1},
		// alpha and zeta are both at depth 1: by name zeta would win, but
		// alpha has ansible_group_priority=10.
		"h-two": {"same_depth": "alpha", "prio": "alpha"},
	}, novars: map[string][]string{"h-two": {"ansible_group_priority"}}}.check(t, inv)

	// Without the priority, the later name wins.
	inv = mustParse(t, "p.ini", "[alpha]\nh\n[zeta]\nh\n[alpha:vars]\nx=alpha\n[zeta:vars]\nx=zeta\n")
	want{vars: map[string]map[string]any{"h": {"x": "zeta"}}}.check(t, inv)

	// Depth is the longest path from all: a group reached both directly
	// and through a chain is as deep as the chain makes it.
	inv = mustParse(t, "d.ini", "[a:children]\nb\n[b:children]\nc\n[c]\nh\n[z]\nh\n[c:vars]\nx=c\n[z:vars]\nx=z\n[top:children]\nc\n[top]\n")
	want{vars: map[string]map[string]any{"h": {"x": "c"}}}.check(t, inv)

	// Where each value came from.
	h, _ := inv.Host("h")
	if got := h.VarSource("x"); got != "d.ini:10" {
		t.Errorf("VarSource(x) = %q, want d.ini:10", got)
	}
	if got := h.VarSource("inventory_hostname"); got != "" {
		t.Errorf("VarSource(inventory_hostname) = %q, want empty", got)
	}
}

func TestVarsAreCopiedPerHost(t *testing.T) {
	inv := mustParse(t, "c.yaml", "g:\n  vars:\n    l: [1]\n    m: {a: 1}\n  hosts:\n    a:\n    b:\n")
	a, _ := inv.Host("a")
	b, _ := inv.Host("b")
	a.Vars["l"].([]any)[0] = "changed"
	a.Vars["m"].(map[string]any)["a"] = "changed"
	if b.Vars["l"].([]any)[0] != 1 || b.Vars["m"].(map[string]any)["a"] != 1 {
		t.Errorf("changing one host's vars changed another's: %v", b.Vars)
	}
}

func TestLoadMergesFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "1.ini", "[etcd]\ne1\n[etcd:vars]\nx=1\n")
	write(t, dir, "2.yaml", "etcd:\n  hosts:\n    e2:\n  vars:\n    x: 2\ncluster:\n  children:\n    etcd:\n")
	write(t, dir, "3.ini", "[spare]\ns1\n[cluster:children]\nspare\netcd\n")
	inv, err := Load(dir+"/1.ini", dir+"/2.yaml", dir+"/3.ini")
	if err != nil {
		t.Fatal(err)
	}
	want{
		hosts:  []string{"e1", "e2", "s1"},
		vars:   map[string]map[string]any{"e1": {"x": 2, "inventory_file": dir + "/1.ini", "inventory_dir": dir}, "e2": {"inventory_file": dir + "/2.yaml"}},
		groups: map[string][]string{"e1": {"cluster", "etcd"}, "s1": {"cluster", "spare"}},
	}.check(t, inv)

	// A child group defined only in a later file is an error, as in Ansible.
	write(t, dir, "a.ini", "[p:children]\nlater\n")
	write(t, dir, "b.ini", "[later]\nh\n")
	if _, err := Load(dir+"/a.ini", dir+"/b.ini"); err == nil || !strings.Contains(err.Error(), `undefined group "later"`) {
		t.Errorf("child defined in a later file: err = %v", err)
	}
	// Defined in an earlier file is fine.
	if _, err := Load(dir+"/b.ini", dir+"/a.ini"); err != nil {
		t.Errorf("child defined in an earlier file: %v", err)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGroupVarsAndHostVars(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "hosts.ini", `
[etcd]
e1 from=inline
e2
[etcd:vars]
from=etcd_inventory
child=etcd_inventory
[all:vars]
from=all_inventory
`)
	for _, d := range []string{"group_vars", "host_vars", "group_vars/etcd"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	write(t, dir, "group_vars/all.yaml", "from: all_group_vars\nonly_all: 1\nchild: all_group_vars\n")
	write(t, dir, "group_vars/etcd/a.yml", "from: etcd_group_vars\n")
	write(t, dir, "group_vars/etcd/b", "b_file: 1\n")
	write(t, dir, "group_vars/etcd/.hidden.yml", "hidden: 1\n")
	write(t, dir, "group_vars/etcd/c.yml~", "backup: 1\n")
	write(t, dir, "group_vars/etcd/d.txt", "txt: 1\n")
	write(t, dir, "group_vars/unknown.yml", "[not, a, mapping]\n") // no such group: never read
	write(t, dir, "host_vars/e1.json", `{"from": "host_vars", "port": 2200}`)

	inv, err := Load(filepath.Join(dir, "hosts.ini"))
	if err != nil {
		t.Fatal(err)
	}
	// Ansible's precedence: inventory all < inventory groups < group_vars/all
	// < group_vars/<group> < inventory host vars < host_vars/<host>.
	want{
		vars: map[string]map[string]any{
			"e1": {"from": "host_vars", "only_all": 1, "b_file": 1, "child": "all_group_vars"},
			"e2": {"from": "etcd_group_vars"},
		},
		novars: map[string][]string{"e1": {"hidden", "backup", "txt"}},
	}.check(t, inv)
	e1, _ := inv.Host("e1")
	if e1.Port() != 2200 || e1.VarSource("from") != filepath.Join(dir, "host_vars/e1.json")+":1" {
		t.Errorf("e1: port %d, from set at %q", e1.Port(), e1.VarSource("from"))
	}
	if w := inv.Warnings(); len(w) != 0 {
		t.Errorf("warnings = %q", w)
	}

	// Errors in these files name the file and line.
	write(t, dir, "host_vars/e2.yml", "ok: 1\nport: 99999\n")
	_, err = Load(filepath.Join(dir, "hosts.ini"))
	if want := filepath.Join(dir, "host_vars/e2.yml") + `:2: port for host "e2": expected a port number from 1 to 65535, found the number 99999`; err == nil || err.Error() != want {
		t.Errorf("bad port in host_vars: %v\nwant %s", err, want)
	}
	write(t, dir, "host_vars/e2.yml", "- a list\n")
	if _, err = Load(filepath.Join(dir, "hosts.ini")); err == nil || !strings.Contains(err.Error(), "e2.yml:1: expected a mapping of variable names to values, found a list") {
		t.Errorf("list in host_vars: %v", err)
	}
	write(t, dir, "host_vars/e2.yml", "a: 1\n\tb: 2\n")
	if _, err = Load(filepath.Join(dir, "hosts.ini")); err == nil || !strings.Contains(err.Error(), "e2.yml:2: invalid YAML") {
		t.Errorf("bad YAML in host_vars: %v", err)
	}

	// Parse reads no directories.
	data, _ := os.ReadFile(filepath.Join(dir, "hosts.ini"))
	inv = mustParse(t, filepath.Join(dir, "hosts.ini"), string(data))
	want{vars: map[string]map[string]any{"e2": {"from": "etcd_inventory"}}}.check(t, inv)
}

// TestBooleanVariables: inventory variables read as booleans with
// Bool, Ansible's rule, whichever way the file writes them: INI values
// are Python literals (True) or strings (yes, on, 1 is an int), YAML 1.1
// plain scalars are booleans already (yes, on) and quoted ones strings.
func TestBooleanVariables(t *testing.T) {
	ini := mustParse(t, "b.ini", `
t1 etcd_direct=yes ansible_become=YES
t2 etcd_direct=True ansible_become=on
t3 etcd_direct=1 ansible_become=t
t4 etcd_direct=true ansible_become=Y
f1 etcd_direct=no ansible_become=off
f2 etcd_direct=False ansible_become=0
f3 etcd_direct=Off ansible_become=n
`)
	yml := mustParse(t, "b.yaml", `
all:
  hosts:
    t1: {etcd_direct: yes, ansible_become: "yes"}
    t2: {etcd_direct: On, ansible_become: "TRUE"}
    t3: {etcd_direct: 1, ansible_become: "1"}
    t4: {etcd_direct: "y", ansible_become: true}
    f1: {etcd_direct: no, ansible_become: "no"}
    f2: {etcd_direct: "off", ansible_become: false}
    f3: {etcd_direct: 0, ansible_become: "f"}
`)
	for _, inv := range []*Inventory{ini, yml} {
		for _, h := range inv.Hosts() {
			want := h.Name[0] == 't'
			if b, ok := Bool(h.Vars["etcd_direct"]); !ok || b != want {
				t.Errorf("%s: etcd_direct %#v reads as %v, %v; want %v", h.Name, h.Vars["etcd_direct"], b, ok, want)
			}
			if b, set := h.Become(); !set || b != want {
				t.Errorf("%s: Become() = %v, %v; want %v", h.Name, b, set, want)
			}
		}
	}
}
