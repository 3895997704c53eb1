package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
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

// statPath reads facts about path (following symlinks) in one command;
// sum asks for the SHA-256 of a regular file too.
func statPath(ctx context.Context, c *engine.HostCall, path string, sum bool) (fileFacts, error) {
	var s strings.Builder
	s.WriteString("p=" + transport.QuoteWord(path) + "; ")
	s.WriteString(`if [ -e "$p" ]; then LC_ALL=C stat -L -c '%F|%a|%U|%G|%s' -- "$p" || exit 1; `)
	if sum {
		s.WriteString(`if [ -f "$p" ]; then sha256sum -- "$p" || exit 1; fi; `)
	}
	s.WriteString(`else echo missing; fi`)
	res, err := c.Shell(ctx, s.String())
	if err != nil {
		return fileFacts{}, err
	}
	if res.ExitStatus != 0 {
		return fileFacts{}, fmt.Errorf("read %s: %w", path, engine.CommandError("stat", res))
	}
	return parseStat(path, res.Stdout)
}

func parseStat(path string, out []byte) (fileFacts, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if lines[0] == "missing" {
		return fileFacts{}, nil
	}
	parts := strings.Split(lines[0], "|")
	if len(parts) != 5 {
		return fileFacts{}, fmt.Errorf("read %s: unexpected stat output %q", path, lines[0])
	}
	mode, err := strconv.ParseUint(parts[1], 8, 32)
	if err != nil {
		return fileFacts{}, fmt.Errorf("read %s: unexpected mode %q", path, parts[1])
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

func (f fileFacts) regular() bool { return strings.HasPrefix(f.Type, "regular") }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// exists reports whether each path exists on the host, in one command.
func exists(ctx context.Context, c *engine.HostCall, dir string, paths ...string) ([]bool, error) {
	var s strings.Builder
	if dir != "" {
		s.WriteString("cd " + transport.QuoteWord(dir) + " || exit 1; ")
	}
	for _, p := range paths {
		s.WriteString("if [ -e " + transport.QuoteWord(p) + " ]; then echo y; else echo n; fi; ")
	}
	res, err := c.Shell(ctx, s.String())
	if err != nil {
		return nil, err
	}
	if res.ExitStatus != 0 {
		return nil, engine.CommandError("test", res)
	}
	fields := strings.Fields(string(res.Stdout))
	if len(fields) != len(paths) {
		return nil, fmt.Errorf("unexpected output %q testing %s", res.Stdout, strings.Join(paths, ", "))
	}
	out := make([]bool, len(paths))
	for i, f := range fields {
		out[i] = f == "y"
	}
	return out, nil
}
