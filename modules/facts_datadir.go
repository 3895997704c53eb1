package modules

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/etcd"
)

// datadirFacts is what wipe_datadir and preflight read about an etcd data
// dir to tell whose data it holds and whether etcd runs on it.
type datadirFacts struct {
	Exists, IsDir bool
	Entries       []string
	Files         []lockedFile // WAL segments and the database, with their inodes
	Head          []byte       // the start of the first WAL segment
	Locks         []fileLock
	MountPoint    bool
}

type lockedFile struct {
	Dev, Ino uint64
	Path     string
}

type fileLock struct {
	PID          string // "-1" for open file description locks
	Major, Minor uint64
	Ino          uint64
}

// queries are the facts of the data dir p, with its WAL in wal, read
// into f. Those inside it print nothing when p is not a directory.
func (f *datadirFacts) queries(p, wal string) []query {
	return []query{
		statFact(p, false).with(func(s fileFacts) { f.Exists, f.IsDir = s.Exists, s.Dir }),
		entriesFact(p).into(&f.Entries),
		walFilesFact(p, wal).into(&f.Files),
		walHeadFact(p, wal).into(&f.Head),
		locksFact.into(&f.Locks),
		mountPointFact(p).into(&f.MountPoint),
	}
}

// inDir runs a script with p and w set, only when the directory p exists.
func inDir(p, wal, script string) string {
	return "p=" + transport.QuoteWord(p) + "; w=" + transport.QuoteWord(wal) + "\n" +
		"[ -d \"$p\" ] || exit 0\n" + script
}

// entriesFact is the names in directory p (ls -A); none when it is not a
// directory. A directory that cannot be listed fails it.
func entriesFact(p string) Fact[[]string] {
	return Fact[[]string]{Name: "the entries of " + p, Command: inDir(p, "", `ls -A -- "$p"`), Parse: func(out string) ([]string, error) {
		var es []string
		for _, l := range strings.Split(out, "\n") {
			if l != "" {
				es = append(es, l)
			}
		}
		return es, nil
	}}
}

// walFilesFact is the WAL segments in wal and the database of the data
// dir p, with their device and inode (a file etcd deletes meanwhile is
// left out).
func walFilesFact(p, wal string) Fact[[]lockedFile] {
	return Fact[[]lockedFile]{Name: "the WAL files of " + p, Command: inDir(p, wal, `for f in "$w"/*.wal "$p"/member/snap/db; do
  if [ -f "$f" ]; then LC_ALL=C stat -c '%d %i %n' -- "$f" 2>/dev/null; fi
done; true`), Parse: func(out string) ([]lockedFile, error) {
		var fs []lockedFile
		for _, l := range strings.Split(out, "\n") {
			x := strings.SplitN(l, " ", 3)
			if len(x) == 3 {
				dev, _ := strconv.ParseUint(x[0], 10, 64)
				ino, _ := strconv.ParseUint(x[1], 10, 64)
				fs = append(fs, lockedFile{Dev: dev, Ino: ino, Path: x[2]})
			}
		}
		return fs, nil
	}}
}

// walHeadFact is the start of the first WAL segment in wal, where etcd
// records the member's and the cluster's ID (etcd.ParseWALMetadata); nil
// when there is none.
func walHeadFact(p, wal string) Fact[[]byte] {
	// The shell's own glob finds the first segment (sorted, in the C
	// locale), and base64's line breaks stay: the decoder skips them.
	// Every process here is a fork and an exec, 1.5 ms on a busy host.
	return Fact[[]byte]{Name: "the WAL of " + p, Command: inDir(p, wal, `LC_ALL=C; f=
for x in "$w"/*.wal; do if [ -f "$x" ]; then f=$x; break; fi; done
if [ -n "$f" ]; then head -c `+strconv.Itoa(etcd.WALHeadBytes)+` -- "$f" | base64; fi`), Parse: func(out string) ([]byte, error) {
		if out = strings.TrimSpace(out); out == "" {
			return nil, nil
		}
		return base64.StdEncoding.DecodeString(out)
	}}
}

// locksFact is the host's file locks (/proc/locks).
var locksFact = Fact[[]fileLock]{Name: "/proc/locks", Command: "cat /proc/locks 2>/dev/null; true", Parse: func(out string) ([]fileLock, error) {
	var ls []fileLock
	for _, l := range strings.Split(out, "\n") {
		if lk, ok := parseLockLine(l); ok {
			ls = append(ls, lk)
		}
	}
	return ls, nil
}}

// parseLockLine reads one line of /proc/locks:
// "1: POSIX  ADVISORY  WRITE 1234 08:01:393219 0 EOF", or with "->" for a
// blocked waiter.
func parseLockLine(l string) (fileLock, bool) {
	fs := strings.Fields(strings.ReplaceAll(l, "->", ""))
	if len(fs) < 6 {
		return fileLock{}, false
	}
	id := strings.Split(fs[5], ":")
	if len(id) != 3 {
		return fileLock{}, false
	}
	maj, err1 := strconv.ParseUint(id[0], 16, 64)
	min, err2 := strconv.ParseUint(id[1], 16, 64)
	ino, err3 := strconv.ParseUint(id[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return fileLock{}, false
	}
	return fileLock{PID: fs[4], Major: maj, Minor: min, Ino: ino}, true
}

// mountPointFact is whether p is a mount point (where a lost+found is the
// file system's, not data).
func mountPointFact(p string) Fact[bool] {
	return Fact[bool]{Name: "the mount of " + p, Command: inDir(p, "", `if mountpoint -q -- "$p" 2>/dev/null; then echo yes; fi`), Parse: func(out string) (bool, error) {
		return strings.TrimSpace(out) == "yes", nil
	}}
}

// observe records, for a plan, what the data dir p holds: whose data, and
// whether etcd runs on it (engine.HostCall.Observe).
func (f datadirFacts) observe(c *engine.HostCall, p string) {
	what := "empty"
	switch {
	case !f.Exists:
		what = "does not exist"
	case !f.IsDir:
		what = "not a directory"
	case len(f.Head) > 0:
		if m, err := etcd.ParseWALMetadata(f.Head); err == nil {
			what = fmt.Sprintf("the data of member %x of cluster %x", m.MemberID, m.ClusterID)
		} else {
			what = "a WAL that cannot be read"
		}
	case len(f.Entries) > 0:
		what = "holds " + strings.Join(f.Entries, ", ")
	}
	if _, _, locked := f.lockHolder(); locked {
		what += ", etcd runs on it"
	}
	c.Observe(c.Host.Name+" data dir "+p, what)
}

// devMajorMinor splits a Linux dev_t as glibc's major() and minor() do.
func devMajorMinor(dev uint64) (uint64, uint64) {
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	return major, minor
}

// lockHolder returns a locked file of the data dir and who holds it.
func (f datadirFacts) lockHolder() (string, string, bool) {
	for _, file := range f.Files {
		ma, mi := devMajorMinor(file.Dev)
		for _, l := range f.Locks {
			if l.Ino == file.Ino && l.Major == ma && l.Minor == mi {
				return file.Path, l.PID, true
			}
		}
	}
	return "", "", false
}
