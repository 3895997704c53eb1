package modules

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/etcd"
)

type wipeDatadirArgs struct {
	Path    string
	WALDir  string
	Backup  etcd.OptBool
	Force   bool
	Cluster starlark.Value
	etcd.ConnArgs
}

// wipe_datadir empties an etcd data dir, after checking whose data it is.
//
// It refuses:
//   - a path that is not an etcd data dir: it must be empty or hold only
//     member/ (and lost+found on a mount point);
//   - / and other system paths (/etc, /var/lib, /usr, ...), and relative
//     paths;
//   - a data dir etcd is running on: a process holds a lock on its WAL or
//     database files (read from /proc/locks);
//   - the data of a started voting member that the live cluster still
//     counts: the member and cluster ID recorded in the WAL are compared
//     with the live member list, read through cluster= (the hosts of the
//     live cluster, dialled through this host's SSH connection). Remove
//     the member first (member_remove). Data of a removed member, of a
//     learner, or of another cluster may go. When the dir holds a member's
//     identity and cluster= is not given, or the cluster cannot be read,
//     it refuses too: it cannot tell.
//
// force=True overrides a refusal about the data's owner (with a warning),
// never the system-path and not-a-data-dir checks.
//
// By default the dir is moved aside to PATH.wiped-TIME and an empty dir
// with the same owner and mode takes its place; backup=False deletes the
// contents instead. A separate WAL dir (wal_dir=) is treated the same way.
//
// Arguments:
//
//	path      the data dir (ETCD_DATA_DIR)
//	wal_dir   the WAL dir when it is not PATH/member/wal (ETCD_WAL_DIR)
//	backup    move aside (default True) rather than delete
//	force     wipe even when the live cluster check refuses
//	cluster   hosts of the live cluster, to check the data's owner
//	dial, direct, cacert, cert, key, tls_from_host, to reach the cluster: see
//	          etcdplay doc member_list
//
// The result has member_id and cluster_id (from the WAL, "" when none),
// and backup_path after a move.
//
// Check mode: reads and checks everything, reports what it would do.
//
// Example:
//
//	wipe_datadir(new, path = data_dir(new), cluster = rest, become = True)
var wipeDatadirModule = &engine.HostModule[wipeDatadirArgs]{
	Name: "wipe_datadir",
	Args: func(a *wipeDatadirArgs) []any {
		return append([]any{"path", &a.Path, "wal_dir?", &a.WALDir, "backup?", &a.Backup, "force?", &a.Force, "cluster?", &a.Cluster}, a.Pairs()...)
	},
	Validate: func(a *wipeDatadirArgs) error {
		for _, p := range []string{a.Path, a.WALDir} {
			if p == "" {
				continue
			}
			if why := unsafeWipePath(p); why != "" {
				return engine.Refuse("%s: %s", p, why)
			}
		}
		if a.Path == "" {
			return fmt.Errorf("path is empty")
		}
		return nil
	},
	Plan: planWipeDatadir,
}

func planWipeDatadir(ctx context.Context, c *engine.HostCall, a *wipeDatadirArgs) (engine.Plan, error) {
	p := path.Clean(a.Path)
	wal := etcd.WALDir(p, a.WALDir)
	var f datadirFacts
	if err := readFacts(ctx, c, f.queries(p, wal)...); err != nil {
		return engine.Plan{}, err
	}
	f.observe(c, p)
	c.Set("member_id", "")
	c.Set("cluster_id", "")
	nothing, meta, err := wipeLocal(p, f)
	if err != nil {
		return engine.Plan{}, err
	}
	separateWAL := a.WALDir != "" && !strings.HasPrefix(path.Clean(a.WALDir)+"/", p+"/")
	if nothing != "" && !separateWAL {
		return engine.NothingToDo("%s", nothing), nil
	}
	note := ""
	if meta != nil {
		c.Set("member_id", fmt.Sprintf("%x", meta.MemberID))
		c.Set("cluster_id", fmt.Sprintf("%x", meta.ClusterID))
		note, err = checkWipeOwner(ctx, c, a, p, *meta)
		if err != nil {
			if !a.Force || !etcd.IsRefused(err) {
				return engine.Plan{}, err
			}
			c.Warn("force=True overrides: %v", err)
			note = fmt.Sprintf("data of member %x of cluster %x, wiped with force=True", meta.MemberID, meta.ClusterID)
		}
	}
	dirs := []string{}
	if nothing == "" {
		dirs = append(dirs, p)
	}
	if separateWAL {
		dirs = append(dirs, path.Clean(a.WALDir))
	}
	stamp := time.Now().UTC().Format("20060102T150405.000Z")
	var actions []engine.Action
	for _, d := range dirs {
		what := d
		if note != "" && d == p {
			what += " (" + note + ")"
		}
		if a.Backup.Or(true) {
			backup := d + ".wiped-" + stamp
			actions = append(actions, engine.Action{
				Desc:   fmt.Sprintf("move %s aside to %s and leave it empty", what, backup),
				Effect: fmt.Sprintf("move %s aside (kept) and leave it empty", what),
				Do: func(ctx context.Context) error {
					// -T: never move the dir into an existing one.
					line := fmt.Sprintf(`mv -T -- %[1]s %[2]s && mkdir -- %[1]s && chmod --reference=%[2]s -- %[1]s && chown --reference=%[2]s -- %[1]s`,
						transport.QuoteWord(d), transport.QuoteWord(backup))
					if _, err := shellOK(ctx, c, line); err != nil {
						return err
					}
					if d == p {
						c.Set("backup_path", backup)
					}
					return nil
				},
			})
		} else {
			actions = append(actions, engine.Action{
				Desc: fmt.Sprintf("delete the contents of %s", what),
				Do: func(ctx context.Context) error {
					_, err := shellOK(ctx, c, "find "+transport.QuoteWord(d)+" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +")
					return err
				},
			})
		}
	}
	if len(actions) == 0 {
		return engine.NothingToDo("%s", nothing), nil
	}
	return engine.Do(actions...), nil
}

// checkWipeOwner asks the live cluster whether the member whose data this
// is still counts.
func checkWipeOwner(ctx context.Context, c *engine.HostCall, a *wipeDatadirArgs, p string, meta etcd.WALMeta) (string, error) {
	hosts, err := hostsArg(a.Cluster)
	if err != nil {
		return "", engine.BadInput("cluster: %v", err)
	}
	return dataOwner(ctx, c, &a.ConnArgs, hosts, p, meta, "to wipe it anyway")
}
