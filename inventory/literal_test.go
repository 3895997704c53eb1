package inventory

import (
	"math"
	"reflect"
	"testing"
)

// TestParseLiteral checks the Python literal reader against what
// ast.literal_eval gives (with lowercase true/false as the one addition).
func TestParseLiteral(t *testing.T) {
	tests := []struct {
		in   string
		want any
		ok   bool
	}{
		{"0", 0, true},
		{"000", 0, true},
		{"2379", 2379, true},
		{"-5", -5, true},
		{"+5", 5, true},
		{"- 5", -5, true},
		{"-(5)", -5, true},
		{"1_000", 1000, true},
		{"0x1f", 31, true},
		{"0X_1F", 31, true},
		{"0o17", 15, true},
		{"0b101", 5, true},
		{"1.5", 1.5, true},
		{"1.", 1.0, true},
		{".5", 0.5, true},
		{"1e3", 1000.0, true},
		{"1E-2", 0.01, true},
		{"01.5", 1.5, true},
		{"1_0.5_0", 10.5, true},
		{"1e400", math.Inf(1), true},
		{"-1e400", math.Inf(-1), true},
		{"1e-400", 0.0, true},
		{"  42", 42, true},
		{"42  ", 42, true},
		{"42 # a comment", 42, true},
		{"True", true, true},
		{"False", false, true},
		{"true", true, true},
		{"false", false, true},
		{"None", nil, true},
		{"'x'", "x", true},
		{`"x"`, "x", true},
		{`'a' "b"`, "ab", true},
		{`'it''s'`, "its", true},
		{`"it's"`, "it's", true},
		{`'''triple'''`, "triple", true},
		{`"""a"b"""`, `a"b`, true},
		{`'\n\t\\\'\"'`, "\n\t\\'\"", true},
		{`'\x41\101\u00e9\U0001F600'`, "AAé😀", true},
		{`'\d'`, `\d`, true},
		{`r'\d\n'`, `\d\n`, true},
		{`R"\""`, `\"`, true},
		{`u'x'`, "x", true},
		{`b'x\x41'`, "xA", true},
		{`rb'\x'`, `\x`, true},
		{"[]", []any{}, true},
		{"[1, 'a', None, True]", []any{1, "a", nil, true}, true},
		{"[1, [2, [3]],]", []any{1, []any{2, []any{3}}}, true},
		{"()", []any{}, true},
		{"(1,)", []any{1}, true},
		{"(1)", 1, true},
		{"((1, 2))", []any{1, 2}, true},
		{"{}", map[string]any{}, true},
		{"{'a': 1, 'b': {'c': [None]}}", map[string]any{"a": 1, "b": map[string]any{"c": []any{nil}}}, true},
		{"{'a': 1, 'a': 2}", map[string]any{"a": 2}, true},
		{"{1: 'x', True: 'y', None: 'z'}", map[string]any{"1": "x", "true": "y", "null": "z"}, true},
		{"{1, 2, 2}", []any{1, 2}, true},
		{"{1, 2,}", []any{1, 2}, true},
		{"...", "...", true},

		// Not literals: the caller keeps the text as a string.
		{"", nil, false},
		{"abc", nil, false},
		{"TRUE", nil, false},
		{"null", nil, false},
		{"0123", nil, false},
		{"1__0", nil, false},
		{"1_", nil, false},
		{"_1", nil, false},
		{"1_e5", nil, false},
		{"0x", nil, false},
		{"0b2", nil, false},
		{"12ab", nil, false},
		{"1j", nil, false},
		{"1+2j", nil, false},
		{"10-5", nil, false},
		{"--5", nil, false},
		{"-True", nil, false},
		{"-'x'", nil, false},
		{"1.2.3", nil, false},
		{"10.0.0.1", nil, false},
		{"3.6.16", nil, false},
		{"'unterminated", nil, false},
		{`'\x4'`, nil, false},
		{`'\N{DASH}'`, nil, false},
		{`f'x'`, nil, false},
		{`x'y'`, nil, false},
		{`'a' b'b'`, nil, false},
		{`b'é'`, nil, false},
		{"[1, 2", nil, false},
		{"[1 2]", nil, false},
		{"{'a' 1}", nil, false},
		{"{[1]: 2}", nil, false},
		{"{[1], 2}", nil, false},
		{"{'a': 1, 'b'}", nil, false},
		{"1 2", nil, false},
		{"set()", nil, false},
		{"99999999999999999999", nil, false},
		{"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", nil, false},
	}
	for _, tt := range tests {
		got, ok := parseLiteral(tt.in)
		if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("parseLiteral(%q) = %#v, %v; want %#v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if v := iniValue(tt.in); !ok && v != tt.in {
			t.Errorf("iniValue(%q) = %#v, want the string itself", tt.in, v)
		}
	}
}

