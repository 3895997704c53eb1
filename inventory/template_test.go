package inventory

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// templateInventory is written the way Ansible inventories use templates
// (the inventory guide's ansible_host={{ ... }}, kubespray's ip= and
// etcd_member_name, references to groups and hostvars); the cases are
// our own copies.
const templateInventory = `
[etcd]
etcd-1.example.com myhost=10.0.0.1 ansible_host="{{ myhost }}"
etcd-2.example.com ansible_host=10.0.0.2
etcd-3.example.com ansible_host=10.0.0.3 broken="{{ lookup('env', 'HOME') }}"

[web]
web-1 ansible_host="{{ inventory_hostname }}.internal" backend="{{ hostvars['etcd-2.example.com']['ansible_host'] }}"

[all:vars]
etcd_name="{{ inventory_hostname_short | upper }}"
first_etcd="{{ groups['etcd'][0] }}"
members="{{ groups['etcd'] }}"
member_list="{{ groups['etcd'] | join(',') }}"
peer_url="http://{{ ansible_host | default(inventory_hostname) }}:2380"
env_name="{{ env | default('Prod') | lower }}"
dashed="{{ inventory_hostname | replace('.', '-') }}"
quoted="{{ 'a' }}{{ \"b\" }}"
`

func TestTemplates(t *testing.T) {
	inv := mustParse(t, "t.ini", templateInventory)
	e1, _ := inv.Host("etcd-1.example.com")
	e3, _ := inv.Host("etcd-3.example.com")
	w1, _ := inv.Host("web-1")
	for _, tc := range []struct {
		h    *Host
		name string
		want any
	}{
		{e1, "ansible_host", "10.0.0.1"},
		{e1, "etcd_name", "ETCD-1"},
		{e1, "first_etcd", "etcd-1.example.com"},
		{e1, "members", []any{"etcd-1.example.com", "etcd-2.example.com", "etcd-3.example.com"}},
		{e1, "member_list", "etcd-1.example.com,etcd-2.example.com,etcd-3.example.com"},
		{e1, "peer_url", "http://10.0.0.1:2380"},
		{e1, "env_name", "prod"},
		{e1, "dashed", "etcd-1-example-com"},
		{e1, "quoted", "ab"},
		{e3, "etcd_name", "ETCD-3"}, // a broken variable of the host does not spoil the others
		{w1, "ansible_host", "web-1.internal"},
		{w1, "backend", "10.0.0.2"},
		{w1, "peer_url", "http://web-1.internal:2380"},
	} {
		v, ok, err := tc.h.Lookup(tc.name)
		if err != nil || !ok || !reflect.DeepEqual(v, tc.want) {
			t.Errorf("%s %s = %#v, %v, %v; want %#v", tc.h.Name, tc.name, v, ok, err, tc.want)
		}
	}
	if got := e1.Address(); got != "10.0.0.1" {
		t.Errorf("Address() = %q", got)
	}
	if err := e1.ConnectionError(); err != nil {
		t.Errorf("ConnectionError() = %v", err)
	}

	// A template outside the subset is an error only when read, naming
	// the place, the host, the variable and the expression.
	_, _, err := e3.Lookup("broken")
	var ve *VarError
	if !errors.As(err, &ve) {
		t.Fatalf("Lookup(broken) = %v, want a *VarError", err)
	}
	want := `t.ini:5: host "etcd-3.example.com": variable "broken": "{{ lookup('env', 'HOME') }}": lookup(...) is not supported: etcdplay evaluates {{ name }}, ...`
	if !matchMsg(err.Error(), want) {
		t.Errorf("Lookup(broken) = %v\nwant %s", err, want)
	}
	if err := e3.ConnectionError(); err != nil {
		t.Errorf("ConnectionError() = %v, but no connection variable is broken", err)
	}
}

