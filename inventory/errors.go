package inventory

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/etcdplay/etcdplay/inventory/suggest"
)

// ParseError is an error in an inventory file: where it is and what was
// expected there. Every error from Parse is a *ParseError, and so is every
// error from Load (possibly wrapped); Line is 0 only when the error concerns
// the whole file (it cannot be read).
type ParseError struct {
	File string
	Line int
	Msg  string
}

// Error returns "FILE:LINE: MSG" ("FILE: MSG" when Line is 0).
func (e *ParseError) Error() string {
	file := e.File
	if file == "" {
		file = "inventory"
	}
	if e.Line <= 0 {
		return file + ": " + e.Msg
	}
	return file + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// PatternError is a host pattern that cannot be used: a name that is
// neither a host nor a group, a bad regular expression, a subscript out of
// range. Its message names the offending term, not the whole pattern, so
// callers add that.
type PatternError struct {
	Pattern string
	Msg     string
}

func (e *PatternError) Error() string { return e.Msg }

// pos is where something was defined.
type pos struct {
	file string
	line int
}

func (p pos) String() string {
	if p.line <= 0 {
		return p.file
	}
	return p.file + ":" + strconv.Itoa(p.line)
}

func (p pos) errorf(format string, args ...any) *ParseError {
	return &ParseError{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

// quote shows found text in an error: quoted, shortened when long.
func quote(s string) string {
	const max = 60
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max]) + "..."
	}
	return strconv.Quote(s)
}

// didYouMean returns ` (did you mean "x"?)` when one of candidates is close
// to name (suggest.Closest), else "".
func didYouMean(name string, candidates []string) string {
	if s := suggest.Closest(name, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// splitLines splits an INI file into lines as Python's str.splitlines
// does, which is how Ansible reads and numbers them: at \n, \r\n, \r, \v,
// \f, \x1c, \x1d, \x1e, U+0085, U+2028 and U+2029.
func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); {
		n := 0 // length of the line break at i
		switch c := s[i]; {
		case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			n = 2
		case c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x1c || c == 0x1d || c == 0x1e:
			n = 1
		case c == 0xc2 && strings.HasPrefix(s[i:], "\u0085"),
			c == 0xe2 && (strings.HasPrefix(s[i:], "\u2028") || strings.HasPrefix(s[i:], "\u2029")):
			_, n = utf8.DecodeRuneInString(s[i:])
		}
		if n == 0 {
			i++
			continue
		}
		lines = append(lines, s[start:i])
		i += n
		start = i
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

// yamlLines splits YAML text after each line break as YAML counts them:
// \n, \r\n, \r, U+0085, U+2028 and U+2029.
func yamlLines(data []byte) [][]byte {
	var lines [][]byte
	start := 0
	for i := 0; i < len(data); {
		n := 0
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			n = 2
		case data[i] == '\n' || data[i] == '\r':
			n = 1
		case bytes.HasPrefix(data[i:], []byte("\u0085")):
			n = 2
		case bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			n = 3
		}
		if n == 0 {
			i++
			continue
		}
		i += n
		lines = append(lines, data[start:i])
		start = i
	}
	if start < len(data) {
		lines = append(lines, data[start:])
	}
	return lines
}
