package modules

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/inventory"
)

// systemPaths are directories that are never an etcd data dir.
var systemPaths = []string{
	"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found",
	"/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp", "/usr",
	"/usr/bin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/sbin", "/usr/share", "/var", "/var/cache",
	"/var/lib", "/var/log", "/var/run", "/var/tmp", "/var/spool", "/var/mail", "/var/opt",
}

// unsafeWipePath says why a path must never be wiped, or "".
func unsafeWipePath(p string) string {
	if !path.IsAbs(p) {
		return "not an absolute path"
	}
	if c := path.Clean(p); c != strings.TrimSuffix(p, "/") && c != p {
		return fmt.Sprintf("not a clean path (%s)", c)
	}
	c := path.Clean(p)
	if slices.Contains(systemPaths, c) {
		return "a system directory, not an etcd data dir"
	}
	for _, pre := range []string{"/proc/", "/sys/", "/dev/", "/boot/", "/etc/"} {
		if strings.HasPrefix(c+"/", pre) {
			return "under " + strings.TrimSuffix(pre, "/") + ", where etcd keeps no data"
		}
	}
	return ""
}

// wipeLocal is what the facts alone decide: nothing to do (why), a
// refusal, or go on with the data's identity (nil when it has no WAL).
func wipeLocal(p string, f datadirFacts) (nothing string, meta *etcd.WALMeta, err error) {
	switch {
	case !f.Exists:
		return p + " does not exist", nil, nil
	case !f.IsDir:
		return "", nil, engine.Refuse("%s is not a directory, so not an etcd data dir", p)
	}
	var other []string
	for _, e := range f.Entries {
		if e != "member" && !(e == "lost+found" && f.MountPoint) {
			other = append(other, e)
		}
	}
	if len(other) > 0 {
		shown := other
		if len(shown) > 5 {
			shown = append(slices.Clone(shown[:5]), fmt.Sprintf("and %d more", len(other)-5))
		}
		return "", nil, engine.Refuse("%s is not an etcd data dir: it holds %s (an etcd data dir holds only member/). Check the path", p, strings.Join(shown, ", "))
	}
	if len(f.Entries) == 0 || len(f.Entries) == 1 && f.Entries[0] == "lost+found" {
		return p + " is empty", nil, nil
	}
	if file, pid, ok := f.lockHolder(); ok {
		who := "a process"
		if pid != "-1" && pid != "" {
			who = "process " + pid
		}
		return "", nil, engine.Refuse("etcd is running on %s: %s holds a lock on %s. Stop etcd on this host first (systemd state=stopped)", p, who, file)
	}
	if len(f.Head) == 0 {
		return "", nil, nil
	}
	m, err := etcd.ParseWALMetadata(f.Head)
	if err != nil {
		return "", nil, fmt.Errorf("%s: cannot read the member's identity from its WAL: %w", p, err)
	}
	return "", &m, nil
}

// wipeLive decides, from the live cluster, whether the data of meta may go.
// It returns a refusal, or nil and a note on whose data it is.
func wipeLive(p string, meta etcd.WALMeta, cl *etcd.Cluster, q etcd.View) (string, error) {
	owner := fmt.Sprintf("member %x of cluster %x", meta.MemberID, meta.ClusterID)
	if cl.ID != meta.ClusterID {
		return fmt.Sprintf("data of %s; the live cluster is %x", owner, cl.ID), nil
	}
	var m *etcd.Member
	for _, x := range cl.Members {
		if x.ID == meta.MemberID {
			m = x
		}
	}
	if m == nil {
		return fmt.Sprintf("data of %s, which is no longer a member", owner), nil
	}
	mi := etcd.InfoOf(m, 0)
	if m.IsLearner {
		return fmt.Sprintf("data of learner %s (%s); it cannot rejoin after the wipe: remove it and add it again", mi.Label(), owner), nil
	}
	arith := q.Summary()
	if v := q.Check(etcd.StepWipe, m.ID, mi.Label()); !v.Safe {
		arith += "; without it the cluster would lose quorum"
	}
	return "", engine.Refuse("%s holds the data of %s (%s), a voting member the live cluster still counts (%s). Remove it from the cluster first (member_remove), or force=True to override",
		p, mi.Label(), owner, arith)
}

// dataOwner checks the data of meta in p against the live cluster, read
// through hosts: a refusal when it belongs to a voting member the cluster
// still counts, or when that cannot be told; else a note on whose data
// it is. override says what force=True would do, for the refusals.
func dataOwner(ctx context.Context, c *engine.HostCall, a *etcd.ConnArgs, hosts []*inventory.Host, p string, meta etcd.WALMeta, override string) (string, error) {
	owner := fmt.Sprintf("member %x of cluster %x", meta.MemberID, meta.ClusterID)
	if len(hosts) == 0 {
		return "", engine.Refuse("%s holds the data of %s, and without cluster= (the hosts of the live cluster) it cannot be checked against the live member list. Give cluster=, or force=True %s", p, owner, override)
	}
	s, tlsOn, err := etcd.HostSession(ctx, c, a, hosts)
	if err != nil {
		return "", err
	}
	var urls []string
	for _, h := range hosts {
		urls = append(urls, etcd.ClientURL(h, tlsOn))
	}
	cl, err := s.Members(ctx, urls)
	if err != nil {
		return "", engine.Refuse("%s holds the data of %s, and the live cluster could not be read to check it (%v). Bring it back, or force=True %s", p, owner, err, override)
	}
	return wipeLive(p, meta, cl, cl.View(s.Statuses(ctx, cl.Members)))
}
