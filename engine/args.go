package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.starlark.net/starlark"
	"gopkg.in/yaml.v3"

	"github.com/etcdplay/etcdplay/inventory"
	"github.com/etcdplay/etcdplay/inventory/suggest"
)

// Duration is a module argument for a length of time: a string such as
// "30s" or "1m30s", or a number of seconds.
type Duration time.Duration

// Unpack implements starlark.Unpacker.
func (d *Duration) Unpack(v starlark.Value) error {
	x, err := parseDuration(v)
	*d = Duration(x)
	return err
}

func parseDuration(v starlark.Value) (time.Duration, error) {
	switch v := v.(type) {
	case starlark.String:
		s := strings.TrimSpace(string(v))
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			return seconds(n)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("got %q, want a duration such as \"30s\" or \"2m\"", s)
		}
		if d < 0 {
			return 0, fmt.Errorf("got %q, want a duration of zero or more", s)
		}
		return d, nil
	case starlark.Int:
		n, ok := v.Int64()
		if !ok {
			return 0, fmt.Errorf("got %s seconds: too long", v)
		}
		return seconds(float64(n))
	case starlark.Float:
		return seconds(float64(v))
	}
	return 0, fmt.Errorf("got %s, want a duration such as \"30s\" or a number of seconds", v.Type())
}

func seconds(n float64) (time.Duration, error) {
	if n < 0 || math.IsNaN(n) || n > float64(math.MaxInt64/int64(time.Second)) {
		return 0, fmt.Errorf("got %v seconds, want zero or more", n)
	}
	return time.Duration(n * float64(time.Second)), nil
}

// FileMode is a module argument for permission bits: an int (0o644) or an
// octal string ("0644", "644").
type FileMode struct {
	Mode os.FileMode
	Set  bool
}

// Unpack implements starlark.Unpacker.
func (m *FileMode) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		*m = FileMode{}
		return nil
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 0 || n > 0o7777 {
			return fmt.Errorf("got %s, want permission bits such as 0o644", v)
		}
		*m = FileMode{Mode: os.FileMode(n), Set: true}
		return nil
	case starlark.String:
		n, err := strconv.ParseUint(strings.TrimPrefix(string(v), "0o"), 8, 32)
		if err != nil || n > 0o7777 {
			return fmt.Errorf("got %q, want octal permission bits such as \"0644\"", string(v))
		}
		*m = FileMode{Mode: os.FileMode(n), Set: true}
		return nil
	}
	return fmt.Errorf("got %s, want permission bits such as \"0644\" or 0o644", v.Type())
}

// String formats the mode as four octal digits.
func (m FileMode) String() string { return fmt.Sprintf("%04o", uint32(m.Mode)) }

// StringList is a module argument for a list of strings; a single string
// is a list of one.
type StringList []string

// Unpack implements starlark.Unpacker.
func (l *StringList) Unpack(v starlark.Value) error {
	if s, ok := v.(starlark.String); ok {
		*l = StringList{string(s)}
		return nil
	}
	it, ok := v.(starlark.Iterable)
	if !ok {
		return fmt.Errorf("got %s, want a list of strings", v.Type())
	}
	var out StringList
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		s, ok := starlark.AsString(x)
		if !ok {
			return fmt.Errorf("got a %s in the list, want strings", x.Type())
		}
		out = append(out, s)
	}
	*l = out
	return nil
}

// Argv is a module argument for a command: a list of words, or a string
// split into words as a POSIX shell would (quotes and backslashes, no
// expansion of variables or globs).
type Argv []string

// Unpack implements starlark.Unpacker.
func (a *Argv) Unpack(v starlark.Value) error {
	if s, ok := v.(starlark.String); ok {
		words, err := SplitWords(string(s))
		if err != nil {
			return err
		}
		if len(words) == 0 {
			return fmt.Errorf("got an empty command")
		}
		*a = words
		return nil
	}
	var l StringList
	if err := l.Unpack(v); err != nil {
		return fmt.Errorf("got %s, want a command string or a list of words", v.Type())
	}
	if len(l) == 0 {
		return fmt.Errorf("got an empty command")
	}
	*a = Argv(l)
	return nil
}

