package inventory

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Select returns the hosts matching an Ansible host pattern, in inventory
// order, each once, within the limit if one is set.
//
// A pattern is terms separated by "," (or ":", when that cannot be part of
// an address, as in "etcd:!etcd-3"). A term is a host or group name, "all"
// or "*", a glob ("etcd-*", "db[12]x"), a regular expression after "~"
// ("~etcd-[0-9]+", matched at the start of names), and may end in a
// subscript picking hosts of what it matches by position: etcd[0],
// etcd[-1], etcd[0:1] (inclusive), etcd[1:]. As in Ansible, brackets
// at the end of a term with digits in them are always a subscript, so
// etcd-[12] is the 13th host of a group "etcd-", not a glob (write
// ~etcd-[12]$ for that). Terms are applied as Ansible applies them
// whatever their order: first the plain terms (union), then "&term"
// (intersection), then "!term" (exclusion); with only & and ! terms, the
// start is all hosts. Empty terms, as in "etcd-1,,etcd-3", are ignored,
// as Ansible ignores them; a pattern with no term at all is an error.
//
// A term without glob characters that names neither a host nor a group
// is an error (a typo should not quietly select nothing; Ansible warns
// and selects nothing); a glob or regex that matches nothing matches
// nothing.
func (inv *Inventory) Select(pattern string) ([]*Host, error) {
	set, err := inv.evaluate(pattern, splitPattern(pattern))
	if err != nil {
		return nil, err
	}
	var out []*Host
	for i, in := range set {
		if in && (inv.limit == nil || inv.limit[i]) {
			out = append(out, inv.hosts[i])
		}
	}
	return out, nil
}

// SetLimit restricts Hosts, Select and Graph to the hosts matching
// pattern, as --limit does in Ansible; "" removes the limit, but a
// pattern of only separators (",") is an error where Ansible would not
// limit at all. A term
// "@FILE" reads more terms from FILE, one per line (an Ansible retry
// file). It is an error if the pattern matches no host.
func (inv *Inventory) SetLimit(pattern string) error {
	if strings.TrimSpace(pattern) == "" {
		inv.limit = nil
		return nil
	}
	var terms []string
	for _, t := range splitPattern(pattern) {
		if !strings.HasPrefix(t, "@") {
			terms = append(terms, t)
			continue
		}
		data, err := os.ReadFile(t[1:])
		if err != nil {
			return &PatternError{Pattern: pattern, Msg: fmt.Sprintf("cannot read limit file %s: %v", t[1:], pathErr(err))}
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				terms = append(terms, line)
			}
		}
	}
	set, err := inv.evaluate(pattern, terms)
	if err != nil {
		return err
	}
	for _, in := range set {
		if in {
			inv.limit = set
			return nil
		}
	}
	return &PatternError{Pattern: pattern, Msg: "matches no host"}
}

// termSplit finds the terms of a colon-separated pattern: runs of
// anything but blanks, ":" and brackets, or whole bracketed expressions.
var termSplit = regexp.MustCompile(`(?:[^\s:\[\]]|\[[^\]]*\])+`)

