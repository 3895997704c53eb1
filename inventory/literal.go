package inventory

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// iniValue turns the text of an INI variable into a Go value the way
// Ansible's INI plugin does, by reading it as a Python literal
// (ast.literal_eval): 2379 is an int, 1.5 a float, True a bool, None nil,
// '2379' (quotes kept after shell-like splitting) a string, [1, 2] a list,
// {'a': 1} a map. Anything that is not a literal is the string itself.
//
// Two differences from Python, both deliberate: lowercase true and false
// are booleans too (in Ansible they are the strings "true" and "false",
// which are truthy and have bitten operators), and an integer too large
// for int stays a string rather than losing digits.
func iniValue(s string) any {
	if v, ok := parseLiteral(s); ok {
		return v
	}
	return s
}

// parseLiteral parses s as one Python literal; ok is false if it is not one.
func parseLiteral(s string) (v any, ok bool) {
	p := &litParser{s: strings.TrimLeft(s, " \t")}
	v, ok = p.expr(0)
	if !ok {
		return nil, false
	}
	p.space()
	if p.i != len(p.s) {
		return nil, false
	}
	return v, true
}

// maxLiteralDepth bounds nesting; deeper values are read as strings.
const maxLiteralDepth = 64

type litParser struct {
	s string
	i int
}

// space skips blanks and a "#" comment, which runs to the end of the text
// as it does in Python (it matters in [group:vars] lines, where Ansible
// hands the whole rest of the line to literal_eval).
func (p *litParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\f', '\r', '\n':
			p.i++
		case '#':
			p.i = len(p.s)
		default:
			return
		}
	}
}

func (p *litParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *litParser) expr(depth int) (any, bool) {
	if depth > maxLiteralDepth {
		return nil, false
	}
	p.space()
	switch c := p.peek(); {
	case c == '[':
		p.i++
		items, _, ok := p.items(']', depth)
		if !ok {
			return nil, false
		}
		return items, true
	case c == '(':
		p.i++
		items, trailingComma, ok := p.items(')', depth)
		if !ok {
			return nil, false
		}
		if len(items) == 1 && !trailingComma {
			return items[0], true // parentheses around one value
		}
		return items, true // a tuple becomes a list, as in Ansible
	case c == '{':
		p.i++
		return p.brace(depth)
	case c == '+' || c == '-':
		// Python allows one sign on a number, in parentheses or not:
		// -5, -(5), but not --5 or -True.
		p.i++
		p.space()
		parens := 0
		for p.peek() == '(' {
			p.i++
			parens++
			p.space()
		}
		if d := p.peek(); !(d >= '0' && d <= '9' || d == '.') {
			return nil, false
		}
		v, ok := p.number()
		for ; ok && parens > 0; parens-- {
			p.space()
			if p.peek() != ')' {
				return nil, false
			}
			p.i++
		}
		if !ok {
			return nil, false
		}
		switch n := v.(type) {
		case int:
			if c == '-' {
				if n == math.MinInt {
					return nil, false
				}
				return -n, true
			}
			return n, true
		case float64:
			if c == '-' {
				return -n, true
			}
			return n, true
		}
		return nil, false
	case c == '.' && strings.HasPrefix(p.s[p.i:], "..."):
		p.i += 3
		return "...", true
	case c >= '0' && c <= '9' || c == '.':
		return p.number()
	case c == '\'' || c == '"':
		return p.strings()
	case isIdentStart(c):
		start := p.i
		for p.i < len(p.s) && isIdentChar(p.s[p.i]) {
			p.i++
		}
		word := p.s[start:p.i]
		switch word {
		case "True", "true":
			return true, true
		case "False", "false":
			return false, true
		case "None":
			return nil, true
		}
		// A string prefix: r'..', b"..", u'..', rb'..'.
		if q := p.peek(); (q == '\'' || q == '"') && len(word) <= 2 {
			p.i = start
			return p.strings()
		}
		return nil, false
	}
	return nil, false
}