// SplitWords splits s into words as a POSIX shell does, honouring single
// and double quotes and backslashes, without any expansion.
func SplitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
			in = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" quote in %q", s)
			}
			in = true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// ParseModuleArgs turns ad-hoc "key=value" strings (etcdplay exec -m MODULE
// -a key=value ...) into keyword arguments for the module, converting each
// value to what the parameter takes: a boolean as Ansible reads one
// (yes/no, true/false, on/off, 1/0, y/n, t/f, in any case), a number
// for an int, JSON for a list or dict, and the string itself otherwise. It
// accepts the common arguments (timeout=, retries=, become=, ...) too.
func ParseModuleArgs(info ModuleInfo, kvs []string) ([]starlark.Tuple, error) {
	var kwargs []starlark.Tuple
	seen := map[string]bool{}
	for _, kv := range kvs {
		key, val, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("-a %q: want key=value", kv)
		}
		if !isIdent(key) {
			return nil, fmt.Errorf("-a %q: %q is not an argument name", kv, key)
		}
		if seen[key] {
			return nil, fmt.Errorf("-a %s given twice", key)
		}
		seen[key] = true
		var t reflect.Type
		if p, ok := info.Param(key); ok {
			t = p.Type
		} else if ct, ok := commonTypes[key]; ok && key != "until" && key != "hosts" {
			t = ct
		} else {
			return nil, fmt.Errorf("-a %s: %s has no argument %s%s", key, info.Name, key, suggest.Hint(key, argNames(info)))
		}
		v, err := argValue(t, val)
		if err != nil {
			return nil, fmt.Errorf("-a %s: %v", key, err)
		}
		kwargs = append(kwargs, starlark.Tuple{starlark.String(key), v})
	}
	return kwargs, nil
}

var (
	stringType   = reflect.TypeFor[string]()
	valueType    = reflect.TypeFor[starlark.Value]()
	unpackerType = reflect.TypeFor[starlark.Unpacker]()
)

