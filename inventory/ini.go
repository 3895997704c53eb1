package inventory

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Section headers and [group:children] lines, as Ansible's INI plugin
// matches them: a group name is anything without ":", "]" or blanks, and
// a "#" comment may follow.
var (
	sectionLine   = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)
	groupNameLine = regexp.MustCompile(`^([^:\]\s]+)\s*(?:#.*)?$`)
)

func sectionMatch(line string) []string {
	if line[0] != '[' {
		return nil
	}
	return sectionLine.FindStringSubmatch(line)
}

// pending is a forward reference in an INI file: a [g:children] entry
// naming a group not yet defined, or a [g:vars] section for one. Like
// Ansible, a file may define the group later; if it does not, that is an
// error at the line of the reference.
type pending struct {
	at      pos // the first reference
	refs    []childRef
	isVars  bool
	section string // the section that made the first reference, for the message
}

// childRef is a [parent:children] entry waiting for its child's section.
type childRef struct {
	parent *groupDef
	at     pos
}

// parseINI reads an Ansible INI inventory into b.
func parseINI(b *builder, file string, data []byte) error {
	text := strings.TrimPrefix(string(data), "\ufeff")
	lines := splitLines(text)

	group := b.ungrouped
	state := "hosts"
	pendings := map[string]*pending{}
	var pendingOrder []string

	for i, raw := range lines {
		at := pos{file, i + 1}
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if !utf8.ValidString(line) {
			return at.errorf("invalid UTF-8: expected an inventory saved as UTF-8 text")
		}

		if m := sectionMatch(line); m != nil {
			name, kind := m[1], m[2]
			if kind == "" {
				kind = "hosts"
			}
			switch kind {
			case "hosts", "children", "vars":
			default:
				return at.errorf("section [%s:%s] has unknown type %q: expected [%s], [%s:vars] or [%s:children]%s",
					name, kind, kind, name, name, name, didYouMean(kind, []string{"vars", "children", "hosts"}))
			}
			group = b.group(name, at)
			state = kind
			if kind == "vars" {
				if !group.declared && pendings[name] == nil {
					pendings[name] = &pending{at: at, isVars: true, section: "[" + name + ":vars]"}
					pendingOrder = append(pendingOrder, name)
				}
				continue
			}
			group.declared = true
			if p := pendings[name]; p != nil {
				for _, r := range p.refs {
					if err := b.addChild(r.parent, group, r.at); err != nil {
						return err
					}
				}
				delete(pendings, name)
			}
			continue
		}
		if line[0] == '[' {
			if err := badSection(line, at); err != nil {
				return err
			}
		}

		switch state {
		case "hosts":
			if err := parseHostLine(b, group, line, at); err != nil {
				return err
			}
		case "vars":
			key, val, ok := strings.Cut(line, "=")
			key = strings.TrimSpace(key)
			if !ok || key == "" {
				return at.errorf("expected key=value in [%s:vars], found %s", group.name, quote(line))
			}
			if err := b.setGroupVar(group, key, varsValue(strings.TrimSpace(val)), at); err != nil {
				return err
			}
		case "children":
			m := groupNameLine.FindStringSubmatch(line)
			if m == nil {
				return at.errorf("expected a group name in [%s:children], found %s (hosts go in a [%s] section)", group.name, quote(line), group.name)
			}
			child := m[1]
			if c := b.groupByNm[child]; c != nil {
				if err := b.addChild(group, c, at); err != nil {
					return err
				}
				continue
			}
			// Not defined yet (a [child:vars] section would have created
			// it): wait for its section, reporting the first reference.
			p := pendings[child]
			if p == nil {
				p = &pending{at: at, section: "[" + group.name + ":children]"}
				pendings[child] = p
				pendingOrder = append(pendingOrder, child)
			}
			p.refs = append(p.refs, childRef{group, at})
		}
	}

	for _, name := range pendingOrder {
		p := pendings[name]
		if p == nil {
			continue
		}
		var known []string
		for _, g := range b.groups {
			if g.declared {
				known = append(known, g.name)
			}
		}
		hint := didYouMean(name, known)
		if p.isVars {
			return p.at.errorf("%s sets variables for group %q, which is not defined%s: expected a [%s] or [%s:children] section for it",
				p.section, name, hint, name, name)
		}
		return p.at.errorf("%s includes undefined group %q%s: expected a [%s] or [%s:children] section for it (an empty [%s] section makes an empty group)",
			p.section, name, hint, name, name, name)
	}
	return nil
}

