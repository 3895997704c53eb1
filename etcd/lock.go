package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/etcdplay/etcdplay/engine"
)

// The lock that keeps two etcdplay runs from changing one cluster at
// once lives in the cluster itself: a mutex in the manner of go.etcd.io's
// concurrency package under LockPrefix (the key of the oldest lease
// holds it), on a lease the holder keeps alive. It dies
// with its holder: a run that is killed, or whose control machine loses
// the network, stops renewing the lease and the lock is free LockTTL
// seconds later. The holder's key holds a Holder, so a run that finds the
// lock taken can say whose it is.
const (
	LockPrefix = "/etcdplay/lock"
	LockTTL    = 15 // seconds
)

// Holder is who holds a cluster lock.
type Holder struct {
	User      string    `json:"user"`
	Host      string    `json:"host"` // the control machine's hostname
	MachineID string    `json:"machine_id,omitempty"`
	BootID    string    `json:"boot_id,omitempty"`
	PID       int       `json:"pid"`
	PIDStart  uint64    `json:"pid_start,omitempty"` // the process's start time, in clock ticks since boot
	Command   string    `json:"command"`             // the command line of the run
	Since     time.Time `json:"since"`
}

// String says who and since when: "root@ctl, pid 4242, since 14:05:02 UTC
// (3m10s ago): etcdplay run rolling_restart -i inv.ini".
func (h Holder) String() string {
	since := h.Since.UTC().Format("2006-01-02 15:04:05 UTC")
	ago := time.Since(h.Since).Round(time.Second)
	what := h.Command
	if what == "" {
		what = "an etcdplay run"
	}
	return fmt.Sprintf("%s@%s, pid %d, since %s (%s ago): %s", h.User, h.Host, h.PID, since, ago, what)
}

// self is the Holder this process writes.
func self(command string) Holder {
	h := Holder{PID: os.Getpid(), Command: command, Since: time.Now().UTC()}
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	}
	h.Host, _ = os.Hostname()
	h.MachineID = readTrim("/etc/machine-id")
	h.BootID = readTrim("/proc/sys/kernel/random/boot_id")
	h.PIDStart, _ = procStart(h.PID)
	return h
}

// gone reports whether the holder is an etcdplay process of this machine
// that no longer runs: then its lock is known to be stale, whatever its
// lease says.
func (h Holder) gone() bool {
	if h.Host == "" || h.MachineID == "" || h.PIDStart == 0 {
		return false
	}
	me := self("")
	if h.Host != me.Host || h.MachineID != me.MachineID {
		return false
	}
	if h.BootID != me.BootID {
		return true // the machine restarted since
	}
	start, ok := procStart(h.PID)
	return !ok || start != h.PIDStart
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStart is field 22 of /proc/PID/stat: when the process started.
func procStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return n, err == nil
}

// heldLock is a lock this run holds: a key on sess's lease. urls are
// the cluster's client URLs, which s reaches, the one the lock was taken
// through first: the lock is freed through another when that member does
// not answer (the run stopped it, or its host died).
type heldLock struct {
	sess *concurrency.Session
	s    *Session
	urls []string
}

// lost says why the run no longer holds the lock, or "".
func (l *heldLock) lost() string {
	select {
	case <-l.sess.Done():
		return fmt.Sprintf("its lease %x was not renewed within %ds", int64(l.sess.Lease()), LockTTL)
	default:
		return ""
	}
}

// releaseTimeout bounds the revoke of the lock's lease through one
// member.
const releaseTimeout = 2 * time.Second

// release frees the lock: its key is on the lease, so revoking the lease
// frees it in one request, through the member it was taken through or,
// when that one does not answer, another. When none answers, the lease
// expires by itself within LockTTL.
func (l *heldLock) release() {
	l.sess.Orphan()
	// The lock's own member is asked last when its connection is not
	// ready: its request would wait out the timeout.
	urls := l.urls
	if !l.s.ready(l.s.clientKey(urls[0])) {
		urls = append(slices.Clone(urls[1:]), urls[0])
	}
	for _, u := range urls {
		ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
		c, err := l.s.raw(ctx, u)
		if err == nil {
			_, err = c.Revoke(ctx, l.sess.Lease())
		}
		cancel()
		if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return
		}
	}
}

// lockSet is the cluster locks one run holds, by cluster ID.
type lockSet struct {
	mu   sync.Mutex
	held map[uint64]*heldLock
}

var runLocks = engine.RunKey[*lockSet]{Name: "etcd cluster locks"}

// LockError is a cluster lock that could not be taken for want of the
// cluster (no quorum, no answer), not because another run holds it.
type LockError struct{ Err error }

func (e *LockError) Error() string {
	return "the cluster lock could not be taken: " + ShortErr(e.Err)
}
func (e *LockError) Unwrap() error { return e.Err }

// Lock makes sure this run holds the lock of cluster cl before it changes
// it, taking it on the first call of the run; later calls check that it is
// still held. Another run's lock is a refusal naming its holder, unless
// that holder is an etcdplay of this machine that is gone (its lock is
// broken with a warning) or the run was started with --break-lock. In
// check mode the lock is not taken: a holder is reported as a warning.
func Lock(ctx context.Context, c *engine.HostCall, s *Session, cl *Cluster) error {
	ls := runLocks.Get(c, func() *lockSet {
		ls := &lockSet{held: map[uint64]*heldLock{}}
		c.AtRunEnd(func() {
			ls.mu.Lock()
			defer ls.mu.Unlock()
			for id, l := range ls.held {
				l.release()
				delete(ls.held, id)
			}
		})
		return ls
	})
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l := ls.held[cl.ID]; l != nil {
		if why := l.lost(); why != "" {
			return engine.Refuse("this run lost the lock of cluster %x (%s): another run may be changing the cluster now, so nothing more is changed. Check the cluster (etcdplay run status), then run the command again", cl.ID, why)
		}
		return nil
	}
	raw, err := s.raw(ctx, cl.URL)
	if err != nil {
		return &LockError{err}
	}
	if c.Check {
		h, _, err := lockHolder(ctx, raw)
		if err == nil && h != nil {
			s.Warnf("the cluster is locked by another etcdplay run (%s): a real run would be refused now", h)
		}
		return nil
	}
	l, err := takeLock(ctx, c, s, raw)
	if err != nil {
		return err
	}
	l.urls = []string{cl.URL}
	for _, m := range cl.Members {
		for _, u := range m.ClientURLs {
			if u != cl.URL {
				l.urls = append(l.urls, u)
			}
		}
	}
	ls.held[cl.ID] = l
	return nil
}