// items reads comma-separated values up to end.
func (p *litParser) items(end byte, depth int) (items []any, trailingComma, ok bool) {
	items = []any{}
	for {
		p.space()
		if p.peek() == end {
			p.i++
			return items, trailingComma, true
		}
		v, ok := p.expr(depth + 1)
		if !ok {
			return nil, false, false
		}
		items = append(items, v)
		p.space()
		trailingComma = false
		switch p.peek() {
		case ',':
			p.i++
			trailingComma = true
		case end:
		default:
			return nil, false, false
		}
	}
}

// brace reads a dict {k: v, ...} or a set {a, b}, after the "{". A set
// becomes a list without duplicates.
func (p *litParser) brace(depth int) (any, bool) {
	p.space()
	if p.peek() == '}' {
		p.i++
		return map[string]any{}, true
	}
	first, ok := p.expr(depth + 1)
	if !ok {
		return nil, false
	}
	p.space()
	if p.peek() != ':' {
		set := []any{}
		v := first
		for {
			if !hashable(v) {
				return nil, false
			}
			dup := false
			for _, x := range set {
				if x == v {
					dup = true
				}
			}
			if !dup {
				set = append(set, v)
			}
			if done, ok := p.next('}'); !ok {
				return nil, false
			} else if done {
				return set, true
			}
			if v, ok = p.expr(depth + 1); !ok {
				return nil, false
			}
		}
	}
	m := map[string]any{}
	k := first
	for {
		p.space()
		if p.peek() != ':' {
			return nil, false
		}
		p.i++
		v, ok := p.expr(depth + 1)
		if !ok {
			return nil, false
		}
		key, ok := keyString(k)
		if !ok {
			return nil, false
		}
		m[key] = v
		if done, ok := p.next('}'); !ok {
			return nil, false
		} else if done {
			return m, true
		}
		if k, ok = p.expr(depth + 1); !ok {
			return nil, false
		}
	}
}

// next reads what follows an element of a {...} literal: a comma, with an
// optional trailing one before end, or end itself. done says the literal
// ended; ok is false for anything else.
func (p *litParser) next(end byte) (done, ok bool) {
	p.space()
	switch p.peek() {
	case ',':
		p.i++
		p.space()
		if p.peek() == end {
			p.i++
			return true, true
		}
		return false, true
	case end:
		p.i++
		return true, true
	}
	return false, false
}

func hashable(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return false
	}
	return true
}

// keyString turns a dict key into the string key of a Go map, as JSON
// would write it.
func keyString(k any) (string, bool) {
	switch k := k.(type) {
	case string:
		return k, true
	case int:
		return strconv.Itoa(k), true
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(k), true
	case nil:
		return "null", true
	}
	return "", false
}

// number reads a Python int or float literal. Imaginary numbers and
// malformed numbers (0123, 1__0, 12ab) are not literals here.
func (p *litParser) number() (any, bool) {
	start := p.i
	s := p.s
	if s[p.i] == '0' && p.i+1 < len(s) && strings.IndexByte("xXoObB", s[p.i+1]) >= 0 {
		base := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[s[p.i+1]]
		p.i += 2
		digitsStart := p.i
		for p.i < len(s) && (isBaseDigit(s[p.i], base) || s[p.i] == '_') {
			p.i++
		}
		text := s[digitsStart:p.i]
		if !validUnderscores(text, base, true) || (p.i < len(s) && isIdentChar(s[p.i])) {
			return nil, false
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(text, "_", ""), base, 0)
		if err != nil {
			return nil, false
		}
		return int(n), true
	}
	intPart := p.digits()
	isFloat := false
	if p.peek() == '.' {
		isFloat = true
		p.i++
		p.digits()
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		save := p.i
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if p.digits() == "" {
			p.i = save
		} else {
			isFloat = true
		}
	}
	text := s[start:p.i]
	if text == "." || (p.i < len(s) && (isIdentChar(s[p.i]) || s[p.i] == '.')) {
		return nil, false // 1j, 12ab, 1.2.3
	}
	if !validUnderscores(text, 10, false) {
		return nil, false
	}
	clean := strings.ReplaceAll(text, "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(clean, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, false // out of range is inf or 0, as in Python
		}
		return f, true
	}
	if len(intPart) > 1 && strings.Trim(intPart, "0_") != "" && intPart[0] == '0' {
		return nil, false // leading zeros are a syntax error in Python 3
	}
	n, err := strconv.ParseInt(clean, 10, 0)
	if err != nil {
		return nil, false
	}
	return int(n), true
}

