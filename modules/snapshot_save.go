package modules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type snapshotSaveArgs struct {
	Dest string
	Keep int
	// RestoreVersion is the etcd release restore_command installs.
	RestoreVersion string
	etcd.ConnArgs
}

// snapshot_save saves a verified snapshot of etcd on the control machine.
//
// Take one before a risky change.
// It streams the snapshot from the first target whose member is healthy
// (answers and has a leader), writes it under a temporary name, and checks
// it before giving it its final name: the SHA-256 that etcd appends to
// the stream must match the data, the file must be a sound bbolt database,
// and its revision must be at least the revision the cluster reported
// just before. The file is named by cluster ID, time (UTC) and revision,
// so that a cluster's snapshots sort by time:
// etcd-CLUSTERID-YYYYMMDDTHHMMSS.mmmZ-rREVISION.db. With keep=N, the oldest
// snapshots of the same cluster in dest beyond the last N are deleted
// once the new one is saved and verified (others' files are never
// touched).
//
// Arguments:
//
//	dest       directory on the control machine (relative to the
//	           playbook's directory); created if missing
//	keep       keep this many of the cluster's snapshots in dest, the
//	           newest (default 0: keep them all)
//	restore_version  the etcd release restore_command installs
//	           ("v3.5.35"), in place of the run's etcd_version, etcd_src or
//	           etcd_package: for a run that changes the version, whose
//	           snapshot needs the etcd it came from
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	           cluster: see etcdplay doc member_list
//
// The result has path, revision, cluster_id, sha256 (of the database),
// size, keys, etcd_version, member (the member it came from),
// restore_command (the etcdplay run restore command that restores it)
// and deleted (the older snapshots keep= removed).
//
// Check mode: reads the cluster and reports the snapshot it would save.
//
// Example:
//
//	snap = snapshot_save(rest, dest = "backups/")
//	print("snapshot:", snap.path)
var snapshotSaveModule = &engine.ClusterModule[snapshotSaveArgs]{
	Name: "snapshot_save",
	Args: func(a *snapshotSaveArgs) []any {
		return append([]any{"dest", &a.Dest, "keep?", &a.Keep, "restore_version?", &a.RestoreVersion}, a.Pairs()...)
	},
	Validate: func(a *snapshotSaveArgs) error {
		if a.Dest == "" {
			return fmt.Errorf("dest is empty: give a directory on the control machine")
		}
		if a.Keep < 0 {
			return fmt.Errorf("keep: got %d, want 0 (keep all) or more", a.Keep)
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *snapshotSaveArgs) (engine.Plan, error) {
		s, cl, err := etcd.Open(ctx, c, &a.ConnArgs)
		if err != nil {
			return engine.Plan{}, err
		}
		restore := func(p string) string {
			// The run's own parameters are not the restore's.
			vars := map[string]string{"snapshot": p, "old": "", "new": "", "member": "", "backup_dir": "", "keep": ""}
			if a.RestoreVersion != "" {
				vars["etcd_version"], vars["etcd_src"], vars["etcd_package"] = a.RestoreVersion, "", ""
			}
			return c.CommandFor("restore", vars)
		}
		return planSnapshotSave(ctx, s, cl, c.LocalPath(a.Dest), a.Keep, c.Set, restore)
	},
}

// planSnapshotSave reads the cluster and plans the snapshot; set records
// result data. A playbook that wants the restore command in its recap
// should the cluster be lost says so in its on_failure: a snapshot is
// only the remedy when the data is in danger.
func planSnapshotSave(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, dir string, keep int, set func(string, any), restoreCommand func(path string) string) (engine.Plan, error) {
	rctx, cancel := context.WithTimeout(ctx, etcd.StatusTimeout)
	st, err := cl.Client.Status(rctx, cl.URL)
	cancel()
	if err != nil {
		return engine.Plan{}, fmt.Errorf("%w: etcd at %s: status: %v", engine.ErrTryNext, cl.URL, etcd.ShortErr(err))
	}
	if st.Leader == 0 || cl.NoQuorum {
		return engine.Plan{}, fmt.Errorf("%w: etcd at %s has no leader: a snapshot from it may miss committed writes", engine.ErrTryNext, cl.URL)
	}
	from := labelOf(cl, st.Header.MemberId)
	rev := st.Header.Revision
	set("cluster_id", fmt.Sprintf("%x", cl.ID))
	set("member", from)
	set("revision", rev)
	stamp := time.Now().UTC().Format("20060102T150405.000Z")
	name := func(rev int64) string { return fmt.Sprintf("etcd-%x-%s-r%d.db", cl.ID, stamp, rev) }
	set("path", filepath.Join(dir, name(rev)))
	set("restore_command", restoreCommand(filepath.Join(dir, name(rev))))
	set("deleted", []string{})
	return engine.Do(engine.Action{
		Desc:   fmt.Sprintf("save a snapshot of cluster %x (revision %d) from %s to %s", cl.ID, rev, from, dir),
		Effect: fmt.Sprintf("save a snapshot of cluster %x to %s", cl.ID, dir),
		Do: func(ctx context.Context) error {
			snap, err := saveSnapshot(ctx, cl.Client, dir, rev)
			if err != nil {
				return err
			}
			final := filepath.Join(dir, name(snap.Revision))
			if err := os.Rename(snap.Path, final); err != nil {
				os.Remove(snap.Path)
				return fmt.Errorf("snapshot: %w", err)
			}
			set("path", final)
			set("revision", snap.Revision)
			set("sha256", snap.SHA256)
			set("size", snap.Size)
			set("keys", snap.Keys)
			set("etcd_version", snap.Version)
			set("restore_command", restoreCommand(final))
			if keep > 0 {
				deleted, err := pruneSnapshots(dir, cl.ID, keep)
				set("deleted", deleted)
				if err != nil {
					return fmt.Errorf("snapshot saved to %s; removing older ones: %w", final, err)
				}
			}
			return nil
		},
	}), nil
}

// savedSnapshot is a snapshot written and verified.
type savedSnapshot struct {
	Path     string
	Revision int64
	SHA256   string // of the database, without etcd's appended digest
	// FileSHA256 is the whole file's, as sha256sum prints it.
	FileSHA256 string
	Size       int64
	Keys       int
	Version    string
	// StorageVersion is the data's, from the database (etcd 3.6 writes
	// it; "" for older data).
	StorageVersion string
}

// saveSnapshot streams a snapshot into a temporary file in dir and
// verifies it; the caller renames it.
func saveSnapshot(ctx context.Context, c etcd.Client, dir string, minRev int64) (savedSnapshot, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot: %w", err)
	}
	f, err := os.CreateTemp(dir, ".etcd-snapshot-*.part")
	if err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	resp, err := c.SnapshotWithVersion(ctx)
	if err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot: %w", etcd.Explain(err))
	}
	defer resp.Snapshot.Close()
	n, err := io.Copy(f, resp.Snapshot)
	if err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot: download: %w", err)
	}
	if err := f.Sync(); err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot: %w", err)
	}
	snap, err := verifySnapshot(tmp, n)
	if err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot %s: verify: %w", tmp, err)
	}
	// An empty store has no key to show its revision: it is at etcd's
	// first, 1, the revision the cluster reports for it and the plan
	// names, not 0.
	if snap.Revision == 0 {
		snap.Revision = 1
	}
	// A header's revision (etcd 3.6 sends none) is the store's at the
	// snapshot; the data can be no newer, and no older than what the
	// cluster said before it.
	rev := snap.Revision
	if resp.Header != nil && resp.Header.Revision > 0 {
		rev = resp.Header.Revision
	}
	switch {
	case snap.Revision > rev:
		return savedSnapshot{}, fmt.Errorf("snapshot %s: verify: the data has revision %d, newer than the snapshot's %d", tmp, snap.Revision, rev)
	case snap.Revision < minRev:
		return savedSnapshot{}, fmt.Errorf("snapshot %s: verify: the data has revision %d, older than the cluster's %d before the snapshot", tmp, snap.Revision, minRev)
	}
	snap.Revision = rev
	snap.Version = resp.Version
	ok = true
	return snap, nil
}