func takeLock(ctx context.Context, c *engine.HostCall, s *Session, raw *clientv3.Client) (*heldLock, error) {
	me := self(c.RunCommand())
	info, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	gctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	grant, err := raw.Grant(gctx, LockTTL)
	cancel()
	if err != nil {
		return nil, &LockError{err}
	}
	sess, err := concurrency.NewSession(raw, concurrency.WithLease(grant.ID), concurrency.WithTTL(LockTTL))
	if err != nil {
		return nil, &LockError{err}
	}
	for attempt := 0; ; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		_, err := tryLock(tctx, raw, sess.Lease(), string(info))
		cancel()
		if err == nil {
			return &heldLock{sess: sess, s: s}, nil
		}
		if !errors.Is(err, concurrency.ErrLocked) {
			sess.Close()
			return nil, &LockError{err}
		}
		holder, lease, herr := lockHolder(ctx, raw)
		if herr != nil {
			sess.Close()
			return nil, &LockError{herr}
		}
		who := "an etcdplay run that has not written who it is"
		if holder != nil {
			who = holder.String()
		}
		switch {
		case attempt > 0:
		case holder != nil && holder.gone():
			s.Warnf("the cluster lock was held by %s, which no longer runs on this machine: breaking it", who)
			if err := revoke(ctx, raw, lease); err != nil {
				sess.Close()
				return nil, &LockError{err}
			}
			continue
		case c.BreakLock():
			s.Warnf("--break-lock: breaking the cluster lock of %s", who)
			if err := revoke(ctx, raw, lease); err != nil {
				sess.Close()
				return nil, &LockError{err}
			}
			continue
		}
		sess.Close()
		again := "the same command with --break-lock"
		if cmd := c.RunCommand(); cmd != "" {
			again = cmd + " --break-lock"
		}
		return nil, engine.Refuse("the cluster is locked by another etcdplay run: %s. Wait until it ends; if it is gone, its lock expires by itself within %ds, or take it now with: %s", who, LockTTL, again)
	}
}

// tryLock is concurrency.Mutex's TryLock with the holder written in the
// same transaction, not in a request after it: a key under LockPrefix on
// lease, the lock held when it is the oldest there; ErrLocked, its key
// deleted, when another is older. It returns the key.
func tryLock(ctx context.Context, raw *clientv3.Client, lease clientv3.LeaseID, holder string) (string, error) {
	key := fmt.Sprintf("%s/%x", LockPrefix, lease)
	owner := clientv3.OpGet(LockPrefix+"/", clientv3.WithFirstCreate()...)
	resp, err := raw.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, holder, clientv3.WithLease(lease)), owner).
		Else(clientv3.OpGet(key), owner).
		Commit()
	if err != nil {
		return "", err
	}
	mine := resp.Header.Revision
	if !resp.Succeeded {
		mine = resp.Responses[0].GetResponseRange().Kvs[0].CreateRevision
	}
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 0 || kvs[0].CreateRevision == mine {
		return key, nil
	}
	if _, err := raw.Delete(ctx, key); err != nil {
		return "", err
	}
	return "", concurrency.ErrLocked
}

// lockHolder reads who holds the lock: the key with the lowest create
// revision under the prefix, and its lease. A holder that has not written
// its Holder yet (it does so right after taking the lock) is waited for
// briefly; nil when there is none.
func lockHolder(ctx context.Context, raw *clientv3.Client) (*Holder, clientv3.LeaseID, error) {
	for i := 0; ; i++ {
		tctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		resp, err := raw.Get(tctx, LockPrefix+"/", clientv3.WithFirstCreate()...)
		cancel()
		if err != nil {
			return nil, 0, err
		}
		if len(resp.Kvs) == 0 {
			return nil, 0, nil
		}
		kv := resp.Kvs[0]
		if len(kv.Value) > 0 || i >= 10 {
			var h Holder
			if err := json.Unmarshal(kv.Value, &h); err != nil {
				return nil, clientv3.LeaseID(kv.Lease), nil
			}
			return &h, clientv3.LeaseID(kv.Lease), nil
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func revoke(ctx context.Context, raw *clientv3.Client, lease clientv3.LeaseID) error {
	tctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	_, err := raw.Revoke(tctx, lease)
	return err
}

// Whoami is this process as a change record names who started it:
// "root@ctl (pid 4242)".
func Whoami() string {
	h := self("")
	return fmt.Sprintf("%s@%s (pid %d)", h.User, h.Host, h.PID)
}

// LockHolder is who holds the cluster's lock now, nil when nobody does.
func LockHolder(ctx context.Context, s *Session, cl *Cluster) (*Holder, error) {
	raw, err := s.raw(ctx, cl.URL)
	if err != nil {
		return nil, err
	}
	h, _, err := lockHolder(ctx, raw)
	return h, err
}
