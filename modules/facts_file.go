package modules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/etcdplay/etcdplay/engine/transport"
)

// fileFacts is what a module knows about a path on a host before deciding.
type fileFacts struct {
	Exists bool
	Dir    bool
	Type   string // as stat names it: "regular file", "directory", ...
	Mode   os.FileMode
	Owner  string
	Group  string
	Size   int64
	SHA256 string // regular files, when asked for
}

func (f fileFacts) regular() bool { return strings.HasPrefix(f.Type, "regular") }

// statFact is what stat says about path, following symlinks; with sum,
// the SHA-256 of a regular file too.
func statFact(path string, sum bool) Fact[fileFacts] {
	var s strings.Builder
	s.WriteString("p=" + transport.QuoteWord(path) + "\n")
	s.WriteString(`if [ -e "$p" ]; then LC_ALL=C stat -L -c '%F|%a|%U|%G|%s' -- "$p" || exit 1`)
	if sum {
		s.WriteString(`; if [ -f "$p" ]; then sha256sum -- "$p" || exit 1; fi`)
	}
	s.WriteString("\nelse echo missing; fi")
	return Fact[fileFacts]{Name: path, Command: s.String(), Parse: parseStat}
}

func parseStat(out string) (fileFacts, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] == "missing" {
		return fileFacts{}, nil
	}
	parts := strings.Split(lines[0], "|")
	if len(parts) != 5 {
		return fileFacts{}, fmt.Errorf("unexpected stat output %q", lines[0])
	}
	mode, err := strconv.ParseUint(parts[1], 8, 32)
	if err != nil {
		return fileFacts{}, fmt.Errorf("unexpected mode %q", parts[1])
	}
	size, _ := strconv.ParseInt(parts[4], 10, 64)
	f := fileFacts{
		Exists: true,
		Type:   parts[0],
		Dir:    parts[0] == "directory",
		Mode:   os.FileMode(mode),
		Owner:  parts[2],
		Group:  parts[3],
		Size:   size,
	}
	if len(lines) > 1 {
		f.SHA256, _, _ = strings.Cut(lines[1], " ")
	}
	return f, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// existsFact is whether each of paths exists, relative to dir when it is
// not "".
func existsFact(dir string, paths ...string) Fact[[]bool] {
	var s strings.Builder
	if dir != "" {
		s.WriteString("cd " + transport.QuoteWord(dir) + " || exit 1\n")
	}
	for _, p := range paths {
		s.WriteString("if [ -e " + transport.QuoteWord(p) + " ]; then echo y; else echo n; fi\n")
	}
	return Fact[[]bool]{Name: strings.Join(paths, ", "), Command: s.String(), Parse: func(out string) ([]bool, error) {
		fields := strings.Fields(out)
		if len(fields) != len(paths) {
			return nil, fmt.Errorf("unexpected output %q", out)
		}
		ex := make([]bool, len(paths))
		for i, f := range fields {
			ex[i] = f == "y"
		}
		return ex, nil
	}}
}

// mtimesFact is when each of files that exists last changed, in Unix
// seconds.
func mtimesFact(files []string) Fact[map[string]int64] {
	var s strings.Builder
	for _, f := range files {
		s.WriteString("f=" + transport.QuoteWord(f) + "; if [ -e \"$f\" ]; then echo \"$(stat -L -c %Y -- \"$f\") $f\"; fi\n")
	}
	return Fact[map[string]int64]{Name: "the times of " + strings.Join(files, ", "), Command: s.String(), Parse: func(out string) (map[string]int64, error) {
		m := map[string]int64{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			t, name, ok := strings.Cut(l, " ")
			if !ok {
				continue
			}
			m[name], _ = strconv.ParseInt(t, 10, 64)
		}
		return m, nil
	}}
}
