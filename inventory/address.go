package inventory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The regular expressions below follow Ansible's parse_address
// (lib/ansible/parsing/utils/addresses.py) so that "host:port", bracketed
// IPv6 addresses and [x:y] ranges are told apart the same way: they decide
// whether a colon in a host line is a port and whether a colon in a host
// pattern separates terms.
const (
	numericRange      = `\[[0-9]+:[0-9]+(?::[0-9]+)?\]`
	hexadecimalRange  = `\[[0-9a-fA-F]+:[0-9a-fA-F]+(?::[0-9]+)?\]`
	alphanumericRange = `\[(?:[a-zA-Z]:[a-zA-Z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`

	ipv6Component = `(?:[0-9a-fA-F]{1,4}|` + hexadecimalRange + `)`
	ipv4Component = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|` + numericRange + `)`

	// A label starts with a word character or a range, goes on with word
	// characters, dashes or ranges, and does not end with "-" or "_"
	// (Ansible says this with a look-behind, which RE2 lacks).
	labelEnd  = `(?:[\p{L}\p{N}]|` + alphanumericRange + `)`
	labelBody = `(?:[\p{L}\p{N}_-]|` + alphanumericRange + `)`
	labelHead = `(?:[\p{L}\p{N}_]|` + alphanumericRange + `)`
	label     = `(?:` + labelEnd + `|` + labelHead + labelBody + `*` + labelEnd + `)`
)

var (
	bracketedHostPort = regexp.MustCompile(`^\[(.+)\]:([0-9]+)$`)
	hostPort          = regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$`)
	ipv4Pattern       = regexp.MustCompile(`^(?:` + ipv4Component + `\.){3}` + ipv4Component + `$`)
	ipv6Pattern       = regexp.MustCompile(strings.ReplaceAll(`(?i)^(?:`+strings.Join([]string{
		`(?:C:){7}C`,
		`(?:C:){1,6}:`,
		`(?:C:)(?::C){1,6}`,
		`(?:C:){2}(?::C){1,5}`,
		`(?:C:){3}(?::C){1,4}`,
		`(?:C:){4}(?::C){1,3}`,
		`(?:C:){5}(?::C){1,2}`,
		`(?:C:){6}(?::C)`,
		`:(?::C){1,6}`,
		`C?::`,
		`(?:0:){6}(?:C\.){3}C`,
		`::(?:ffff:)?(?:C\.){3}C`,
		`(?:0:){5}ffff:(?:C\.){3}C`,
	}, "|")+`)$`, "C", ipv6Component))
	hostnamePattern = regexp.MustCompile(`^` + label + `(?:\.` + label + `)*$`)
)

// parseAddress splits a host identifier with an optional port: "host",
// "host:22", "10.0.0.1:22", "[fe80::1]:22", "fe80::1", and the same with
// [x:y] ranges. ok is false when s is none of those; port is 0 when none
// was given.
func parseAddress(s string) (host string, port int, ok bool) {
	var portText string
	// Like Ansible, try both forms in turn, the second on what the first left.
	if m := bracketedHostPort.FindStringSubmatch(s); m != nil {
		s, portText = m[1], m[2]
	}
	if m := hostPort.FindStringSubmatch(s); m != nil {
		s, portText = m[1], m[2]
	}
	if portText != "" {
		p, err := strconv.Atoi(portText)
		if err != nil {
			return "", 0, false
		}
		port = p
	}
	if s == "" {
		return "", 0, false
	}
	if ipv4Pattern.MatchString(s) || ipv6Pattern.MatchString(s) || hostnamePattern.MatchString(s) {
		return s, port, true
	}
	return "", 0, false
}

// maxExpansion bounds how many hosts one host line or key may expand to,
// so that a typo like [0:99999999] is an error rather than an exhausted
// machine.
const maxExpansion = 100000

