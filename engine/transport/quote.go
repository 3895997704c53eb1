package transport

import "strings"

// Quote returns argv as one POSIX shell command line in which every word
// reaches the program unchanged.
func Quote(argv ...string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(QuoteWord(a))
	}
	return b.String()
}

// QuoteWord quotes one word for a POSIX shell, leaving words made only of
// safe characters as they are so command lines stay readable.
func QuoteWord(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