func TestTemplateErrors(t *testing.T) {
	for _, tc := range []struct{ value, err string }{
		{`{{ lookup('env', 'HOME') }}`, `lookup(...) is not supported: ...`},
		{`{% if x %}a{% endif %}`, `{% ... %} blocks are not supported: ...`},
		{`{{ x | to_json }}`, `filter "to_json" is not supported: ...`},
		{`{{ x + 1 }}`, `"+ 1" is not supported here: ...`},
		{`{{ x if y else z }}`, `"if y else z" is not supported here: ...`},
		{`{{ nosuch }}`, `nosuch is undefined (give it a value, or a default: {{ nosuch | default('...') }})`},
		{`{{ hostvars['nohost']['v'] }}`, `hostvars['nohost']: no host named "nohost"`},
		{`{{ hostvars['h']['nosuch'] }}`, `hostvars['h']['nosuch'] is undefined ...`},
		{`{{ groups['etdc'] }}`, `groups['etdc']: no group named 'etdc' (did you mean "etcd"?)`},
		{`{{ groups['etcd'][5] }}`, `groups['etcd'][5]: index out of range: the list has 1 item(s)`},
		{`{{ loop_a }}`, `refers to itself: h.loop_a > h.loop_b > h.loop_a`},
		{`{{ x`, `{{ has no closing }}`},
		{`{{ }}`, `empty {{ }}: expected an expression`},
		{`{{ x | replace('a') }}`, `filter replace: expected 2 to 3 arguments, found 1`},
	} {
		src := "[etcd]\nh x=1 y=2 loop_a=\"{{ loop_b }}\" loop_b=\"{{ loop_a }}\" v=\"" + strings.ReplaceAll(tc.value, `"`, `\"`) + "\"\n"
		inv, err := Parse("e.ini", []byte(src))
		if err != nil {
			t.Errorf("%s: the inventory is refused: %v", tc.value, err)
			continue
		}
		h, _ := inv.Host("h")
		_, _, err = h.Lookup("v")
		want := `e.ini:2: host "h": variable "v": ` + quote(tc.value) + ": " + tc.err
		if err == nil || !matchMsg(err.Error(), want) {
			t.Errorf("%s: %v\nwant %s", tc.value, err, want)
		}
	}
}

// TestTemplatedConnectionVariables is the case of the issue: a template
// in one host's ansible_host must not refuse the inventory, and a host
// whose connection variables cannot be worked out says so before anyone
// connects to it.
func TestTemplatedConnectionVariables(t *testing.T) {
	inv := mustParse(t, "c.ini", `
good ansible_host=10.0.0.1
bad ansible_host="{{ myhost }}"
badport ansible_port="{{ p }}" p=abc
`)
	if err := inv.SetLimit("good"); err != nil {
		t.Fatal(err)
	}
	if got := names(inv.Hosts()); !equalStrings(got, []string{"good"}) {
		t.Errorf("Hosts() = %q", got)
	}
	bad, _ := inv.Host("bad")
	err := bad.ConnectionError()
	if err == nil || err.Error() != `c.ini:3: host "bad": variable "ansible_host": "{{ myhost }}": myhost is undefined (give it a value, or a default: {{ myhost | default('...') }})` {
		t.Errorf("ConnectionError() = %v", err)
	}
	badport, _ := inv.Host("badport")
	err = badport.ConnectionError()
	if err == nil || err.Error() != `c.ini:4: host "badport": variable "ansible_port": "{{ p }}": expected a port number from 1 to 65535, found the string "abc"` {
		t.Errorf("ConnectionError() = %v", err)
	}
}

// TestTemplatesInYAML: list and mapping values are templated inside,
// and a template alone keeps its value's type.
func TestTemplatesInYAML(t *testing.T) {
	inv := mustParse(t, "t.yaml", `
all:
  vars:
    port: 2379
    urls: ["http://{{ inventory_hostname }}:{{ port }}"]
    conf: {name: "{{ inventory_hostname }}", port: "{{ port }}", ratio: "{{ r }}", on: "{{ flag }}"}
    r: 0.5
    flag: true
  hosts:
    n1:
`)
	h, _ := inv.Host("n1")
	v, _, err := h.Lookup("urls")
	if err != nil || !reflect.DeepEqual(v, []any{"http://n1:2379"}) {
		t.Errorf("urls = %#v, %v", v, err)
	}
	v, _, err = h.Lookup("conf")
	if want := map[string]any{"name": "n1", "port": 2379, "ratio": 0.5, "on": true}; err != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("conf = %#v, %v; want %#v", v, err, want)
	}
}
