package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlReader reads Ansible's YAML inventory format (also JSON, which is
// YAML): top-level keys are groups, each a mapping with hosts, vars and
// children; children are groups again. It also takes the shape that
// ansible-inventory --list and inventory scripts print: hosts and children
// as lists of names, and host variables under _meta.hostvars.
type yamlReader struct {
	b    *builder
	file string
	// budget bounds the nodes visited, so that aliases cannot make a small
	// file expand into an enormous inventory.
	budget int
	// expanding holds the anchors being expanded, to refuse an alias that
	// contains itself.
	expanding map[*yaml.Node]bool
	warn      func(string)
}

const yamlBudget = 2_000_000

func parseYAML(b *builder, file string, data []byte, warn func(string)) error {
	root, err := decodeYAML(file, data)
	if err != nil {
		return err
	}
	if root == nil {
		return nil // empty, or only comments
	}
	y := &yamlReader{b: b, file: file, budget: yamlBudget, expanding: map[*yaml.Node]bool{}, warn: warn}
	return y.top(root)
}

// decodeYAML parses one YAML document and returns its root node (nil when
// the document is empty). A syntax error becomes a ParseError at the
// first line where the text stops being valid YAML.
func decodeYAML(file string, data []byte) (root *yaml.Node, err error) {
	docs, err := yamlDocuments(data)
	if err != nil {
		line := firstBadYAMLLine(data)
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLinePrefix.FindStringSubmatch(msg); m != nil {
			msg = msg[len(m[0]):]
		}
		return nil, &ParseError{File: file, Line: line, Msg: "invalid YAML: " + msg}
	}
	if len(docs) == 0 {
		return nil, nil
	}
	if len(docs) > 1 {
		return nil, pos{file, docs[1].Line}.errorf("found a second YAML document: expected one inventory document per file")
	}
	doc := docs[0]
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root = doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil
	}
	return root, nil
}

var yamlLinePrefix = regexp.MustCompile(`^line [0-9]+: `)

// yamlDocuments parses every document in data. yaml.v3 has panicked on
// some malformed input in the past; a panic is reported as a syntax error
// rather than taking the program down.
func yamlDocuments(data []byte) (docs []*yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			docs, err = nil, fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

// firstBadYAMLLine finds the first line at which data stops parsing (as
// YAML counts lines, so as its node positions do), by
// bisecting on prefixes: yaml.v3's own line numbers are sometimes off by
// one and sometimes missing.
func firstBadYAMLLine(data []byte) int {
	lines := yamlLines(data)
	ok := func(k int) bool {
		_, err := yamlDocuments(bytes.Join(lines[:k], nil))
		return err == nil
	}
	lo, hi := 0, len(lines)
	if ok(hi) {
		return len(lines)
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

func (y *yamlReader) at(n *yaml.Node) pos { return pos{y.file, n.Line} }

// deref follows an alias to its anchor.
func (y *yamlReader) deref(n *yaml.Node) (*yaml.Node, error) {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil, y.at(n).errorf("alias *%s has no anchor", n.Value)
		}
		n = n.Alias
	}
	y.budget--
	if y.budget < 0 {
		return nil, y.at(n).errorf("aliases expand this file past %d nodes: expected an inventory without alias bombs", yamlBudget)
	}
	return n, nil
}

// enter marks an anchored node as being expanded; it fails if it already
// is, which means an alias inside an anchor refers to that anchor.
func (y *yamlReader) enter(n *yaml.Node) (leave func(), err error) {
	if n.Anchor == "" {
		return func() {}, nil
	}
	if y.expanding[n] {
		return nil, y.at(n).errorf("anchor &%s contains an alias to itself: expected aliases to refer to finished nodes", n.Anchor)
	}
	y.expanding[n] = true
	return func() { delete(y.expanding, n) }, nil
}

type yamlPair struct{ key, val *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys (<<: *x) applied:
// explicit keys win over merged ones, earlier merges over later ones. A
// key given twice is an error (PyYAML keeps the last one and loses the
// first silently).
func (y *yamlReader) pairs(m *yaml.Node) ([]yamlPair, error) {
	var explicit, merged []yamlPair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" && k.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 {
			more, err := y.mergeSources(v)
			if err != nil {
				return nil, err
			}
			merged = append(merged, more...)
			continue
		}
		if k.Kind == yaml.ScalarNode {
			if first := seen[k.Value]; first != nil {
				return nil, y.at(k).errorf("key %s is given twice in one mapping (first at line %d): expected each key once", quote(k.Value), first.Line)
			}
			seen[k.Value] = k
		}
		explicit = append(explicit, yamlPair{k, v})
	}
	for _, p := range merged {
		if p.key.Kind == yaml.ScalarNode {
			if seen[p.key.Value] != nil {
				continue
			}
			seen[p.key.Value] = p.key
		}
		explicit = append(explicit, p)
	}
	return explicit, nil
}