// expandHostPattern turns the host part of an INI host line or a YAML host
// key into host names and an optional port, as Ansible's
// _expand_hostpattern does: "etcd[1:3].example.com:2222" is three hosts on
// port 2222. The error, if any, is a message for a ParseError.
func expandHostPattern(s string) (names []string, port int, err error) {
	pattern := s
	if !strings.ContainsAny(s, ":[") {
		return []string{s}, 0, nil
	}
	if h, p, ok := parseAddress(s); ok {
		pattern, port = h, p
	}
	if port == 0 && strings.HasSuffix(s, ":") {
		return nil, 0, fmt.Errorf("host %s ends in \":\": expected a port number after it (host:22), or no colon", quote(s))
	}
	if port > 65535 {
		return nil, 0, fmt.Errorf("host %s: port %d is out of range: expected 1 to 65535", quote(s), port)
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' && ipv6Pattern.MatchString(s[1:len(s)-1]) {
		a := s[1 : len(s)-1]
		return nil, 0, fmt.Errorf("host %s: expected an IPv6 address without brackets (%s) or in brackets with a port ([%s]:22)", quote(s), a, a)
	}
	if !strings.Contains(pattern, "[") {
		return []string{pattern}, port, nil
	}
	names, err = expandRanges(pattern, s)
	if err != nil {
		return nil, 0, err
	}
	return names, port, nil
}

// expandRanges expands every [start:end] or [start:end:step] in pattern,
// numeric (keeping the width of a zero-padded start: [01:10]) or by single
// letters ([a:f]). whole is the text as written, for messages.
func expandRanges(pattern, whole string) ([]string, error) {
	names := []string{""}
	rest := pattern
	for {
		open := strings.IndexByte(rest, '[')
		if open < 0 {
			for i := range names {
				names[i] += rest
			}
			return names, nil
		}
		closeAt := strings.IndexByte(rest[open:], ']')
		if closeAt < 0 {
			return nil, fmt.Errorf("host %s: range has no closing \"]\": expected [start:end] or [start:end:step]", quote(whole))
		}
		closeAt += open
		head, spec := rest[:open], rest[open+1:closeAt]
		rest = rest[closeAt+1:]
		items, err := rangeItems(spec, whole)
		if err != nil {
			return nil, err
		}
		if len(names)*len(items) > maxExpansion {
			return nil, fmt.Errorf("host %s expands to more than %d hosts: expected a smaller range", quote(whole), maxExpansion)
		}
		next := make([]string, 0, len(names)*len(items))
		for _, n := range names {
			for _, it := range items {
				next = append(next, n+head+it)
			}
		}
		names = next
	}
}

func rangeItems(spec, whole string) ([]string, error) {
	bad := func(why string) error {
		return fmt.Errorf("host %s: range [%s] %s: expected [start:end] or [start:end:step] with numbers or single letters, start <= end and step >= 1",
			quote(whole), spec, why)
	}
	bounds := strings.Split(spec, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, bad("is not a range")
	}
	beg, end := bounds[0], bounds[1]
	step := 1
	if len(bounds) == 3 {
		n, err := strconv.Atoi(bounds[2])
		if err != nil || n < 1 || !isDigits(bounds[2]) {
			return nil, bad("has a bad step")
		}
		step = n
	}
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return nil, bad("has no end")
	}
	if isLetter(beg) && isLetter(end) {
		const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		b, e := strings.Index(letters, beg), strings.Index(letters, end)
		if b > e {
			return nil, bad("ends before it starts")
		}
		var items []string
		for i := b; i <= e; i += step {
			items = append(items, letters[i:i+1])
		}
		return items, nil
	}
	if !isDigits(beg) || !isDigits(end) {
		return nil, bad("mixes letters and numbers or has other characters")
	}
	width := 0
	if len(beg) > 1 && beg[0] == '0' {
		if len(beg) != len(end) {
			return nil, bad("is zero-padded but start and end differ in width")
		}
		width = len(beg)
	}
	b, err1 := strconv.Atoi(beg)
	e, err2 := strconv.Atoi(end)
	if err1 != nil || err2 != nil {
		return nil, bad("has a number too large")
	}
	if b > e {
		return nil, bad("ends before it starts")
	}
	if (e-b)/step+1 > maxExpansion {
		return nil, fmt.Errorf("host %s expands to more than %d hosts: expected a smaller range", quote(whole), maxExpansion)
	}
	items := make([]string, 0, (e-b)/step+1)
	for i := b; i <= e; i += step {
		s := strconv.Itoa(i)
		for len(s) < width {
			s = "0" + s
		}
		items = append(items, s)
	}
	return items, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLetter(s string) bool {
	return len(s) == 1 && (s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z')
}
