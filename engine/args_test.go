package engine

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
)

type argsProbe struct {
	Name    string
	Count   int
	On      bool
	Ratio   float64
	Mode    FileMode
	Wait    Duration
	Cmd     Argv
	Values  starlark.Value
	Targets StringList
}

var argsProbeModule = &HostModule[argsProbe]{
	Name: "probe_args",
	Args: func(a *argsProbe) []any {
		return []any{"name", &a.Name, "count?", &a.Count, "on?", &a.On, "ratio?", &a.Ratio, "mode?", &a.Mode,
			"wait?", &a.Wait, "cmd?", &a.Cmd, "values?", &a.Values, "targets?", &a.Targets}
	},
}

func TestParseModuleArgs(t *testing.T) {
	info := argsProbeModule.Info()
	kw, err := ParseModuleArgs(info, []string{
		"name=a=b c", "count=0x10", "on=yes", "ratio=0.5", "mode=0640", "wait=1m", `cmd=echo "a b"`,
		`values={"x": [1, 2.5, "y"]}`, "targets=[\"h1\",\"h2\"]", "retries=3", "become=true",
	})
	if err != nil {
		t.Fatal(err)
	}
	var a *argsProbe
	a, err = unpack(info.Name, argsProbeModule.Args, nil, nil, dropCommon(kw))
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "a=b c" || a.Count != 16 || !a.On || a.Ratio != 0.5 || a.Mode.Mode != 0o640 || time.Duration(a.Wait) != time.Minute {
		t.Errorf("unpacked %+v", a)
	}
	if !reflect.DeepEqual([]string(a.Cmd), []string{"echo", "a b"}) || !reflect.DeepEqual([]string(a.Targets), []string{"h1", "h2"}) {
		t.Errorf("lists: %q %q", a.Cmd, a.Targets)
	}
	if got := a.Values.String(); got != `{"x": [1, 2.5, "y"]}` {
		t.Errorf("values = %s", got)
	}
	for _, tc := range []struct{ arg, err string }{
		{"name", `want key=value`},
		{"=x", `want key=value`},
		{"nmae=x", `probe_args has no argument nmae (did you mean name?)`},
		{"count=many", `want a whole number`},
		{"on=perhaps", `got "perhaps", want a boolean: True or False (or yes/no, true/false, on/off, 1/0)`},
		{"on=", `got "", want a boolean`},
		{"become=maybe", `got "maybe", want a boolean`},
		{"values={", `not valid JSON`},
		{"until=x", `has no argument until`},
		{"for=1", `not an argument name`},
	} {
		_, err := ParseModuleArgs(info, []string{tc.arg})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseModuleArgs(%q) = %v, want %q", tc.arg, err, tc.err)
		}
	}
	if _, err := ParseModuleArgs(info, []string{"name=a", "name=b"}); err == nil {
		t.Error("a key given twice is accepted")
	}
}

// TestBooleansAsAnsibleReadsThem: a bool parameter takes Ansible's
// truthy words, from -a and from Starlark strings (an inventory variable
// or an extra var passed as it is), with inventory.Bool's rule.
func TestBooleansAsAnsibleReadsThem(t *testing.T) {
	info := argsProbeModule.Info()
	for word, want := range map[string]bool{
		"yes": true, "YES": true, "Yes": true, "y": true, "true": true, "True": true, "t": true, "on": true, "ON": true, "1": true,
		"no": false, "NO": false, "n": false, "false": false, "FALSE": false, "f": false, "off": false, "Off": false, "0": false,
	} {
		kw, err := ParseModuleArgs(info, []string{"name=x", "on=" + word})
		if err != nil {
			t.Errorf("-a on=%s: %v", word, err)
			continue
		}
		a, err := unpack(info.Name, argsProbeModule.Args, nil, nil, kw)
		if err != nil || a.On != want {
			t.Errorf("-a on=%s: On = %v, %v; want %v", word, a != nil && a.On, err, want)
		}
		// The same word as a Starlark string, by keyword and by position.
		a, err = unpack(info.Name, argsProbeModule.Args, nil, nil,
			[]starlark.Tuple{{starlark.String("name"), starlark.String("x")}, {starlark.String("on"), starlark.String(word)}})
		if err != nil || a.On != want {
			t.Errorf("on=%q: On = %v, %v; want %v", word, a != nil && a.On, err, want)
		}
		a, err = unpack(info.Name, argsProbeModule.Args, nil, starlark.Tuple{starlark.String("x"), starlark.MakeInt(1), starlark.String(word)}, nil)
		if err != nil || a.On != want {
			t.Errorf("positional %q: On = %v, %v; want %v", word, a != nil && a.On, err, want)
		}
	}
	// A string that is no boolean is refused naming the parameter; a
	// string for a string parameter stays a string.
	_, err := unpack(info.Name, argsProbeModule.Args, nil, nil,
		[]starlark.Tuple{{starlark.String("name"), starlark.String("yes")}, {starlark.String("on"), starlark.String("perhaps")}})
	if err == nil || !strings.Contains(err.Error(), `for parameter on: got "perhaps", want a boolean`) {
		t.Errorf("on=\"perhaps\": %v", err)
	}
	a, err := unpack(info.Name, argsProbeModule.Args, nil, nil, []starlark.Tuple{{starlark.String("name"), starlark.String("yes")}})
	if err != nil || a.Name != "yes" {
		t.Errorf("name=\"yes\": %+v, %v", a, err)
	}
	// So are 1 and 0, as a YAML inventory gives them (etcd_direct: 1).
	for n, want := range map[int]bool{1: true, 0: false} {
		a, err := unpack(info.Name, argsProbeModule.Args, nil, nil,
			[]starlark.Tuple{{starlark.String("name"), starlark.String("x")}, {starlark.String("on"), starlark.MakeInt(n)}})
		if err != nil || a.On != want {
			t.Errorf("on=%d: On = %v, %v; want %v", n, a != nil && a.On, err, want)
		}
	}
	if _, err := unpack(info.Name, argsProbeModule.Args, nil, nil,
		[]starlark.Tuple{{starlark.String("name"), starlark.String("x")}, {starlark.String("on"), starlark.MakeInt(2)}}); err == nil ||
		!strings.Contains(err.Error(), "for parameter on: got 2, want a boolean") {
		t.Errorf("on=2: %v", err)
	}
	// The common arguments read booleans the same way.
	for word, want := range map[string]bool{"yes": true, "off": false, "True": true} {
		o, _, err := parseOptions(info, []starlark.Tuple{{starlark.String("ignore_errors"), starlark.String(word)}})
		if err != nil || o.ignoreErrors != want {
			t.Errorf("ignore_errors=%q: %v, %v; want %v", word, o != nil && o.ignoreErrors, err, want)
		}
	}
	if _, _, err := parseOptions(info, []starlark.Tuple{{starlark.String("become"), starlark.String("sometimes")}}); err == nil ||
		!strings.Contains(err.Error(), `become: got "sometimes", want a boolean`) {
		t.Errorf("become=\"sometimes\": %v", err)
	}
}