func (y *yamlReader) mergeSources(v *yaml.Node) ([]yamlPair, error) {
	v, err := y.deref(v)
	if err != nil {
		return nil, err
	}
	switch v.Kind {
	case yaml.MappingNode:
		leave, err := y.enter(v)
		if err != nil {
			return nil, err
		}
		defer leave()
		return y.pairs(v)
	case yaml.SequenceNode:
		var out []yamlPair
		for _, item := range v.Content {
			item, err := y.deref(item)
			if err != nil {
				return nil, err
			}
			if item.Kind != yaml.MappingNode {
				return nil, y.at(item).errorf("merge key <<: expected a mapping or a list of mappings, found %s", kindOf(item))
			}
			more, err := y.mergeSources(item)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		}
		return out, nil
	}
	return nil, y.at(v).errorf("merge key <<: expected a mapping or a list of mappings, found %s", kindOf(v))
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing (null)"
		}
		return "the " + yamlTypeName(n.ShortTag()) + " " + quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a YAML document"
}

func yamlTypeName(tag string) string {
	switch tag {
	case "!!str":
		return "string"
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	}
	return "value"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// name reads a mapping key that names a group or host.
func (y *yamlReader) name(k *yaml.Node, what string) (string, error) {
	if k.Kind != yaml.ScalarNode || isNull(k) || k.Value == "" {
		return "", y.at(k).errorf("expected a %s name, found %s", what, kindOf(k))
	}
	if k.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 {
		switch k.ShortTag() {
		case "!!int", "!!float", "!!bool":
			return "", y.at(k).errorf("%s name %s would be read as a YAML %s: expected a string, so put it in quotes (%q)",
				what, k.Value, yamlTypeName(k.ShortTag()), k.Value)
		}
	}
	return k.Value, nil
}

func (y *yamlReader) top(root *yaml.Node) error {
	root, err := y.deref(root)
	if err != nil {
		return err
	}
	if root.Kind != yaml.MappingNode {
		return y.at(root).errorf("expected a mapping of group names at the top (all:, then hosts:, vars:, children:), found %s", kindOf(root))
	}
	pairs, err := y.pairs(root)
	if err != nil {
		return err
	}
	var meta *yamlPair
	for i, p := range pairs {
		if p.key.Kind == yaml.ScalarNode && p.key.Value == "plugin" && !isNull(p.val) {
			return y.at(p.key).errorf("found \"plugin:\", an inventory plugin configuration: expected a static inventory (etcdplay reads INI and YAML inventories, not inventory plugins)")
		}
		if p.key.Kind == yaml.ScalarNode && p.key.Value == "_meta" {
			meta = &pairs[i]
			continue
		}
		name, err := y.name(p.key, "group")
		if err != nil {
			return err
		}
		if _, err := y.group(name, p.key, p.val); err != nil {
			return err
		}
	}
	if meta != nil {
		return y.meta(meta.val)
	}
	return nil
}

// meta reads _meta.hostvars of the ansible-inventory --list shape.
func (y *yamlReader) meta(n *yaml.Node) error {
	n, err := y.deref(n)
	if err != nil || isNull(n) {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return y.at(n).errorf("_meta: expected a mapping with hostvars, found %s", kindOf(n))
	}
	pairs, err := y.pairs(n)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if p.key.Value != "hostvars" {
			continue // "profile" and the like say nothing about hosts
		}
		hv, err := y.deref(p.val)
		if err != nil {
			return err
		}
		if isNull(hv) {
			continue
		}
		if hv.Kind != yaml.MappingNode {
			return y.at(hv).errorf("_meta.hostvars: expected a mapping of host names to variables, found %s", kindOf(hv))
		}
		hosts, err := y.pairs(hv)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			name, err := y.name(h.key, "host")
			if err != nil {
				return err
			}
			host := y.b.host(name, 0, y.at(h.key))
			if err := y.hostVars(host, h.val); err != nil {
				return err
			}
		}
	}
	return nil
}

