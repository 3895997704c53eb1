package modules

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type preflightArgs struct {
	DataDir    string
	User       string
	BinDir     string
	Src        string
	Release    string
	ReleaseURL string
	Package    bool
	Version    string
	MemberID   string
	Cluster    starlark.Value
	etcd.ConnArgs
}

// preflight checks, before a playbook changes anything, that each host can
// take the etcd member it is meant for; it changes nothing.
//
// It refuses (exit status 5), naming the host and the reason, when:
//   - commands do not run as root there (give -b, or ansible_become);
//   - the host has no systemd to run etcd's unit;
//   - the data dir holds something that is not an etcd data dir, or the
//     data of a voting member the live cluster (read through cluster=)
//     still counts, or data whose owner cannot be checked. Data of a
//     removed member, of another cluster, or of the member member_id=
//     (the learner a change that stopped half way added) may be there:
//     the playbook moves it aside or keeps it;
//   - the user etcd runs as cannot reach the data dir: every directory
//     above it must let that user through (a /var/lib/etcd of mode 0700
//     owned by root does not). The data dir itself is made the user's by
//     install_etcd;
//   - the etcd to install (src=, release=, or package=True: the
//     package's version)
//     is of another minor version than version=, the running cluster's:
//     a member of another minor joins only during an upgrade;
//   - binaries of src= are built for another architecture than the
//     host's, or release= cannot be fetched for it and verified against
//     its SHA256SUMS (from release_url=, as install_etcd does, which then
//     finds it in the cache);
//   - etcd runs on the host and the etcd to install is another version:
//     install_etcd would refuse to change it under a running member.
//
// A host that cannot be reached is reported unreachable; the shipped
// playbooks refuse then too.
//
// Arguments:
//
//	data_dir  the member's data dir (ETCD_DATA_DIR)
//	user      the user etcd runs as (default etcd)
//	bin_dir   where etcd is (to be) installed (default /usr/local/bin;
//	          /usr/bin with package=True)
//	src       the directory of etcd binaries install_etcd will get, or
//	release   the release it will install ("v3.6.16"), or
//	release_url where that release is fetched from (install_etcd's)
//	package   True when it installs the distribution's package
//	version   the version of the running cluster ("3.6.16"); "" skips
//	          the version check
//	member_id the hex ID of the member whose data may be in data_dir
//	cluster   hosts of the live cluster, to check whose data is there
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	          cluster: see etcdplay doc member_list
//
// The result has checks (what was checked, in words), data (what the
// data dir holds), etcd_version (installed, "" when none) and
// new_version (what would be installed, "" when unknown).
//
// Check mode: the same checks; preflight never changes anything.
//
// Example:
//
//	preflight(new, data_dir = data_dir(new), src = ctx.vars["etcd_src"], version = "3.6.16", cluster = rest)
var preflightModule = &engine.HostModule[preflightArgs]{
	Name: "preflight",
	Args: func(a *preflightArgs) []any {
		return append([]any{"data_dir", &a.DataDir, "user?", &a.User, "bin_dir?", &a.BinDir, "src?", &a.Src, "release?", &a.Release, "release_url?", &a.ReleaseURL, "package?", &a.Package,
			"version?", &a.Version, "member_id?", &a.MemberID, "cluster?", &a.Cluster}, a.Pairs()...)
	},
	Validate: func(a *preflightArgs) error {
		if !path.IsAbs(a.DataDir) {
			return fmt.Errorf("data_dir: %q is not an absolute path", a.DataDir)
		}
		if a.Version != "" {
			if _, ok := etcd.ParseVersion(a.Version); !ok {
				return fmt.Errorf("version: %q is not a version such as 3.6.16", a.Version)
			}
		}
		return nil
	},
	Plan: planPreflight,
}

