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

// sumCache is where install_etcd keeps, on each host, the SHA-256 of each
// binary it installed, beside the file's identity once it was in place:
// device, inode, size, and modification and change times to the
// nanosecond. While the identity is the same the file is the one whose
// sum was taken, and its facts need not hash 20-30 MB again (every run
// did, about 0.1 s of a host's CPU per binary). Whatever changes a file
// changes its change time, which cannot be set back, and a file put in
// its place is another inode: a stamp never vouches for other content
// (git's index trusts the same). Removing the directory only costs a
// hash. A variable for the tests, whose hosts are this machine.
var sumCache = "/var/cache/etcdplay/sha256"

// stampFile is the stamp of the file at path in sumCache.
func stampFile(path string) string { return sumCache + "/" + stampName(path) }

// stampName is the name of the stamp of the file at the absolute path in
// a stamp directory: the path with "%" for "/" (as stampedVersion spells
// it in shell).
func stampName(path string) string {
	return strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "%")
}

// fileIdentity is the stat format of what a stamp records.
const fileIdentity = "%d %i %s %y %z"

// binaryFact is statFact(path, true) for a binary install_etcd may have
// installed: its SHA-256 comes from its stamp when the file is still the
// one stamped, else from hashing it.
func binaryFact(path string) Fact[fileFacts] {
	var s strings.Builder
	s.WriteString("p=" + transport.QuoteWord(path) + "; c=" + transport.QuoteWord(stampFile(path)) + "\n")
	s.WriteString(`if [ -e "$p" ]; then s=$(LC_ALL=C stat -L -c '%F|%a|%U|%G|%s|` + fileIdentity + `' -- "$p") || exit 1; echo "${s%|*}"
  if [ -f "$p" ]; then sum=
    if [ -f "$c" ]; then { read -r id; read -r sum; } < "$c"; [ "$id" = "${s##*|}" ] || sum=; fi
    if [ -n "$sum" ]; then echo "$sum  $p"; else sha256sum -- "$p" || exit 1; fi
  fi
else echo missing; fi`)
	return Fact[fileFacts]{Name: path, Command: s.String(), Parse: parseStat}
}

// stampCommand checks that the file uploaded to from has the SHA-256
// sum, moves it to path (when from is another name), and records it in
// path's stamp for binaryFact; for etcd, with the version the binary
// itself says, for stampedVersion. A file that is not what was sent is
// not moved into place.
func stampCommand(from, path, sum string, etcd bool) string {
	q := transport.QuoteWord
	version := "echo"
	if etcd {
		version = fmt.Sprintf("{ %s --version 2>/dev/null | sed -n 's/^etcd Version: *//p' | head -n 1; echo; } | head -n 1", q(path))
	}
	move := ""
	if from != path {
		// After the check: a rename changes the file's change time, which
		// the stamp's identity holds.
		move = fmt.Sprintf(" && mv -f -- %s %s", q(from), q(path))
	}
	// A stamp that cannot be written (no root, a read-only /var) costs
	// the next run a hash; a file that is not what was sent fails.
	return fmt.Sprintf("echo %s' '%s | sha256sum -c --quiet -%s && { { mkdir -p -- %s && { LC_ALL=C stat -L -c %s -- %s && echo %s && %s; } > %s.tmp && mv -f -- %s.tmp %s; } 2>/dev/null || rm -f -- %s.tmp; }",
		q(sum), q(from), move, q(sumCache), q(fileIdentity), q(path), q(sum), version, q(stampFile(path)), q(stampFile(path)), q(stampFile(path)), q(stampFile(path)))
}

// stampedVersion is shell that prints the version of the etcd binary at
// "$p" as etcd --version does: from its stamp while the file is the one
// stamped, else by running it (a Go binary of 27 MB: some 20 ms a time).
func stampedVersion() string {
	// The stamp's name (stampName) by shell builtins: a fork is dear.
	return `v=; n=; x=${p#/}; while :; do case $x in */*) n=$n${x%%/*}%; x=${x#*/};; *) n=$n$x; break;; esac; done; c=` + transport.QuoteWord(sumCache) + `/$n
if [ -f "$c" ]; then { read -r id; read -r sum; read -r v; } < "$c"; [ "$id" = "$(LC_ALL=C stat -L -c '` + fileIdentity + `' -- "$p")" ] || v=; fi
if [ -n "$v" ]; then echo "etcd Version: $v"; else "$p" --version 2>/dev/null | head -n 3; fi`
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