// verifySnapshot checks a downloaded snapshot: etcd ends the stream with
// the SHA-256 of the database before it, and the database must open and
// pass bbolt's consistency check; the revision is the highest in the key
// bucket.
func verifySnapshot(path string, size int64) (savedSnapshot, error) {
	if size < sha256.Size || (size-sha256.Size)%512 != 0 {
		return savedSnapshot{}, fmt.Errorf("%d bytes: not a database followed by etcd's SHA-256 digest", size)
	}
	f, err := os.Open(path)
	if err != nil {
		return savedSnapshot{}, err
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, size-sha256.Size); err != nil {
		f.Close()
		return savedSnapshot{}, err
	}
	want := make([]byte, sha256.Size)
	_, err = io.ReadFull(f, want)
	f.Close()
	if err != nil {
		return savedSnapshot{}, err
	}
	got := h.Sum(nil)
	if !bytes.Equal(got, want) {
		return savedSnapshot{}, fmt.Errorf("SHA-256 %x of the data does not match the %x etcd sent: the download is damaged", got, want)
	}
	h.Write(want) // and the digest: the whole file's, from the one read
	snap := savedSnapshot{Path: path, SHA256: hex.EncodeToString(got), FileSHA256: hex.EncodeToString(h.Sum(nil)), Size: size}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return savedSnapshot{}, fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var problems []string
		for e := range tx.Check() {
			problems = append(problems, e.Error())
		}
		if len(problems) > 0 {
			return fmt.Errorf("database check: %s", strings.Join(problems, "; "))
		}
		b := tx.Bucket([]byte("key"))
		if b == nil {
			return errors.New("no key bucket: not an etcd database")
		}
		// Keys of the bucket are revisions: 8 bytes of main revision, "_",
		// 8 bytes of sub revision, and "t" for a deletion
		// (mvcc.RevToBytes); values are the key-values. In revision order
		// the last record of each key says whether it is live.
		live := map[string]bool{}
		err := b.ForEach(func(k, v []byte) error {
			var kv mvccpb.KeyValue
			if len(k) < 17 || kv.Unmarshal(v) != nil {
				return fmt.Errorf("key bucket: record %x is not an etcd revision", k)
			}
			snap.Revision = int64(binary.BigEndian.Uint64(k[:8]))
			if len(k) == 18 && k[17] == 't' {
				delete(live, string(kv.Key))
			} else {
				live[string(kv.Key)] = true
			}
			return nil
		})
		snap.Keys = len(live)
		if err != nil {
			return err
		}
		// Compaction removes deletions up to its revision: the store's
		// revision is at least the last compaction's.
		if m := tx.Bucket([]byte("meta")); m != nil {
			if v := m.Get([]byte("finishedCompactRev")); len(v) >= 8 {
				snap.Revision = max(snap.Revision, int64(binary.BigEndian.Uint64(v[:8])))
			}
			snap.StorageVersion = string(m.Get([]byte("storageVersion")))
		}
		return nil
	})
	return snap, err
}

// pruneSnapshots deletes the oldest snapshots of cluster id in dir beyond
// the newest keep; names sort by time.
func pruneSnapshots(dir string, id uint64, keep int) ([]string, error) {
	mine, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("etcd-%x-*-r*.db", id)))
	if err != nil {
		return nil, err
	}
	sort.Strings(mine)
	deleted := []string{}
	for i := 0; i < len(mine)-keep; i++ {
		if err := os.Remove(mine[i]); err != nil {
			return deleted, err
		}
		deleted = append(deleted, mine[i])
	}
	return deleted, nil
}