func TestVarsValue(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"8080 # http", 8080},
		{"foo # bar", "foo"},
		{"foo\t# bar", "foo"},
		{"foo#bar", "foo#bar"},
		{"'a # b'", "a # b"},
		{"it's # x", "it's # x"}, // the quote is open: not a comment
		{"http://x/#frag", "http://x/#frag"},
		{"a b c", "a b c"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := varsValue(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("varsValue(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

// TestShlexSplit checks the host line splitter against Python's
// shlex.split(line, comments=True).
func TestShlexSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"a b  c", []string{"a", "b", "c"}, false},
		{"\ta\t", []string{"a"}, false},
		{"a=1 b='x y' c=\"p q\"", []string{"a=1", "b=x y", "c=p q"}, false},
		{`a"b c"d`, []string{"ab cd"}, false},
		{`a\ b`, []string{"a b"}, false},
		{`"a\"b\\c\d"`, []string{`a"b\c\d`}, false},
		{`'a\b'`, []string{`a\b`}, false},
		{`a='' b=""`, []string{"a=", "b="}, false},
		{`''`, []string{""}, false},
		{"a #c d", []string{"a"}, false},
		{"a#c d", []string{"a"}, false},
		{"#c", nil, false},
		{`a "#" b`, []string{"a", "#", "b"}, false},
		{`a \#b`, []string{"a", "#b"}, false},
		{`a 'x`, nil, true},
		{`a "x`, nil, true},
		{`a \`, nil, true},
		{`a "x\"`, nil, true},
	}
	for _, tt := range tests {
		got, err := shlexSplit(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("shlexSplit(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
		ok   bool
	}{
		{"etcd-1", "etcd-1", 0, true},
		{"etcd-1.example.com:2222", "etcd-1.example.com", 2222, true},
		{"10.0.0.1", "10.0.0.1", 0, true},
		{"10.0.0.1:22", "10.0.0.1", 22, true},
		{"2001:db8::1", "2001:db8::1", 0, true},
		{"::1", "::1", 0, true},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1", 0, true},
		{"[2001:db8::1]:2222", "2001:db8::1", 2222, true},
		{"[etcd-1]:22", "etcd-1", 22, true},
		{"etcd[1:3]", "etcd[1:3]", 0, true},
		{"etcd[1:3]:22", "etcd[1:3]", 22, true},
		{"db-[a:f]", "db-[a:f]", 0, true},
		{"10.0.0.[1:3]", "10.0.0.[1:3]", 0, true},
		{"héte", "héte", 0, true},
		{"under_score", "under_score", 0, true},
		{"a", "a", 0, true},
		{"etcd:!etcd-3", "", 0, false},
		{"a:b", "", 0, false},
		{"etcd-", "", 0, false},
		{"_a_", "", 0, false},
		{"etcd-*", "", 0, false},
		{"[2001:db8::1]", "", 0, false},
		{"", "", 0, false},
		{":22", "", 0, false},
	}
	for _, tt := range tests {
		host, port, ok := parseAddress(tt.in)
		if host != tt.host || port != tt.port || ok != tt.ok {
			t.Errorf("parseAddress(%q) = %q, %d, %v; want %q, %d, %v", tt.in, host, port, ok, tt.host, tt.port, tt.ok)
		}
	}
}

func TestExpandHostPattern(t *testing.T) {
	tests := []struct {
		in    string
		names []string
		port  int
	}{
		{"h", []string{"h"}, 0},
		{"h:22", []string{"h"}, 22},
		{"h[1:3]", []string{"h1", "h2", "h3"}, 0},
		{"h[08:11]", []string{"h08", "h09", "h10", "h11"}, 0},
		{"h[0:10:5]", []string{"h0", "h5", "h10"}, 0},
		{"h[1:1]", []string{"h1"}, 0},
		{"[1:2]h", []string{"1h", "2h"}, 0},
		{"h[a:e:2]", []string{"ha", "hc", "he"}, 0},
		{"h[1:2].x[a:b]:9", []string{"h1.xa", "h1.xb", "h2.xa", "h2.xb"}, 9},
		{"10.0.0.[1:2]", []string{"10.0.0.1", "10.0.0.2"}, 0},
		{"fe80::1", []string{"fe80::1"}, 0},
		{"[fe80::1]:22", []string{"fe80::1"}, 22},
		{"weird!name", []string{"weird!name"}, 0},
	}
	for _, tt := range tests {
		names, port, err := expandHostPattern(tt.in)
		if err != nil || !reflect.DeepEqual(names, tt.names) || port != tt.port {
			t.Errorf("expandHostPattern(%q) = %q, %d, %v; want %q, %d", tt.in, names, port, err, tt.names, tt.port)
		}
	}
}

func TestShlexBlanks(t *testing.T) {
	// A no-break space is not a blank to shlex: it stays in the word, on
	// the fast path as on the slow one.
	for _, in := range []string{"a\u00a0b c", "a\u00a0b 'c'"} {
		got, err := shlexSplit(in)
		if err != nil || len(got) != 2 || got[0] != "a\u00a0b" || got[1] != "c" {
			t.Errorf("shlexSplit(%q) = %q, %v", in, got, err)
		}
	}
}

func TestSplitLines(t *testing.T) {
	// As Python's "...".splitlines().
	for in, want := range map[string][]string{
		"":                  nil,
		"a":                 {"a"},
		"a\n":               {"a"},
		"a\nb":              {"a", "b"},
		"a\r\nb\rc\n\nd":    {"a", "b", "c", "", "d"},
		"a\vb\fc\x1cd":      {"a", "b", "c", "d"},
		"a\u0085b\u2028c":   {"a", "b", "c"},
		"a\u2029\u00e9\xff": {"a", "\u00e9\xff"},
	} {
		if got := splitLines(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitLines(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]int{"": 0, "a": 1, "a\n": 1, "a\rb\r\nc\u2028d": 4, "a\vb": 1} {
		if got := len(yamlLines([]byte(in))); got != want {
			t.Errorf("yamlLines(%q) has %d lines, want %d", in, got, want)
		}
	}
}