// splitPattern splits a host pattern into terms like Ansible's
// split_host_pattern: on commas if there are any; else, if the whole
// pattern is a host address (an IPv6 address, "host:22", a range), it is
// one term; else on colons.
func splitPattern(pattern string) []string {
	var parts []string
	switch {
	case strings.Contains(pattern, ","):
		parts = strings.Split(pattern, ",")
	default:
		if _, _, ok := parseAddress(pattern); ok {
			parts = []string{pattern}
		} else {
			parts = termSplit.FindAllString(pattern, -1)
		}
	}
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// evaluate applies terms in Ansible's order and returns the set of
// matching host indexes.
func (inv *Inventory) evaluate(pattern string, terms []string) ([]bool, error) {
	if len(terms) == 0 {
		return nil, &PatternError{Pattern: pattern, Msg: "empty host pattern: expected a host or group name, \"all\", or terms like 'etcd:!etcd-3' (empty terms between commas are ignored, but a pattern of nothing else selects nothing)"}
	}
	var regular, and, not []string
	for _, t := range terms {
		switch t[0] {
		case '&':
			and = append(and, t)
		case '!':
			not = append(not, t)
		default:
			regular = append(regular, t)
		}
	}
	if len(regular) == 0 {
		regular = []string{"all"}
	}
	set := make([]bool, len(inv.hosts))
	for _, t := range regular {
		// A host name wins over a group of the same name, as in Ansible,
		// except that "all" always means every host.
		if h, ok := inv.hostByName[t]; ok && t != "all" {
			set[h.index] = true
			continue
		}
		hosts, err := inv.matchTerm(pattern, t)
		if err != nil {
			return nil, err
		}
		for _, i := range hosts {
			set[i] = true
		}
	}
	for _, list := range [][]string{and, not} {
		for _, t := range list {
			if len(t) == 1 {
				return nil, &PatternError{Pattern: pattern, Msg: fmt.Sprintf("%q: expected a host or group name after %q", t, t)}
			}
			hosts, err := inv.matchTerm(pattern, t[1:])
			if err != nil {
				return nil, err
			}
			other := make([]bool, len(inv.hosts))
			for _, i := range hosts {
				other[i] = true
			}
			keep := t[0] == '&'
			for i := range set {
				if other[i] != keep {
					set[i] = false
				}
			}
		}
	}
	return set, nil
}

// subscriptPattern is Ansible's PATTERN_WITH_SUBSCRIPT.
var subscriptPattern = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`)

// matchTerm returns the hosts one term (without its & or !) matches, in
// Ansible's order for that term, so that a subscript picks what Ansible
// would pick.
func (inv *Inventory) matchTerm(pattern, term string) ([]int, error) {
	expr := term
	var m []string
	if term[0] != '~' {
		if m = subscriptPattern.FindStringSubmatch(term); m != nil {
			expr = m[1]
		}
	}
	hosts, err := inv.enumerate(pattern, expr, m != nil)
	if err != nil && m != nil {
		// "etcd-[12]" is a subscript on "etcd-", as in Ansible, never a
		// glob: read as a glob it would select hosts Ansible does not. When
		// the glob would match, say how to ask for that.
		if g, gerr := inv.enumerate(pattern, term, false); gerr == nil && len(g) > 0 {
			var pe *PatternError
			if errors.As(err, &pe) {
				pe.Msg = strings.TrimSuffix(pe.Msg, ")") + fmt.Sprintf("; to match host names by a character class, write ~%s$)", term)
			}
		}
	}
	if err != nil || m == nil || len(hosts) == 0 {
		return hosts, err
	}
	if m[2] != "" {
		i, err := strconv.Atoi(m[2])
		n := len(hosts)
		if err != nil || i >= n || i < -n {
			return nil, &PatternError{Pattern: pattern, Msg: fmt.Sprintf("%s: no host at index %s: %q matches %d host(s), indexes 0 to %d (or -%d to -1)",
				term, m[2], expr, n, n-1, n)}
		}
		if i < 0 {
			i += n
		}
		return hosts[i : i+1], nil
	}
	start, err1 := strconv.Atoi(m[3])
	end := len(hosts) - 1
	var err2 error
	if m[5] != "" {
		end, err2 = strconv.Atoi(m[5])
	}
	if err1 != nil || err2 != nil {
		return nil, &PatternError{Pattern: pattern, Msg: fmt.Sprintf("%s: subscript is out of range", term)}
	}
	if m[5] != "" && end == 0 {
		// Ansible reads [x:0] as the single index x.
		if start >= len(hosts) {
			return nil, &PatternError{Pattern: pattern, Msg: fmt.Sprintf("%s: no host at index %d: %q matches %d host(s)", term, start, expr, len(hosts))}
		}
		return hosts[start : start+1], nil
	}
	if start >= len(hosts) || start > end {
		return nil, nil // an empty slice, as in Python
	}
	return hosts[start:min(end+1, len(hosts))], nil
}

// enumerate returns the hosts a term matches: hosts of the groups whose
// name matches, and (when no group matched, or the term is a glob, a regex
// or has a dot) the hosts whose name matches.
func (inv *Inventory) enumerate(pattern, expr string, subscripted bool) ([]int, error) {
	var match func(string) bool
	plain := false
	switch {
	case expr[0] == '~':
		// Compile the expression alone first, so that an error shows what
		// was written rather than the anchored form.
		_, err := regexp.Compile(expr[1:])
		var re *regexp.Regexp
		if err == nil {
			re, err = regexp.Compile(`^(?:` + expr[1:] + `)`)
		}
		if err != nil {
			return nil, &PatternError{Pattern: pattern, Msg: fmt.Sprintf("%s: invalid regular expression: %v", expr, strings.TrimPrefix(err.Error(), "error parsing regexp: "))}
		}
		match = re.MatchString
	case strings.ContainsAny(expr, "*?["):
		match = globRegexp(expr).MatchString
	default:
		plain = true
		match = func(s string) bool { return s == expr }
	}

	if plain && !strings.Contains(expr, ".") {
		if _, ok := inv.groups[expr]; ok {
			return inv.members[expr], nil // one group: already in order, each host once
		}
	}
	var out []int
	var seen []bool
	add := func(i int) {
		if seen == nil {
			seen = make([]bool, len(inv.hosts))
		}
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	groupMatched := false
	if plain {
		if _, ok := inv.groups[expr]; ok {
			groupMatched = true
			for _, i := range inv.members[expr] {
				add(i)
			}
		}
	} else {
		for _, g := range inv.groupOrder {
			if match(g.Name) {
				groupMatched = true
				for _, i := range inv.members[g.Name] {
					add(i)
				}
			}
		}
	}
	if !groupMatched || !plain || strings.Contains(expr, ".") {
		if plain {
			if h, ok := inv.hostByName[expr]; ok {
				add(h.index)
			}
		} else {
			for _, h := range inv.hosts {
				if match(h.Name) {
					add(h.index)
				}
			}
		}
	}
	if plain && !groupMatched && len(out) == 0 {
		return nil, &PatternError{Pattern: pattern, Msg: inv.noSuchName(expr, subscripted)}
	}
	return out, nil
}

func (inv *Inventory) noSuchName(name string, subscripted bool) string {
	names := make([]string, 0, len(inv.hosts)+len(inv.groupList))
	for _, g := range inv.groupList {
		names = append(names, g.Name)
	}
	for _, h := range inv.hosts {
		names = append(names, h.Name)
	}
	msg := fmt.Sprintf("no host or group named %q%s", name, didYouMean(name, names))
	if subscripted {
		msg += " (a [N] or [N:M] suffix picks hosts of a group by position)"
	}
	return msg
}

// globRegexp translates a shell glob the way Python's fnmatch.translate
// does: * and ? match any characters including "/" and ".", [seq] and
// [!seq] are character classes, and an unclosed [ is literal.
func globRegexp(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	rs := []rune(pat)
	for i := 0; i < len(rs); {
		c := rs[i]
		i++
		switch c {
		case '*':
			b.WriteString(`.*`)
			for i < len(rs) && rs[i] == '*' {
				i++
			}
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				b.WriteString(`\[`)
				continue
			}
			b.WriteString(globClass(rs[i:j]))
			i = j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

// globClass turns the inside of a [...] glob into a regexp class; a
// class whose every range is reversed matches nothing, as in Python.
func globClass(stuff []rune) string {
	neg := len(stuff) > 0 && stuff[0] == '!'
	if neg {
		stuff = stuff[1:]
	}
	esc := func(r rune) string {
		switch r {
		case '\\', ']', '[', '^', '-':
			return `\` + string(r)
		}
		return string(r)
	}
	var items strings.Builder
	for k := 0; k < len(stuff); k++ {
		if k+2 < len(stuff) && stuff[k+1] == '-' {
			lo, hi := stuff[k], stuff[k+2]
			if lo <= hi {
				items.WriteString(esc(lo) + "-" + esc(hi))
			}
			k += 2
			continue
		}
		items.WriteString(esc(stuff[k]))
	}
	switch {
	case items.Len() == 0 && neg:
		return `.`
	case items.Len() == 0:
		return `[^\x00-\x{10FFFF}]`
	case neg:
		return `[^` + items.String() + `]`
	}
	return `[` + items.String() + `]`
}
