package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestParseErrors checks every kind of parse error: each is a ParseError
// at the right line that says what was expected and what was found.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		file string
		src  string
		line int
		msg  string // the whole message, or a part of it after "..."
	}{
		// INI sections.
		{"t.ini", "[g:var]\n", 1, `section [g:var] has unknown type "var": expected [g], [g:vars] or [g:children] (did you mean "vars"?)`},
		{"t.ini", "h\n[g x]\n", 2, `invalid section header "[g x]": expected [group], [group:vars] or [group:children], with no blanks inside the brackets`},
		{"t.ini", "[g] ; c\nh\n", 1, `invalid section header "[g] ; c": expected a # comment after a section header, or none (; starts a comment only at the start of a line)`},
		{"t.ini", "[g\n", 1, `invalid section header "[g": expected [group], [group:vars] or [group:children]`},
		// [group:vars] lines.
		{"t.ini", "[g]\n[g:vars]\nfoo\n", 3, `expected key=value in [g:vars], found "foo"`},
		{"t.ini", "[g]\n[g:vars]\n=1\n", 3, `expected key=value in [g:vars], found "=1"`},
		{"t.ini", "[etcd]\nh\n[etdc:vars]\nx=1\n", 3, `[etdc:vars] sets variables for group "etdc", which is not defined (did you mean "etcd"?): expected a [etdc] or [etdc:children] section for it`},
		{"t.ini", "[p:children]\nc\n[c:vars]\nx=1\n", 2, `[p:children] includes undefined group "c"...`},
		// [group:children] lines.
		{"t.ini", "[p:children]\na b\n", 2, `expected a group name in [p:children], found "a b" (hosts go in a [p] section)`},
		{"t.ini", "[p:children]\na:b\n", 2, `expected a group name in [p:children], found "a:b" (hosts go in a [p] section)`},
		{"t.ini", "[etcd]\nh\n[p:children]\netdc\n\n[q:children]\netdc\n", 4, `[p:children] includes undefined group "etdc" (did you mean "etcd"?): expected a [etdc] or [etdc:children] section for it (an empty [etdc] section makes an empty group)`},
		{"t.ini", "[a:children]\nb\n[b:children]\na\n", 4, `making "a" a child of "b" would create a loop: a > b > a; expected groups to form a tree without cycles`},
		{"t.ini", "[a:children]\nb\n[b:children]\nc\n[c:children]\na\n", 6, `making "a" a child of "c" would create a loop: a > b > c > a; ...`},
		{"t.ini", "[c:children]\na\n[a:children]\nb\n[b:children]\nc\n[b]\n", 6, `making "c" a child of "b" would create a loop: c > a > b > c; ...`},
		{"t.ini", "[p:children]\nc\n[c:children]\np\n", 4, `making "p" a child of "c" would create a loop: p > c > p; ...`},
		{"t.ini", "[a:children]\nx\n[b]\n[x:children]\nb\n[b:children]\nq\n[q:children]\nx\n[x]\n", 9, `making "x" a child of "q" would create a loop: x > b > q > x; ...`},
		{"t.ini", "[a:children]\na\n", 2, `group "a" cannot be a child of itself`},
		{"t.ini", "[a:children]\nall\n", 2, `group "all" cannot be a child of "a": every group is already inside "all"`},
		// Host lines.
		{"t.ini", "h x\n", 1, `expected key=value after host "h", found "x" (values with blanks need quotes: key="a b")`},
		{"t.ini", "h a=1 b c=2\n", 1, `expected key=value after host "h", found "b" ...`},
		{"t.ini", "h =1\n", 1, `expected key=value after host "h", found "=1" ...`},
		{"t.ini", "h a=\"x\n", 1, `host line "h a=\"x": no closing quotation: expected a " to end the quoted text`},
		{"t.ini", "h a='x\n", 1, `host line "h a='x": no closing quotation: expected a ' to end the quoted text`},
		{"t.ini", "h a=x\\\n", 1, `host line "h a=x\\": no character after the final backslash: expected an escaped character`},
		{"t.ini", "a\n---\n", 2, `found "---": expected INI host lines; this looks like YAML, so name the file .yaml or .yml`},
		{"t.ini", "h:\n", 1, `host "h:" ends in ":": expected a port number after it (host:22), or no colon`},
		{"t.ini", "h:70000\n", 1, `host "h:70000": port 70000 is out of range: expected 1 to 65535`},
		{"t.ini", "[fe80::1]\n", 1, `host "[fe80::1]": expected an IPv6 address without brackets (fe80::1) or in brackets with a port ([fe80::1]:22)`},
		{"t.ini", "[g]\nh\xff\n", 2, `invalid UTF-8: expected an inventory saved as UTF-8 text`},
		{"t.ini", "[g]\rh\r[g:var]\r", 3, `section [g:var] has unknown type ...`}, // old Mac line ends, as Python splits them
		// Host ranges.
		{"t.ini", "h[1:]\n", 1, `host "h[1:]": range [1:] has no end: expected [start:end] or [start:end:step] with numbers or single letters, start <= end and step >= 1`},
		{"t.ini", "h[3:1]\n", 1, `host "h[3:1]": range [3:1] ends before it starts: ...`},
		{"t.ini", "h[c:a]\n", 1, `host "h[c:a]": range [c:a] ends before it starts: ...`},
		{"t.ini", "h[1:2:0]\n", 1, `host "h[1:2:0]": range [1:2:0] has a bad step: ...`},
		{"t.ini", "h[1:2:x]\n", 1, `host "h[1:2:x]": range [1:2:x] has a bad step: ...`},
		{"t.ini", "h[01:100]\n", 1, `host "h[01:100]": range [01:100] is zero-padded but start and end differ in width: ...`},
		{"t.ini", "h[a:5]\n", 1, `host "h[a:5]": range [a:5] mixes letters and numbers or has other characters: ...`},
		{"t.ini", "h[ab:cd]\n", 1, `host "h[ab:cd]": range [ab:cd] mixes letters and numbers or has other characters: ...`},
		{"t.ini", "h[1:2:3:4]\n", 1, `host "h[1:2:3:4]": range [1:2:3:4] is not a range: ...`},
		{"t.ini", "h[x]\n", 1, `host "h[x]": range [x] is not a range: ...`},
		{"t.ini", "h[1\n", 1, `host "h[1": range has no closing "]": expected [start:end] or [start:end:step]`},
		{"t.ini", "h[0:999999]\n", 1, `host "h[0:999999]" expands to more than 100000 hosts: expected a smaller range`},
		{"t.ini", "h[0:999]-[0:999]\n", 1, `host "h[0:999]-[0:999]" expands to more than 100000 hosts: expected a smaller range`},
		{"t.ini", "h[99999999999999999999:99999999999999999999]\n", 1, `... has a number too large: ...`},
		// Values that cannot be used to connect, at the line that set them.
		{"t.ini", "[g]\nh\n[g:vars]\nansible_port=abc\n", 4, `ansible_port for host "h": expected a port number from 1 to 65535, found the string "abc"`},
		{"t.ini", "h port=0\n", 1, `port for host "h": expected a port number from 1 to 65535, found the number 0`},
		{"t.ini", "h ansible_ssh_port=True\n", 1, `ansible_ssh_port for host "h": expected a port number from 1 to 65535, found the boolean true`},
		{"t.ini", "h ansible_become=maybe\n", 1, `ansible_become for host "h": expected a boolean (true/false, yes/no, on/off, 1/0), found the string "maybe"`},
		{"t.ini", "h become=2\n", 1, `become for host "h": expected a boolean (true/false, yes/no, on/off, 1/0), found the number 2`},
		{"t.ini", "h ansible_host=\"'a b'\"\n", 1, `ansible_host for host "h": expected a host name or address, found "a b", which has blanks in it`},
		{"t.ini", "h ansible_user=''\n", 1, `ansible_user for host "h": expected a user name, found an empty string`},
		{"t.ini", "h ansible_user=[1]\n", 1, `ansible_user for host "h": expected a user name, found a list`},
		{"t.ini", "h private_key={}\n", 1, `private_key for host "h": expected a key file path, found a mapping`},
		{"t.ini", "[g]\n[g:vars]\nansible_group_priority=high\n", 3, `ansible_group_priority for group "g": expected an integer, found the string "high"`},

		// YAML syntax, at the first line that does not parse.
		{"t.yaml", "g:\n  hosts:\n\th:\n", 3, `invalid YAML: found character that cannot start any token`},
		{"t.yaml", "g:\n  vars: [1\n", 2, `invalid YAML: did not find expected ',' or ']'`},
		{"t.yaml", "g:\n  hosts:\n    a: b: c\n", 3, `invalid YAML: mapping values are not allowed in this context`},
		{"t.yaml", "a: 1\n b: 2\n", 2, `invalid YAML: mapping values are not allowed in this context`},
		{"t.yaml", "a:\r  hosts:\r\th:\r", 3, `invalid YAML: found character that cannot start any token`},
		{"t.yaml", "\r0:", 2, `group name 0 would be read as a YAML integer: ...`},
		{"t.yaml", "g: *nope\n", 1, `invalid YAML: unknown anchor 'nope' referenced`},
		{"t.yaml", "g:\n  hosts:\n    h:\n      x: \"\\xZZ\"\n", 4, `invalid YAML: did not find expected hexdecimal number`},
		{"t.yaml", "g:\n  hosts:\n    h:\n      x: 1\n\x01\n", 5, `invalid YAML: control characters are not allowed`},
		{"t.yaml", "g:\n  hosts:\n    h\xff:\n", 3, `invalid YAML: ...`},
		{"t.yaml", "g:\n---\nh:\n", 2, `found a second YAML document: expected one inventory document per file`},
		// YAML structure.
		{"t.yaml", "- g\n", 1, `expected a mapping of group names at the top (all:, then hosts:, vars:, children:), found a list`},
		{"t.yaml", "\n\nhello\n", 3, `expected a mapping of group names at the top (all:, then hosts:, vars:, children:), found the string "hello"`},
		{"t.yaml", "plugin: aws_ec2\n", 1, `found "plugin:", an inventory plugin configuration: expected a static inventory (etcdplay reads INI and YAML inventories, not inventory plugins)`},
		{"t.yaml", "~:\n", 1, `expected a group name, found nothing (null)`},
		{"t.yaml", "g: x\n", 1, `group "g": expected a mapping with hosts, vars or children, found the string "x"`},
		{"t.yaml", "g:\n  host:\n", 2, `group "g": unknown key "host": expected hosts, vars or children (did you mean "hosts"?)`},
		{"t.yaml", "g:\n  hosts: 5\n", 2, `host name 5 would be read as a YAML integer: expected a string, so put it in quotes ("5")`},
		{"t.yaml", "g:\n  hosts:\n    1.5:\n", 3, `host name 1.5 would be read as a YAML number: expected a string, so put it in quotes ("1.5")`},
		{"t.yaml", "g:\n  hosts: {a: 1}\n", 2, `host "a": expected a mapping of variables (or nothing), found the integer "1"`},
		{"t.yaml", "g:\n  hosts:\n    h: [1]\n", 3, `host "h": expected a mapping of variables (or nothing), found a list`},
		{"t.yaml", "g:\n  hosts:\n    h:\n    h:\n", 4, `key "h" is given twice in one mapping (first at line 3): expected each key once`},
		{"t.yaml", "g:\n  hosts:\n    h[3:1]:\n", 3, `host "h[3:1]": range [3:1] ends before it starts: ...`},
		{"t.yaml", "g:\n  vars: [1]\n", 2, `vars of group "g": expected a mapping of variable names to values, found a list`},
		{"t.yaml", "g:\n  vars: x\n", 2, `vars of group "g": expected a mapping of variable names to values, found the string "x"`},
		{"t.yaml", "g:\n  vars:\n    ? [a]\n    : 1\n", 3, `expected a variable name, found a list`},
		{"t.yaml", "g:\n  vars:\n    <<: 5\n", 3, `merge key <<: expected a mapping or a list of mappings, found the integer "5"`},
		{"t.yaml", "g:\n  vars:\n    ansible_group_priority: x\n", 3, `ansible_group_priority for group "g": expected an integer, found the string "x"`},
		{"t.yaml", "g:\n  children: 5\n", 2, `group name 5 would be read as a YAML integer: expected a string, so put it in quotes ("5")`},
		{"t.yaml", "g:\n  children:\n    all:\n", 3, `group "all" cannot be a child of "g": every group is already inside "all"`},
		{"t.yaml", "a:\n  children:\n    b:\n      children:\n        a:\n", 3, `making "b" a child of "a" would create a loop: b > a > b; expected groups to form a tree without cycles`},
		{"t.yaml", "g: &a\n  children:\n    x: *a\n", 1, `anchor &a contains an alias to itself: expected aliases to refer to finished nodes`},
		{"t.yaml", "g:\n  hosts:\n    h:\n      ansible_port: 99999\n", 4, `ansible_port for host "h": expected a port number from 1 to 65535, found the number 99999`},
		{"t.yaml", "g:\n  hosts:\n    h:\n      ansible_become: sometimes\n", 4, `ansible_become for host "h": expected a boolean ...`},
		{"t.yaml", "_meta: 5\n", 1, `_meta: expected a mapping with hostvars, found the integer "5"`},
		{"t.yaml", "_meta:\n  hostvars: [1]\n", 2, `_meta.hostvars: expected a mapping of host names to variables, found a list`},
		{"t.yaml", "g:\n  hosts:\n    h:\n      x: !!int x\n", 4, `"x": expected a value of type !!int`},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+strings.ReplaceAll(tt.src, "\n", `\n`), func(t *testing.T) {
			inv, err := Parse(tt.file, []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; hosts %q", names(inv.Hosts()))
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is a %T, want a *ParseError", err, err)
			}
			if pe.File != tt.file || pe.Line != tt.line {
				t.Errorf("at %s:%d, want %s:%d (%v)", pe.File, pe.Line, tt.file, tt.line, err)
			}
			if !matchMsg(pe.Msg, tt.msg) {
				t.Errorf("message\n  %s\nwant\n  %s", pe.Msg, tt.msg)
			}
			if want := pe.File + ":" + strconv.Itoa(pe.Line) + ": " + pe.Msg; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

// matchMsg compares a message with an expectation in which "..." stands
// for any text.
func matchMsg(msg, want string) bool {
	parts := strings.Split(want, "...")
	if len(parts) == 1 {
		return msg == want
	}
	if !strings.HasPrefix(msg, parts[0]) {
		return false
	}
	msg = msg[len(parts[0]):]
	for _, p := range parts[1:] {
		i := strings.Index(msg, p)
		if i < 0 {
			return false
		}
		msg = msg[i+len(p):]
	}
	return strings.HasSuffix(want, "...") || msg == ""
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()

	_, err := Load(filepath.Join(dir, "missing.ini"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 0 || pe.File != filepath.Join(dir, "missing.ini") {
		t.Errorf("missing file: %#v", err)
	} else if want := filepath.Join(dir, "missing.ini") + ": cannot read inventory: no such file or directory"; err.Error() != want {
		t.Errorf("missing file: %q, want %q", err, want)
	}

	script := filepath.Join(dir, "inv.py")
	if err := os.WriteFile(script, []byte("#!/usr/bin/env python3\nprint('{}')\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(script); err == nil || !strings.Contains(err.Error(), "inv.py:1: this is an executable inventory script") {
		t.Errorf("script: %v", err)
	}

	// An error in a file of a directory names that file.
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	write(t, sub, "a.ini", "[g]\nh\n")
	write(t, sub, "b.yaml", "g:\n  bad: 1\n")
	_, err = Load(sub)
	if !errors.As(err, &pe) || pe.File != filepath.Join(sub, "b.yaml") || pe.Line != 2 {
		t.Errorf("directory: %v", err)
	}
}