// group reads one group's body, as Ansible's _parse_group does.
func (y *yamlReader) group(name string, key, body *yaml.Node) (*groupDef, error) {
	g := y.b.group(name, y.at(key))
	g.declared = true
	body, err := y.deref(body)
	if err != nil {
		return nil, err
	}
	leave, err := y.enter(body)
	if err != nil {
		return nil, err
	}
	defer leave()
	switch {
	case isNull(body):
		return g, nil
	case body.Kind == yaml.SequenceNode:
		// The inventory-script shape: "group": ["host1", "host2"].
		return g, y.hostList(g, body)
	case body.Kind != yaml.MappingNode:
		return nil, y.at(body).errorf("group %q: expected a mapping with hosts, vars or children, found %s", name, kindOf(body))
	}
	pairs, err := y.pairs(body)
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		section := ""
		if p.key.Kind == yaml.ScalarNode {
			section = p.key.Value
		}
		val, err := y.deref(p.val)
		if err != nil {
			return nil, err
		}
		switch section {
		case "hosts":
			err = y.hosts(g, val)
		case "vars":
			err = y.groupVars(g, val)
		case "children":
			err = y.children(g, val)
		default:
			return nil, y.at(p.key).errorf("group %q: unknown key %s: expected hosts, vars or children%s",
				name, quote(section), didYouMean(section, []string{"hosts", "vars", "children"}))
		}
		if err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (y *yamlReader) hosts(g *groupDef, n *yaml.Node) error {
	switch {
	case isNull(n):
		return nil
	case n.Kind == yaml.ScalarNode:
		// "hosts: web1" is one host without variables, as Ansible allows.
		return y.host(g, n, nil)
	case n.Kind == yaml.SequenceNode:
		return y.hostList(g, n)
	case n.Kind != yaml.MappingNode:
		return y.at(n).errorf("hosts of group %q: expected a mapping of host names to their variables, found %s", g.name, kindOf(n))
	}
	pairs, err := y.pairs(n)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if err := y.host(g, p.key, p.val); err != nil {
			return err
		}
	}
	return nil
}

func (y *yamlReader) hostList(g *groupDef, n *yaml.Node) error {
	for _, item := range n.Content {
		item, err := y.deref(item)
		if err != nil {
			return err
		}
		if err := y.host(g, item, nil); err != nil {
			return err
		}
	}
	return nil
}

// host adds the hosts a key names (ranges expand) to g, with vars.
func (y *yamlReader) host(g *groupDef, key, vars *yaml.Node) error {
	name, err := y.name(key, "host")
	if err != nil {
		return err
	}
	names, port, err := expandHostPattern(name)
	if err != nil {
		return y.at(key).errorf("%v", err)
	}
	for _, n := range names {
		h := y.b.host(n, port, y.at(key))
		y.b.addHost(g, h)
		if vars != nil {
			if err := y.hostVars(h, vars); err != nil {
				return err
			}
		}
	}
	return nil
}

func (y *yamlReader) hostVars(h *hostDef, n *yaml.Node) error {
	n, err := y.deref(n)
	if err != nil || isNull(n) {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return y.at(n).errorf("host %q: expected a mapping of variables (or nothing), found %s", h.name, kindOf(n))
	}
	return y.eachVar(n, func(key string, v any, at pos) error {
		y.b.setHostVar(h, key, v, at)
		return nil
	})
}

func (y *yamlReader) groupVars(g *groupDef, n *yaml.Node) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return y.at(n).errorf("vars of group %q: expected a mapping of variable names to values, found %s", g.name, kindOf(n))
	}
	return y.eachVar(n, func(key string, v any, at pos) error {
		return y.b.setGroupVar(g, key, v, at)
	})
}

// eachVar calls set for every variable of the mapping n, in file order,
// with its name checked and its value converted.
func (y *yamlReader) eachVar(n *yaml.Node, set func(key string, v any, at pos) error) error {
	pairs, err := y.pairs(n)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		key, err := y.varName(p.key)
		if err != nil {
			return err
		}
		v, err := y.value(p.val, 0)
		if err != nil {
			return err
		}
		if err := set(key, v, y.at(p.key)); err != nil {
			return err
		}
	}
	return nil
}

func (y *yamlReader) children(g *groupDef, n *yaml.Node) error {
	add := func(key, body *yaml.Node) error {
		name, err := y.name(key, "group")
		if err != nil {
			return err
		}
		child, err := y.group(name, key, body)
		if err != nil {
			return err
		}
		return y.b.addChild(g, child, y.at(key))
	}
	switch {
	case isNull(n):
		return nil
	case n.Kind == yaml.ScalarNode:
		return add(n, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line})
	case n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			item, err := y.deref(item)
			if err != nil {
				return err
			}
			if err := add(item, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: item.Line}); err != nil {
				return err
			}
		}
		return nil
	case n.Kind != yaml.MappingNode:
		return y.at(n).errorf("children of group %q: expected a mapping of group names, found %s", g.name, kindOf(n))
	}
	pairs, err := y.pairs(n)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if err := add(p.key, p.val); err != nil {
			return err
		}
	}
	return nil
}