func (p *litParser) digits() string {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '_') {
		p.i++
	}
	return p.s[start:p.i]
}

// validUnderscores reports whether every "_" in a number sits between two
// digits of its base (or, right after a base prefix, may lead: 0x_ff).
func validUnderscores(s string, base int, afterPrefix bool) bool {
	if s == "" {
		return !afterPrefix
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			continue
		}
		if i == len(s)-1 || !isBaseDigit(s[i+1], base) {
			return false
		}
		if i == 0 {
			if !afterPrefix {
				return false
			}
			continue
		}
		if !isBaseDigit(s[i-1], base) {
			return false
		}
	}
	return true
}

// strings reads one or more adjacent string literals, which Python joins.
func (p *litParser) strings() (any, bool) {
	var b strings.Builder
	kind := byte(0) // 's' for str, 'b' for bytes: they cannot be mixed
	for {
		p.space()
		start := p.i
		for p.i < len(p.s) && isIdentChar(p.s[p.i]) {
			p.i++
		}
		prefix := strings.ToLower(p.s[start:p.i])
		q := p.peek()
		if q != '\'' && q != '"' {
			p.i = start
			if kind == 0 {
				return nil, false
			}
			return b.String(), true
		}
		raw, bytes := false, false
		switch prefix {
		case "":
		case "r":
			raw = true
		case "u":
		case "b":
			bytes = true
		case "br", "rb":
			raw, bytes = true, true
		default:
			return nil, false // f-strings are not literals
		}
		k := byte('s')
		if bytes {
			k = 'b'
		}
		if kind != 0 && kind != k {
			return nil, false
		}
		kind = k
		s, ok := p.quoted(raw, bytes)
		if !ok {
			return nil, false
		}
		b.WriteString(s)
	}
}

// quoted reads one quoted string body at p.i (which is at the quote).
func (p *litParser) quoted(raw, bytes bool) (string, bool) {
	q := p.s[p.i]
	delim := string(q)
	if strings.HasPrefix(p.s[p.i:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	p.i += len(delim)
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return "", false
		}
		if strings.HasPrefix(p.s[p.i:], delim) {
			p.i += len(delim)
			return b.String(), true
		}
		c := p.s[p.i]
		if c == '\n' && len(delim) == 1 {
			return "", false
		}
		if c != '\\' {
			if bytes && c >= 0x80 {
				return "", false // bytes literals hold ASCII only
			}
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", false
		}
		e := p.s[p.i+1]
		if raw {
			// A raw string keeps the backslash, but it still protects the
			// next character from ending the string.
			b.WriteByte('\\')
			b.WriteByte(e)
			p.i += 2
			continue
		}
		p.i += 2
		switch e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			n := int(e - '0')
			for k := 0; k < 2 && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '7'; k++ {
				n = n*8 + int(p.s[p.i]-'0')
				p.i++
			}
			if bytes {
				b.WriteByte(byte(n))
			} else {
				b.WriteRune(rune(n))
			}
		case 'x':
			n, ok := p.hex(2)
			if !ok {
				return "", false
			}
			if bytes {
				b.WriteByte(byte(n))
			} else {
				b.WriteRune(rune(n))
			}
		case 'u', 'U':
			if bytes {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			width := 4
			if e == 'U' {
				width = 8
			}
			n, ok := p.hex(width)
			if !ok || n > utf8.MaxRune {
				return "", false
			}
			b.WriteRune(rune(n))
		case 'N':
			return "", false // named characters: not worth a name table
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
}

func (p *litParser) hex(width int) (int, bool) {
	if p.i+width > len(p.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(p.s[p.i:p.i+width], 16, 32)
	if err != nil || strings.ContainsAny(p.s[p.i:p.i+width], "+-_") {
		return 0, false
	}
	p.i += width
	return int(n), true
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isBaseDigit(c byte, base int) bool {
	switch base {
	case 2:
		return c == '0' || c == '1'
	case 8:
		return c >= '0' && c <= '7'
	case 10:
		return c >= '0' && c <= '9'
	}
	return isHexDigit(c)
}