// preflightFacts is what preflight reads on a host in one command.
type preflightFacts struct {
	UID       int
	Arch      string // uname -m
	Systemd   systemdState
	User      *userIDs     // nil: the user does not exist yet
	Paths     []pathPerm   // the data dir and every existing directory above it, deepest first
	Installed string       // the installed etcd's version, "" when none
	Unit      unitFacts    // the etcd unit
	Candidate string       // the package's version (package=True)
	Data      datadirFacts // the data dir
}

func (f *preflightFacts) queries(a *preflightArgs) []query {
	qs := []query{
		uidFact.into(&f.UID),
		archFact.into(&f.Arch),
		systemdFact.into(&f.Systemd),
		userFact(a.User).into(&f.User),
		pathPermsFact(a.DataDir).into(&f.Paths),
		unitFact("etcd.service").into(&f.Unit).optional(),
		versionFact(path.Join(a.BinDir, "etcd")).into(&f.Installed),
	}
	if a.Package {
		qs = append(qs, candidateFact.into(&f.Candidate))
	}
	return append(qs, f.Data.queries(a.DataDir, etcd.WALDir(a.DataDir, ""))...)
}

// candidateFact is the version of etcd the host's package manager would
// install (Debian's etcd-server), "" when it cannot tell.
var candidateFact = Fact[string]{
	Name:    "the etcd package's version",
	Command: `if command -v apt-cache >/dev/null 2>&1; then apt-cache policy etcd-server 2>/dev/null | sed -n 's/^ *Candidate: *//p'; fi`,
	Parse: func(out string) (string, error) {
		if v, ok := etcd.ParseVersion(strings.TrimPrefix(strings.TrimSpace(out), "1:")); ok {
			return v.String(), nil
		}
		return "", nil
	},
}

// traverses reports whether user u may pass through directory p (its x
// bit for u). A user that does not exist yet will be a system user with a
// group of its own: only the bits for others apply to it.
func (p pathPerm) traverses(u *userIDs) bool {
	switch {
	case u != nil && u.UID == 0:
		return true
	case u != nil && u.UID == p.UID:
		return p.Mode&0o100 != 0
	case u != nil && slices.Contains(u.GIDs, p.GID):
		return p.Mode&0o010 != 0
	}
	return p.Mode&0o001 != 0
}

func planPreflight(ctx context.Context, c *engine.HostCall, a *preflightArgs) (engine.Plan, error) {
	if a.User == "" {
		a.User = "etcd"
	}
	if a.BinDir == "" {
		a.BinDir = "/usr/local/bin"
		if a.Package {
			a.BinDir = "/usr/bin"
		}
	}
	a.DataDir = path.Clean(a.DataDir)
	host := c.Host.Name
	refuse := func(format string, args ...any) (engine.Plan, error) {
		return engine.Plan{}, engine.Refuse("%s; nothing was changed", fmt.Sprintf(format, args...))
	}
	var f preflightFacts
	if err := readFacts(ctx, c, f.queries(a)...); err != nil {
		return engine.Plan{}, err
	}
	f.Data.observe(c, a.DataDir)
	c.Observe(host+" etcd installed", cmp.Or(f.Installed, "none"))
	var checks []string
	if f.UID != 0 {
		return refuse("commands run as uid %d, not root: give -b (become), or set ansible_become=true for the host", f.UID)
	}
	checks = append(checks, "runs commands as root")
	if f.Systemd != systemdRuns {
		return refuse("no systemd runs there (/run/systemd/system is missing), so etcd's unit cannot run")
	}
	checks = append(checks, "has systemd")

	// The data dir: what is there, and whose. etcd may run on it (a
	// removed member crash-looping, the learner of an earlier run): the
	// playbook stops it before it moves the data aside, so what counts
	// is whose data it is.
	data := "missing"
	nothing, meta, err := wipeLocal(a.DataDir, f.Data)
	running := ""
	if err != nil && etcd.IsRefused(err) && f.Data.IsDir && strings.Contains(err.Error(), "holds a lock") {
		running = "etcd runs on it; "
		if len(f.Data.Head) > 0 {
			m, perr := etcd.ParseWALMetadata(f.Data.Head)
			if perr != nil {
				return refuse("etcd runs on %s and its WAL cannot be read to tell whose data it is: %v", a.DataDir, perr)
			}
			meta, err = &m, nil
		} else {
			err = nil
		}
	}
	switch {
	case err != nil && etcd.IsRefused(err):
		return refuse("%s", strings.TrimPrefix(err.Error(), "refused: "))
	case err != nil:
		return engine.Plan{}, err
	case nothing != "":
		data = nothing
	case meta == nil:
		data = running + "etcd files without a WAL: moved aside before the member starts"
	case fmt.Sprintf("%x", meta.MemberID) == a.MemberID:
		data = fmt.Sprintf("%sthe data of member %x, the member this change takes care of", running, meta.MemberID)
	default:
		hosts, herr := hostsArg(a.Cluster)
		if herr != nil {
			return engine.Plan{}, engine.BadInput("cluster: %v", herr)
		}
		note, err := dataOwner(ctx, c, &a.ConnArgs, hosts, a.DataDir, *meta, "only where the data may be lost (wipe_datadir force=True)")
		if err != nil {
			return refuse("%s", strings.TrimPrefix(err.Error(), "refused: "))
		}
		data = running + note + ": moved aside (kept) before the member starts"
	}
	c.Set("data", data)
	checks = append(checks, "data dir: "+data)

	// The way from / to the data dir, for the user etcd runs as.
	for _, p := range f.Paths {
		if p.Path == a.DataDir {
			continue // install_etcd makes it the user's, mode 0700
		}
		if !p.traverses(f.User) {
			who := "user " + a.User
			if f.User == nil {
				who += " (not created yet: a system user with a group of its own)"
			}
			fix := c.ExecCommand(host, "file", map[string]string{"path": p.Path, "state": "directory", "mode": "0755"})
			return refuse("%s cannot reach %s: %s is mode %04o, owner uid %d gid %d, and does not let it through. etcd would fail to start with \"permission denied\". Open it, e.g. %s, or put etcd_data_dir elsewhere",
				who, a.DataDir, p.Path, p.Mode, p.UID, p.GID, fix)
		}
	}
	checks = append(checks, "user "+a.User+" can reach "+a.DataDir)

	// The etcd to install, against the cluster and what runs here.
	newVersion := ""
	switch {
	case a.Src != "" || a.Release != "":
		// The binaries install_etcd will put there, for this host.
		bins, v, err := binariesFor(ctx, c, &installEtcdArgs{Src: a.Src, Release: a.Release, ReleaseURL: a.ReleaseURL}, f.Arch)
		if err != nil {
			return engine.Plan{}, err
		}
		if err := archFits(host, bins, f.Arch); err != nil {
			return refuse("%v", err)
		}
		newVersion = v
		checks = append(checks, fmt.Sprintf("the etcd to install is built for %s", f.Arch))
	case a.Package:
		newVersion = f.Installed
		if newVersion == "" {
			newVersion = f.Candidate
		}
	default:
		newVersion = f.Installed
	}
	c.Set("etcd_version", f.Installed)
	c.Set("new_version", newVersion)
	if a.Version != "" && newVersion != "" {
		want, _ := etcd.ParseVersion(a.Version)
		got, ok := etcd.ParseVersion(newVersion)
		if ok && !got.SameMinor(want) {
			return refuse("the etcd to install is %s and the cluster runs %s: a member of another minor version joins only during an upgrade (etcdplay run upgrade); install %s.x", got, want, want.MinorString())
		}
		checks = append(checks, fmt.Sprintf("etcd %s fits the cluster's %s", got, want))
	}
	if f.Unit.running() && f.Installed != "" && newVersion != "" && f.Installed != newVersion {
		return refuse("etcd %s runs there and the etcd to install is %s: install_etcd does not change the version under a running member (etcdplay run upgrade does)", f.Installed, newVersion)
	}
	c.Set("checks", checks)
	return engine.NothingToDo("ready: %s", strings.Join(checks, "; ")), nil
}
