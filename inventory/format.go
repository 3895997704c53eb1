package inventory

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FormatFloat writes f as Python's repr does, which is how Ansible shows
// a float (ansible-inventory's JSON and YAML, a {{ var }} in a template):
// always with a point or an exponent, so 3.0 stays a float and is not
// read back as the integer 3: 3.0, 1000.0, 0.1, 1e+16, 1.5e-05.
// Infinities and NaN are inf, -inf and nan, as str() writes them.
func FormatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	// Python switches to an exponent when the decimal exponent is below
	// -4 or reaches 16 (float_repr_style 'short').
	if abs := math.Abs(f); abs != 0 && (abs < 1e-4 || abs >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// YAMLNode is a variable's value as a YAML node that Ansible reads back as
// the same value: floats with their point (3.0) and .inf, -.inf, .nan;
// strings quoted where YAML 1.1 would read them as something else ("yes",
// "0755", "null"); mappings with their keys sorted, as ansible-inventory
// --yaml writes them. A Vaulted value is VaultedText.
func YAMLNode(v any) *yaml.Node {
	scalar := func(tag, value string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
	}
	switch v := v.(type) {
	case nil:
		return scalar("!!null", "null")
	case bool:
		return scalar("!!bool", strconv.FormatBool(v))
	case int:
		return scalar("!!int", strconv.Itoa(v))
	case int64:
		return scalar("!!int", strconv.FormatInt(v, 10))
	case float64:
		switch {
		case math.IsInf(v, 1):
			return scalar("!!float", ".inf")
		case math.IsInf(v, -1):
			return scalar("!!float", "-.inf")
		case math.IsNaN(v):
			return scalar("!!float", ".nan")
		}
		// YAML 1.1 reads 1e+16 as a string: PyYAML writes 1.0e+16.
		f := FormatFloat(v)
		if m, e, ok := strings.Cut(f, "e"); ok && !strings.Contains(m, ".") {
			f = m + ".0e" + e
		}
		return scalar("!!float", f)
	case Vaulted:
		return scalar("!!str", VaultedText)
	case string:
		n := scalar("!!str", v)
		if s, ok := yaml11Plain(v).(string); !ok || s != v {
			n.Style = yaml.SingleQuotedStyle
		}
		return n
	case []string:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, x := range v {
			n.Content = append(n.Content, YAMLNode(x))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, x := range v {
			n.Content = append(n.Content, YAMLNode(x))
		}
		return n
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.Content = append(n.Content, YAMLNode(k), YAMLNode(v[k]))
		}
		return n
	}
	return YAMLNode(fmt.Sprint(v))
}
