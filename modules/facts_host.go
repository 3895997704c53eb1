package modules

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/etcd"
)

// trimmed parses a fact that is one word or line.
func trimmed(out string) (string, error) { return strings.TrimSpace(out), nil }

// archFact is the host's machine (uname -m: x86_64, aarch64, ...).
var archFact = Fact[string]{Name: "the architecture", Command: "uname -m", Parse: trimmed}

// uidFact is the user id commands run as.
var uidFact = Fact[int]{Name: "the user id", Command: "id -u", Parse: func(out string) (int, error) {
	return strconv.Atoi(strings.TrimSpace(out))
}}

// nologinFact is the shell of a user that may not log in.
var nologinFact = Fact[string]{Name: "nologin", Command: "command -v nologin || echo /bin/false", Parse: trimmed}

// userIDs are a user's uid and groups.
type userIDs struct {
	UID  int
	GIDs []int
}

// userFact is user's ids; nil when there is no such user.
func userFact(user string) Fact[*userIDs] {
	return Fact[*userIDs]{
		Name: "user " + user,
		// One id, whose "uid=998(etcd) gid=998(etcd) groups=998(etcd),4(adm)"
		// holds what id -u and id -G would say in two more processes.
		Command: "LC_ALL=C id -- " + transport.QuoteWord(user) + " 2>/dev/null; true",
		Parse:   parseID,
	}
}

// parseID reads id's "uid=998(etcd) gid=998(etcd) groups=998(etcd),4(adm)":
// the uid, and the group ids, the primary one first; nil for no output.
func parseID(out string) (*userIDs, error) {
	fields := strings.Fields(out)
	if len(fields) == 0 {
		return nil, nil
	}
	num := func(s string) (int, bool) {
		s, _, _ = strings.Cut(s, "(")
		n, err := strconv.Atoi(s)
		return n, err == nil
	}
	var u *userIDs
	var gid, groups []int
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "uid":
			if n, ok := num(v); ok {
				u = &userIDs{UID: n}
			}
		case "gid":
			if n, ok := num(v); ok {
				gid = []int{n}
			}
		case "groups":
			for _, g := range strings.Split(v, ",") {
				if n, ok := num(g); ok {
					groups = append(groups, n)
				}
			}
		}
	}
	if u == nil {
		return nil, fmt.Errorf("unexpected output %q", out)
	}
	u.GIDs = gid
	if len(groups) > 0 {
		u.GIDs = groups
	}
	return u, nil
}

// groupFact is whether the group exists.
func groupFact(group string) Fact[bool] {
	return Fact[bool]{
		Name:    "group " + group,
		Command: "if getent group " + transport.QuoteWord(group) + " >/dev/null; then echo yes; fi",
		Parse:   func(out string) (bool, error) { return strings.TrimSpace(out) == "yes", nil },
	}
}

// pathPerm is a directory's owner and mode.
type pathPerm struct {
	Path     string
	UID, GID int
	Mode     uint32
}

// pathPermsFact is the owner and mode of p and of every existing
// directory above it, deepest first.
func pathPermsFact(p string) Fact[[]pathPerm] {
	return Fact[[]pathPerm]{
		Name: "the directories above " + p,
		// One stat for them all, the parents found by shell builtins.
		Command: "p=" + transport.QuoteWord(path.Clean(p)) + `; set --
while :; do
  if [ -d "$p" ]; then set -- "$@" "$p"; fi
  case $p in /) break;; */*) p=${p%/*}; p=${p:-/};; *) break;; esac
done
if [ $# -gt 0 ]; then LC_ALL=C stat -L -c '%u %g %a %n' -- "$@"; fi`,
		Parse: func(out string) ([]pathPerm, error) {
			var ps []pathPerm
			for _, l := range strings.Split(out, "\n") {
				fs := strings.SplitN(l, " ", 4)
				if len(fs) == 4 {
					uid, _ := strconv.Atoi(fs[0])
					gid, _ := strconv.Atoi(fs[1])
					mode, _ := strconv.ParseUint(fs[2], 8, 32)
					ps = append(ps, pathPerm{Path: fs[3], UID: uid, GID: gid, Mode: uint32(mode)})
				}
			}
			return ps, nil
		},
	}
}

// versionFact is the version of the etcd binary at bin ("3.6.16"), or
// the first line it printed when that holds none; "" when there is no
// binary.
func versionFact(bin string) Fact[string] {
	script := "p=" + transport.QuoteWord(bin) + "\nif [ -x \"$p\" ]; then\n" + stampedVersion() + "\nfi"
	return Fact[string]{Name: "the version of " + bin, Command: script, Parse: func(out string) (string, error) {
		if v := etcd.VersionFromOutput(out); v != "" {
			return v, nil
		}
		return firstLine(out), nil
	}}
}

// hostEtcdFact is the version of the etcd a host runs, or would run: the
// binary its etcd unit starts, else /usr/local/bin/etcd or /usr/bin/etcd
// (where install_etcd puts it, and a package); "" when there is none.
func hostEtcdFact() Fact[string] {
	return Fact[string]{
		Name: "the version of etcd",
		Command: `b=; if command -v systemctl >/dev/null 2>&1; then b=$(systemctl show -p ExecStart --value etcd.service 2>/dev/null | sed -n 's/.*path=\([^ ;]*\).*/\1/p' | head -n 1); fi
for p in "$b" /usr/local/bin/etcd /usr/bin/etcd; do if [ -n "$p" ] && [ -x "$p" ]; then
` + stampedVersion() + `
break; fi; done`,
		Parse: func(out string) (string, error) { return etcd.VersionFromOutput(out), nil },
	}
}