func (y *yamlReader) varName(k *yaml.Node) (string, error) {
	if k.Kind != yaml.ScalarNode || isNull(k) || k.Value == "" {
		return "", y.at(k).errorf("expected a variable name, found %s", kindOf(k))
	}
	return k.Value, nil
}

// value converts a YAML value into the Go values of Host.Vars, resolving
// plain scalars with YAML 1.1 rules as Ansible's PyYAML does: yes/no/on/off
// are booleans, 0755 is octal, 1e3 is a string but 1.0e+3 a float.
func (y *yamlReader) value(n *yaml.Node, depth int) (any, error) {
	n, err := y.deref(n)
	if err != nil {
		return nil, err
	}
	if depth > 1000 {
		return nil, y.at(n).errorf("value nested more than 1000 levels deep")
	}
	leave, err := y.enter(n)
	if err != nil {
		return nil, err
	}
	defer leave()
	switch n.Kind {
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := y.value(item, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.MappingNode:
		pairs, err := y.pairs(n)
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(pairs))
		for _, p := range pairs {
			k, err := y.deref(p.key)
			if err != nil {
				return nil, err
			}
			if k.Kind != yaml.ScalarNode {
				return nil, y.at(k).errorf("expected a string as mapping key, found %s", kindOf(k))
			}
			v, err := y.value(p.val, depth+1)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.ScalarNode:
		return y.scalar(n)
	}
	return nil, y.at(n).errorf("unexpected %s", kindOf(n))
}

func (y *yamlReader) scalar(n *yaml.Node) (any, error) {
	quoted := n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	if n.Style&yaml.TaggedStyle != 0 {
		switch tag := n.ShortTag(); tag {
		case "!!str", "!unsafe":
			return n.Value, nil
		case "!!null":
			return nil, nil
		case "!!int", "!!float", "!!bool":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, y.at(n).errorf("%s: expected a value of type %s", quote(n.Value), tag)
			}
			return normalizeNumber(v), nil
		case "!vault":
			if len(y.b.vaultPassword) == 0 {
				return lockedVault{}, nil // an error where it is used
			}
			plain, err := decryptVault([]byte(n.Value), y.b.vaultPassword)
			if err != nil {
				return nil, y.at(n).errorf("cannot decrypt this !vault value: %v", err)
			}
			return Vaulted(plain), nil
		default:
			return n.Value, nil
		}
	}
	if quoted {
		return n.Value, nil
	}
	return yaml11Plain(n.Value), nil
}

func normalizeNumber(v any) any {
	switch v := v.(type) {
	case int64:
		return int(v)
	case uint64:
		if v <= math.MaxInt {
			return int(v)
		}
		return float64(v)
	}
	return v
}

// The implicit types of YAML 1.1 that PyYAML's SafeLoader resolves.
var (
	yaml11Int   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yaml11Float = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
)

// yaml11Plain resolves a plain (unquoted, untagged) scalar.
func yaml11Plain(s string) any {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil
	case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true
	case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false
	}
	if c := s[0]; !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
		return s // not a number: most values, decided without a regexp
	}
	switch {
	case yaml11Int.MatchString(s):
		if n, ok := yaml11Int64(s); ok {
			return n
		}
		return s // too large for int: keep the digits
	case yaml11Float.MatchString(s):
		return yaml11Float64(s)
	}
	return s
}

func yaml11Int64(s string) (int, bool) {
	s = strings.ReplaceAll(s, "_", "")
	sign := 1
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	var n int64
	var err error
	switch {
	case s == "0":
		return 0, true
	case strings.HasPrefix(s, "0b"):
		n, err = strconv.ParseInt(s[2:], 2, 64)
	case strings.HasPrefix(s, "0x"):
		n, err = strconv.ParseInt(s[2:], 16, 64)
	case s[0] == '0':
		n, err = strconv.ParseInt(s[1:], 8, 64)
	case strings.Contains(s, ":"):
		for _, part := range strings.Split(s, ":") {
			d, e := strconv.ParseInt(part, 10, 64)
			if e != nil || n > (math.MaxInt64-d)/60 {
				return 0, false
			}
			n = n*60 + d
		}
	default:
		n, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil {
		return 0, false
	}
	return sign * int(n), true
}

func yaml11Float64(s string) float64 {
	s = strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	switch {
	case s == ".inf":
		return sign * math.Inf(1)
	case s == ".nan":
		return math.NaN()
	case strings.Contains(s, ":"):
		parts := strings.Split(s, ":")
		var f float64
		for _, part := range parts {
			d, _ := strconv.ParseFloat(part, 64)
			f = f*60 + d
		}
		return sign * f
	}
	f, _ := strconv.ParseFloat(s, 64)
	return sign * f
}