// TestExtraVarBooleans: -e force=yes is the string "yes" in ctx.vars,
// as in Ansible, and a bool parameter given it reads true.
func TestExtraVarBooleans(t *testing.T) {
	vars, err := ParseVars([]string{"force=yes", "learner=OFF"})
	if err != nil {
		t.Fatal(err)
	}
	info := argsProbeModule.Info()
	for k, want := range map[string]bool{"force": true, "learner": false} {
		v, err := ToStarlark(vars[k])
		if err != nil {
			t.Fatal(err)
		}
		a, err := unpack(info.Name, argsProbeModule.Args, nil, nil, []starlark.Tuple{{starlark.String("name"), starlark.String("x")}, {starlark.String("on"), v}})
		if err != nil || a.On != want {
			t.Errorf("-e %s=%v to a bool parameter: %v, %v; want %v", k, vars[k], a != nil && a.On, err, want)
		}
	}
}

func dropCommon(kw []starlark.Tuple) []starlark.Tuple {
	var out []starlark.Tuple
	for _, kv := range kw {
		if _, common := commonTypes[string(kv[0].(starlark.String))]; !common {
			out = append(out, kv)
		}
	}
	return out
}

// FuzzParseModuleArgs feeds arbitrary -a strings: parsing never panics,
// what it accepts names a real argument, and the module either unpacks the
// result or says why not.
func FuzzParseModuleArgs(f *testing.F) {
	for _, s := range []string{"name=x", "count=3\non=true", "values={\"a\":1}", "mode=0755\nwait=2s", "cmd='a b' c", "targets=[1]", "=", "x", "name=\x00"} {
		f.Add(s)
	}
	info := argsProbeModule.Info()
	f.Fuzz(func(t *testing.T, s string) {
		kvs := strings.Split(s, "\n")
		kw, err := ParseModuleArgs(info, kvs)
		if err != nil {
			return
		}
		if len(kw) != len(kvs) {
			t.Fatalf("%d arguments from %d -a", len(kw), len(kvs))
		}
		for _, kv := range kw {
			name := string(kv[0].(starlark.String))
			if _, ok := info.Param(name); !ok {
				if _, ok := commonTypes[name]; !ok {
					t.Fatalf("accepted unknown argument %q", name)
				}
			}
		}
		unpack(info.Name, argsProbeModule.Args, nil, nil, dropCommon(kw))
		parseOptions(info, kw)
	})
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:            {"a", "b", "c"},
		`'a b' "c d" e\ f`:  {"a b", "c d", "e f"},
		`"a \"q\" \$x" 'y'`: {`a "q" $x`, "y"},
		`''`:                {""},
		``:                  nil,
	} {
		got, err := SplitWords(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SplitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`'open`, `"open`} {
		if _, err := SplitWords(in); err == nil {
			t.Errorf("SplitWords(%q): no error", in)
		}
	}
}

func TestParseVars(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/vars.yaml"
	writeFile(t, file, "old: etcd-2\nports: [2379, 2380]\n")
	vars, err := ParseVars([]string{"old=etcd-1", "@" + file, "new=etcd-4", `{"flag": true}`})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"old": "etcd-2", "new": "etcd-4", "ports": []any{2379, 2380}, "flag": true}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("vars = %#v, want %#v", vars, want)
	}
	for _, bad := range []string{"novalue", "@/nonexistent.yaml", "{not yaml", "1x=2"} {
		if _, err := ParseVars([]string{bad}); err == nil {
			t.Errorf("ParseVars(%q): no error", bad)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