// badSection explains a line that starts with "[" but is not a section
// header; it returns nil for host lines that start with a bracket, like
// "[2001:db8::1]:22" or "[a:c]-db".
func badSection(line string, at pos) error {
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return at.errorf("invalid section header %s: expected [group], [group:vars] or [group:children]", quote(line))
	}
	inside, after := line[1:end], strings.TrimSpace(line[end+1:])
	switch {
	case after == "" && ipv6Pattern.MatchString(inside):
		return at.errorf("host %s: expected an IPv6 address without brackets (%s) or in brackets with a port ([%s]:22)", quote(line), inside, inside)
	case after == "":
		return at.errorf("invalid section header %s: expected [group], [group:vars] or [group:children], with no blanks inside the brackets", quote(line))
	case after[0] == ';':
		return at.errorf("invalid section header %s: expected a # comment after a section header, or none (; starts a comment only at the start of a line)", quote(line))
	}
	return nil
}

// parseHostLine reads "host[:port] [key=value ...]" into group.
func parseHostLine(b *builder, group *groupDef, line string, at pos) error {
	tokens, err := shlexSplit(line)
	if err != nil {
		return at.errorf("host line %s: %v", quote(line), err)
	}
	if len(tokens) == 0 {
		return nil // only a comment
	}
	first := tokens[0]
	if first == "---" {
		return at.errorf("found \"---\": expected INI host lines; this looks like YAML, so name the file .yaml or .yml")
	}
	names, port, err := expandHostPattern(first)
	if err != nil {
		return at.errorf("%v", err)
	}
	type kv struct {
		k string
		v any
	}
	vars := make([]kv, 0, len(tokens)-1)
	for _, t := range tokens[1:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return at.errorf("expected key=value after host %s, found %s (values with blanks need quotes: key=\"a b\")", quote(first), quote(t))
		}
		vars = append(vars, kv{k, iniValue(v)})
	}
	for _, name := range names {
		if name == "" {
			return at.errorf("host line %s has an empty host name", quote(line))
		}
		h := b.host(name, port, at)
		b.addHost(group, h)
		for _, x := range vars {
			b.setHostVar(h, x.k, x.v, at)
		}
	}
	return nil
}

// varsValue reads the value of a [group:vars] line. Ansible hands the
// whole rest of the line to the same literal reader as host lines, so
// 2379 is an int and False a bool there too, whatever its documentation
// says. A trailing " # comment" is dropped from values that are not
// literals (Ansible would keep it as part of the string, which nobody
// means).
func varsValue(s string) any {
	if v, ok := parseLiteral(s); ok {
		return v
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') && !inQuotes(s[:i]) {
			return strings.TrimSpace(s[:i])
		}
	}
	return s
}

// inQuotes reports whether s ends inside a quoted string.
func inQuotes(s string) bool {
	var q byte
	for i := 0; i < len(s); i++ {
		switch {
		case q == 0 && (s[i] == '\'' || s[i] == '"'):
			q = s[i]
		case q != 0 && s[i] == '\\':
			i++
		case s[i] == q:
			q = 0
		}
	}
	return q != 0
}

// shlexSplit splits a host line like Python's shlex.split(line,
// comments=True) in POSIX mode, which is what Ansible uses: blanks
// separate words, quotes group and are removed, a backslash escapes, and
// "#" outside quotes starts a comment even inside a word.
func shlexSplit(s string) ([]string, error) {
	if !strings.ContainsAny(s, "'\"\\#") {
		// Nothing to unquote, the common case. Only these four are blanks
		// to shlex (not, say, a no-break space).
		return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' }), nil
	}
	var (
		tokens []string
		tok    strings.Builder
		inWord bool // a word has started (possibly as an empty quoted "")
	)
	emit := func() {
		if inWord {
			tokens = append(tokens, tok.String())
		}
		tok.Reset()
		inWord = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			emit()
		case '#':
			emit()
			return tokens, nil
		case '\\':
			if i+1 >= len(s) {
				return nil, errorString("no character after the final backslash: expected an escaped character")
			}
			i++
			tok.WriteByte(s[i])
			inWord = true
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errorString("no closing quotation: expected a ' to end the quoted text")
			}
			tok.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case '"':
			i++
			closed := false
			for ; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				// Inside double quotes a backslash escapes only " and \.
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				tok.WriteByte(s[i])
			}
			if !closed {
				return nil, errorString("no closing quotation: expected a \" to end the quoted text")
			}
			inWord = true
		default:
			tok.WriteByte(c)
			inWord = true
		}
	}
	emit()
	return tokens, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }
