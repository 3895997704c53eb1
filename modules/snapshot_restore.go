package modules

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/etcd"
)

type snapshotRestoreArgs struct {
	Snapshot       string
	InitialCluster string
	Token          string
	BumpRevision   int
	User           string
	Unit           string
	Verify         bool
	Version        string
}

// DefaultBumpRevision is how far a restore moves the revision past the
// snapshot's: more than any cluster writes between its last snapshot and
// a disaster, so that no revision a client saw is handed out again.
const DefaultBumpRevision = 1_000_000_000

// snapshot_restore makes each host's member data dir from one snapshot
// on the control machine, as etcd's disaster-recovery guide does: the
// first step of a new cluster with the snapshot's keys. The restore
// playbook (etcdplay doc restore) runs it on every member with etcd
// stopped, then starts them.
//
// The snapshot is checked on the control machine first (etcd's SHA-256
// appended to it, a sound database, its revision and storage version),
// then, on each host: etcd is not running; the restore tool is there
// (etcdutl; for etcd 3.4, etcdctl) and can bump the revision; the host's
// etcd is not older than the snapshot's storage version; the file system
// has room for the snapshot and the restored copy. It uploads the
// snapshot beside the data dir, restores it into DATA_DIR.restoring with
// the member's name and peer URLs, the initial cluster and token,
// --bump-revision and --mark-compacted (so a watcher never sees a
// revision go back, and old revisions read as compacted), gives it to the
// etcd user (mode 0700), moves the old data dir aside to
// DATA_DIR.before-restore-TIME (kept, never deleted) and puts the
// restored one in its place.
//
// A data dir that already holds the member this restore makes (its ID
// follows from its peer URLs and the token) is left as it is, so a run
// that stopped half way is finished by running it again with the same
// token.
//
// Arguments:
//
//	snapshot         path of the snapshot on the control machine
//	                 (relative to the playbook's directory)
//	initial_cluster  NAME=PEER_URL,... of every member of the new cluster
//	token            the new cluster's ETCD_INITIAL_CLUSTER_TOKEN
//	bump_revision    how far past the snapshot's revision the restored
//	                 store starts (default 1000000000); 0 restores
//	                 without bumping, for a restore tool too old to
//	                 (watchers of the cluster must then start over)
//	user             the user etcd runs as, owner of the data (default etcd)
//	unit             the systemd unit of etcd, which must be stopped
//	                 (default etcd)
//	verify           True: only check, before anything is changed, the
//	                 snapshot on the control machine and that etcd
//	                 version= (the one to install; "" for the host's)
//	                 reads its data; etcd may run, token may be left out
//	version          with verify, the etcd version to install ("3.6.16")
//
// The member's name, peer URL and data dir are the host's (etcdplay doc
// etcd). The result has member_id and cluster_id (hex, what the restored
// member will be), revision (the snapshot's), start_revision (after the
// bump), tool, and moved_aside (where the old data dir went, or "").
//
// Check mode: checks everything and says what it would upload, restore
// and move.
//
// Example:
//
//	snapshot_restore(hosts, snapshot = "backups/etcd-...db",
//	                 initial_cluster = "etcd-1=https://10.0.0.1:2380,...",
//	                 token = "etcd-restored-20261201")
var snapshotRestoreModule = &engine.HostModule[snapshotRestoreArgs]{
	Name: "snapshot_restore",
	Args: func(a *snapshotRestoreArgs) []any {
		a.BumpRevision = DefaultBumpRevision
		return []any{"snapshot", &a.Snapshot, "initial_cluster", &a.InitialCluster, "token?", &a.Token,
			"bump_revision?", &a.BumpRevision, "user?", &a.User, "unit?", &a.Unit, "verify?", &a.Verify, "version?", &a.Version}
	},
	Validate: func(a *snapshotRestoreArgs) error {
		switch {
		case a.Snapshot == "":
			return fmt.Errorf("snapshot is empty: give the snapshot file on the control machine")
		case a.Token == "" && !a.Verify:
			return fmt.Errorf("token is empty: give the new cluster's token")
		case a.BumpRevision < 0:
			return fmt.Errorf("bump_revision: got %d, want 0 or more", a.BumpRevision)
		}
		if _, err := etcd.ParseInitialCluster(a.InitialCluster); err != nil {
			return err
		}
		if a.User == "" {
			a.User = "etcd"
		}
		if a.Unit == "" {
			a.Unit = "etcd"
		}
		return nil
	},
	Plan: planSnapshotRestore,
}

// snapshotChecks verifies each snapshot file once per run, whatever the
// number of hosts it is restored on.
type snapshotChecks struct {
	mu   sync.Mutex
	done map[string]snapshotCheck
}

type snapshotCheck struct {
	snap savedSnapshot
	err  error
}

var runSnapshotChecks = engine.RunKey[*snapshotChecks]{Name: "snapshot checks"}

func (s *snapshotChecks) verify(p string) (snapshotCheck, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.done[p]; ok {
		return r, r.err
	}
	var r snapshotCheck
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		r.err = engine.BadInput("snapshot: %v", err)
	case fi.IsDir():
		r.err = engine.BadInput("snapshot: %s is a directory: give the snapshot file", p)
	default:
		if r.snap, err = verifySnapshot(p, fi.Size()); err != nil {
			r.err = engine.Refuse("snapshot %s: %v; nothing was changed: restore from another snapshot", p, err)
		}
	}
	s.done[p] = r
	return r, r.err
}

// sizeText is a size as people read it: 1.5 MB.
func sizeText(n int64) string {
	v, units := float64(n), []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// restoreTool is the snapshot restore tool a host has: etcdutl (etcd
// 3.5 and later), else etcdctl (3.4), with whether it can bump the
// revision.
type restoreTool struct {
	Name, Version string // "" when there is none
	Bump          bool
}

// restoreToolFact finds the host's restore tool.
var restoreToolFact = Fact[restoreTool]{Name: "etcdutl and etcdctl", Command: `for b in etcdutl etcdctl; do
  p=$(command -v $b 2>/dev/null || { [ -x /usr/local/bin/$b ] && echo /usr/local/bin/$b; })
  [ -n "$p" ] || continue
  if [ $b = etcdutl ]; then v=$("$p" version 2>/dev/null | head -n 1); else v=$(ETCDCTL_API=3 "$p" version 2>/dev/null | head -n 1); fi
  echo "$b $v"
  ETCDCTL_API=3 "$p" snapshot restore --help 2>&1 | grep -q -- --bump-revision && echo bump
  exit 0
done`, Parse: func(out string) (restoreTool, error) {
	var t restoreTool
	for _, l := range strings.Split(out, "\n") {
		switch name, rest, _ := strings.Cut(l, " "); name {
		case "etcdutl", "etcdctl":
			t.Name, t.Version = name, versionWord(rest)
		case "bump":
			t.Bump = true
		}
	}
	return t, nil
}}

// freeKBFact is the space free on the file system of p (or of its
// nearest existing parent), in KiB.
func freeKBFact(p string) Fact[int64] {
	return Fact[int64]{Name: "the free space at " + p, Command: "p=" + transport.QuoteWord(p) + `
while [ ! -d "$p" ]; do p=$(dirname -- "$p"); done
df -Pk -- "$p" | awk 'NR==2 {print $4}'`, Parse: func(out string) (int64, error) {
		return strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	}}
}

// versionWord is the version in a tool's version line ("etcdutl
// version: 3.6.16", "etcdctl version: 3.4.30", "etcd Version: 3.5.21").
func versionWord(line string) string {
	fs := strings.Fields(line)
	for i := len(fs) - 1; i >= 0; i-- {
		if v, ok := etcd.ParseVersion(fs[i]); ok {
			return v.String()
		}
	}
	return ""
}

// unreadableBy says why etcd version cannot read the snapshot's data
// (older than its storage version), "" when it can or cannot be told;
// who says whose etcd it is ("etcd-1 runs etcd 3.5.35").
func unreadableBy(who, version string, snap savedSnapshot) string {
	sv, ok := etcd.ParseVersion(snap.StorageVersion)
	if !ok {
		return ""
	}
	if ev, ok := etcd.ParseVersion(version); ok && (ev.Major < sv.Major || ev.Major == sv.Major && ev.Minor < sv.Minor) {
		return fmt.Sprintf("the snapshot's data is of etcd %s (storage version %s), and %s, which cannot read it: install etcd %s or later there first",
			sv.MinorString(), snap.StorageVersion, who, sv.MinorString())
	}
	return ""
}

func planSnapshotRestore(ctx context.Context, c *engine.HostCall, a *snapshotRestoreArgs) (engine.Plan, error) {
	h := c.Host
	id, err := etcd.IdentityOf(h)
	if err != nil {
		return engine.Plan{}, err
	}
	ic, _ := etcd.ParseInitialCluster(a.InitialCluster)
	me, ok := ic.Member(id.Name)
	if !ok {
		return engine.Plan{}, engine.BadInput("initial_cluster has no member %s (the member of %s): it must list every member of the new cluster", id.Name, h.Name)
	}
	if !slices.Contains(me.PeerURLs, id.PeerURL) {
		return engine.Plan{}, engine.BadInput("initial_cluster gives %s the peer URLs %s, but %s advertises %s", id.Name, strings.Join(me.PeerURLs, ","), h.Name, id.PeerURL)
	}
	local := c.LocalPath(a.Snapshot)
	chk, err := runSnapshotChecks.Get(c, func() *snapshotChecks { return &snapshotChecks{done: map[string]snapshotCheck{}} }).verify(local)
	if err != nil {
		return engine.Plan{}, err
	}
	snap := chk.snap
	if a.Verify {
		version := a.Version
		if version == "" {
			if version, err = readFact(ctx, c, versionFact("/usr/local/bin/etcd")); err != nil {
				return engine.Plan{}, err
			}
		}
		who := fmt.Sprintf("%s runs etcd %s", h.Name, version)
		if a.Version != "" {
			who = fmt.Sprintf("the etcd to install on %s is %s", h.Name, version)
		}
		if why := unreadableBy(who, version, snap); why != "" {
			return engine.Plan{}, engine.Refuse("%s; nothing was changed", why)
		}
		c.Set("revision", snap.Revision)
		return engine.NothingToDo("snapshot %s verified (revision %d, %d keys, storage version %s), for etcd %s", a.Snapshot, snap.Revision, snap.Keys, cmp.Or(snap.StorageVersion, "before 3.6"), cmp.Or(version, "of unknown version")), nil
	}
	members, cluster := ic.IDs(a.Token)
	memberID := members[id.Name]
	start := snap.Revision + int64(a.BumpRevision)
	c.Set("member_id", fmt.Sprintf("%x", memberID))
	c.Set("cluster_id", fmt.Sprintf("%x", cluster))
	c.Set("revision", snap.Revision)
	c.Set("start_revision", start)
	c.Set("moved_aside", "")

	dataDir := path.Clean(id.DataDir)
	if why := unsafeWipePath(dataDir); why != "" {
		return engine.Plan{}, engine.BadInput("data dir %s of %s: %s", dataDir, h.Name, why)
	}
	stage := path.Join(path.Dir(dataDir), ".etcdplay-restore-"+snap.SHA256[:16]+".db")
	var (
		unit    unitFacts
		tool    restoreTool
		version string
		entries []string
		dir     fileFacts
		head    []byte
		staged  fileFacts
		freeKB  int64
	)
	if err := readFacts(ctx, c, unitFact(a.Unit+".service").into(&unit), restoreToolFact.into(&tool), versionFact("/usr/local/bin/etcd").into(&version),
		statFact(dataDir, false).into(&dir), entriesFact(dataDir).into(&entries), walHeadFact(dataDir, etcd.WALDir(dataDir, "")).into(&head),
		statFact(stage, true).into(&staged), freeKBFact(dataDir).into(&freeKB)); err != nil {
		return engine.Plan{}, err
	}
	if dir.Exists && !dir.Dir {
		return engine.Plan{}, engine.BadInput("the data dir %s of %s is a %s, not a directory", dataDir, h.Name, dir.Type)
	}
	if len(head) > 0 {
		if meta, err := etcd.ParseWALMetadata(head); err == nil && meta.MemberID == memberID && meta.ClusterID == cluster {
			return engine.NothingToDo("%s holds member %x of cluster %x: restored from this snapshot already (token %s)", dataDir, memberID, cluster, a.Token), nil
		}
	}
	if unit.running() {
		if !c.Check {
			return engine.Plan{}, engine.Refuse("%s is %s on %s: a member's data is restored with etcd stopped; stop it first: %s",
				a.Unit, unit.Active, h.Name, c.ExecCommand(h.Name, "systemd", map[string]string{"unit": a.Unit, "state": "stopped"}))
		}
		// In check mode the step before that stops it did not run.
		c.Warn("%s is %s: it must be stopped before the restore (the restore playbook stops it first)", a.Unit, unit.Active)
	}
	argv0 := tool.Name
	switch v, _ := etcd.ParseVersion(tool.Version); {
	case tool.Name == "":
		return engine.Plan{}, engine.Refuse("%s has neither etcdutl nor etcdctl to restore a snapshot with: install etcd (install_etcd from a directory or release that holds etcdutl)", h.Name)
	case tool.Name == "etcdctl" && !(v.Major == 3 && v.Minor <= 4):
		return engine.Plan{}, engine.Refuse("%s has no etcdutl, which restores snapshots for etcd 3.5 and later (its etcdctl is %s): install etcd with it (install_etcd from a directory or release that holds etcdutl)", h.Name, tool.Version)
	case tool.Name == "etcdctl":
		argv0 = "ETCDCTL_API=3 etcdctl"
	}
	c.Set("tool", tool.Name+" "+tool.Version)
	if a.BumpRevision > 0 && !tool.Bump {
		return engine.Plan{}, engine.Refuse("%s's %s %s cannot bump the revision (etcdutl 3.5.9 and 3.6, etcdctl 3.4.26 have --bump-revision): "+
			"restored without it, the cluster hands out revisions again that clients already saw, and watchers miss changes. "+
			"Install a newer etcd, or restore with bump_revision=0 and restart every client that watches", h.Name, tool.Name, tool.Version)
	}
	if why := unreadableBy(fmt.Sprintf("%s runs etcd %s", h.Name, version), version, snap); why != "" {
		return engine.Plan{}, engine.Refuse("%s", why)
	}
	isStaged := staged.Exists && staged.Size == snap.Size && staged.SHA256 == chk.snap.FileSHA256
	need := snap.Size/1024*2 + 1024
	if isStaged {
		need = snap.Size/1024 + 1024
	}
	if freeKB > 0 && freeKB < need {
		return engine.Plan{}, engine.Refuse("%s has %d MiB free beside %s, and the restore needs %d MiB (the snapshot and its restored copy)", h.Name, freeKB/1024, dataDir, need/1024)
	}

	restoring := dataDir + ".restoring"
	aside := dataDir + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	var actions []engine.Action
	if !isStaged {
		actions = append(actions, engine.Action{
			Desc: fmt.Sprintf("upload %s (%s) to %s", path.Base(a.Snapshot), sizeText(snap.Size), stage),
			Do: func(ctx context.Context) error {
				r, err := os.Open(local)
				if err != nil {
					return err
				}
				defer r.Close()
				return c.Put(ctx, stage, r, transport.PutOptions{Mode: 0o600})
			},
		})
	}
	bump := ""
	if a.BumpRevision > 0 {
		bump = fmt.Sprintf(" --bump-revision %d --mark-compacted", a.BumpRevision)
	}
	q := transport.QuoteWord
	restore := fmt.Sprintf("rm -rf -- %s && %s snapshot restore %s --name %s --initial-cluster %s --initial-cluster-token %s --initial-advertise-peer-urls %s --data-dir %s%s >/dev/null && chown -R %s:%s -- %s && chmod 0700 -- %s",
		q(restoring), argv0, q(stage), q(id.Name), q(a.InitialCluster), q(a.Token), q(strings.Join(me.PeerURLs, ",")), q(restoring), bump,
		q(a.User), q(a.User), q(restoring), q(restoring))
	actions = append(actions, engine.Action{
		Desc: fmt.Sprintf("restore member %s (%x of cluster %x) at revision %d, starting at %d, into %s with %s", id.Name, memberID, cluster, snap.Revision, start, restoring, tool.Name),
		Do: func(ctx context.Context) error {
			// The staged copy is checked on the host before it is used.
			if _, err := shellOK(ctx, c, fmt.Sprintf("echo %s' '%s | sha256sum -c --quiet -", q(chk.snap.FileSHA256), q(stage))); err != nil {
				return fmt.Errorf("the snapshot uploaded to %s is not the one on the control machine: %w", stage, err)
			}
			_, err := shellOK(ctx, c, restore)
			return err
		},
	})
	switch {
	case dir.Exists && len(entries) > 0:
		what := "its data"
		if len(head) > 0 {
			if meta, err := etcd.ParseWALMetadata(head); err == nil {
				what = fmt.Sprintf("data of member %x of cluster %x", meta.MemberID, meta.ClusterID)
			}
		}
		c.Set("moved_aside", aside)
		actions = append(actions, engine.Action{
			Desc: fmt.Sprintf("move %s (%s) aside to %s (kept)", dataDir, what, aside),
			Do: func(ctx context.Context) error {
				_, err := shellOK(ctx, c, "mv -T -- "+q(dataDir)+" "+q(aside))
				return err
			},
		})
	case dir.Exists:
		actions = append(actions, engine.Action{
			Desc: "remove the empty " + dataDir,
			Do: func(ctx context.Context) error {
				_, err := shellOK(ctx, c, "rmdir -- "+q(dataDir))
				return err
			},
		})
	}
	actions = append(actions, engine.Action{
		Desc: fmt.Sprintf("put the restored data in %s; remove %s", dataDir, stage),
		Do: func(ctx context.Context) error {
			_, err := shellOK(ctx, c, "mv -T -- "+q(restoring)+" "+q(dataDir)+" && rm -f -- "+q(stage))
			return err
		},
	})
	return engine.Do(actions...), nil
}