func argValue(t reflect.Type, s string) (starlark.Value, error) {
	switch {
	case t == stringType:
		return starlark.String(s), nil
	case reflect.PointerTo(t).Implements(unpackerType):
		// Duration, FileMode, Argv, StringList: they parse strings; a JSON
		// list is a list.
		if strings.HasPrefix(strings.TrimSpace(s), "[") {
			return jsonValue(s)
		}
		return starlark.String(s), nil
	case t.Kind() == reflect.Bool:
		return ansibleBool(starlark.String(s))
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("got %q, want a whole number", s)
		}
		return starlark.MakeInt64(n), nil
	case t.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("got %q, want a number", s)
		}
		return starlark.Float(f), nil
	}
	// Starlark values, lists and dicts: JSON when it looks like JSON, else
	// the string.
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") || strings.HasPrefix(t, `"`) {
		return jsonValue(s)
	}
	return starlark.String(s), nil
}

func jsonValue(s string) (starlark.Value, error) {
	var x any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return nil, fmt.Errorf("%q is not valid JSON: %v", s, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%q: more than one JSON value", s)
	}
	return ToStarlark(numbers(x))
}

// numbers turns json.Numbers into ints where they are whole.
func numbers(x any) any {
	switch x := x.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return x
}

func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) {
			return false
		}
	}
	return s != "" && !keywords[s]
}

// keywords are Starlark's reserved words, which cannot name an argument.
var keywords = map[string]bool{
	"and": true, "break": true, "continue": true, "def": true, "elif": true, "else": true,
	"for": true, "if": true, "in": true, "lambda": true, "load": true, "not": true,
	"or": true, "pass": true, "return": true, "while": true,
	"as": true, "assert": true, "async": true, "await": true, "class": true, "del": true,
	"except": true, "finally": true, "from": true, "global": true, "import": true,
	"is": true, "nonlocal": true, "raise": true, "try": true, "with": true, "yield": true,
}

func argNames(info ModuleInfo) []string {
	var ns []string
	for _, p := range info.Params {
		ns = append(ns, p.Name)
	}
	for n := range commonTypes {
		ns = append(ns, n)
	}
	return ns
}

// ParseVars reads extra vars (-e): "key=value" sets a string, "@file" reads
// a YAML or JSON mapping from file, and an argument starting with "{" is an
// inline YAML or JSON mapping. Later arguments override earlier ones.
func ParseVars(args []string) (map[string]any, error) {
	vars := map[string]any{}
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "@"):
			b, err := os.ReadFile(a[1:])
			if err != nil {
				return nil, fmt.Errorf("-e %s: %w", a, err)
			}
			if err := mergeYAML(vars, b); err != nil {
				return nil, fmt.Errorf("-e %s: %v", a, err)
			}
		case strings.HasPrefix(strings.TrimSpace(a), "{"):
			if err := mergeYAML(vars, []byte(a)); err != nil {
				return nil, fmt.Errorf("-e %q: %v", a, err)
			}
		default:
			k, v, ok := strings.Cut(a, "=")
			if !ok || !isIdent(k) {
				return nil, fmt.Errorf("-e %q: want key=value, @file.yaml or a {...} mapping", a)
			}
			vars[k] = v
		}
	}
	return vars, nil
}

func mergeYAML(vars map[string]any, b []byte) error {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("want a YAML or JSON mapping of names to values: %v", err)
	}
	for k, v := range m {
		if !isIdent(k) {
			return fmt.Errorf("%q is not a variable name", k)
		}
		vars[k] = v
	}
	return nil
}

// ansibleBool reads v as a boolean argument: True or False, or a string
// or number Ansible reads as one (inventory.Bool: yes/no, true/false,
// on/off, 1/0, y/n, t/f, in any case), as -a, -e and inventory variables
// give them. Other values are returned as they are, for the unpacker to
// refuse.
func ansibleBool(v starlark.Value) (starlark.Value, error) {
	switch v.(type) {
	case starlark.String, starlark.Int, starlark.Float:
	default:
		return v, nil
	}
	b, err := truthOf(v)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(b), nil
}

// truthOf reads v as a boolean with inventory.Bool's rule (Ansible's): a
// bool, 1 or 0, or a truthy word. It is the one rule of ansibleBool and
// the truthy builtin.
func truthOf(v starlark.Value) (bool, error) {
	var x any
	switch v := v.(type) {
	case starlark.Bool:
		x = bool(v)
	case starlark.String:
		x = string(v)
	case starlark.Int:
		if n, ok := v.Int64(); ok {
			x = int(n)
		}
	case starlark.Float:
		x = float64(v)
	}
	if b, ok := inventory.Bool(x); ok {
		return b, nil
	}
	return false, fmt.Errorf("got %s, want a boolean: True or False (or yes/no, true/false, on/off, 1/0)", v.String())
}

// boolArgs returns args and kwargs with the values given to bool
// parameters read by ansibleBool, so that a playbook may pass a bool
// parameter an inventory variable or an extra var ("yes", 1) as it is.
// pairs is what a module's Args returns; the slices given are not
// changed.
func boolArgs(pairs []any, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Tuple, []starlark.Tuple, error) {
	isBool := map[string]bool{}
	var positional []bool
	for i := 0; i+1 < len(pairs); i += 2 {
		name, _ := pairs[i].(string)
		_, b := pairs[i+1].(*bool)
		name = strings.TrimRight(name, "?")
		isBool[name] = b
		positional = append(positional, b)
	}
	convert := func(name string, v starlark.Value) (starlark.Value, error) {
		x, err := ansibleBool(v)
		if err != nil {
			return nil, fmt.Errorf("for parameter %s: %v", name, err)
		}
		return x, nil
	}
	var outArgs starlark.Tuple
	for i, v := range args {
		if i >= len(positional) || !positional[i] {
			continue
		}
		if outArgs == nil {
			outArgs = append(starlark.Tuple(nil), args...)
		}
		name, _ := pairs[2*i].(string)
		x, err := convert(strings.TrimRight(name, "?"), v)
		if err != nil {
			return nil, nil, err
		}
		outArgs[i] = x
	}
	if outArgs == nil {
		outArgs = args
	}
	var outKw []starlark.Tuple
	for i, kv := range kwargs {
		name, _ := starlark.AsString(kv[0])
		if !isBool[name] {
			continue
		}
		if outKw == nil {
			outKw = append([]starlark.Tuple(nil), kwargs...)
		}
		x, err := convert(name, kv[1])
		if err != nil {
			return nil, nil, err
		}
		outKw[i] = starlark.Tuple{kv[0], x}
	}
	if outKw == nil {
		outKw = kwargs
	}
	return outArgs, outKw, nil
}
