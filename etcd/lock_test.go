package etcd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd/etcdtest"
)

// TestTryLock: the holder is in the key that takes the lock, from its
// first revision; a second taker is refused and leaves no key behind; a
// lock taken by go.etcd.io's concurrency.Mutex (as older etcdplay runs
// take it) and this one keep each other out; release frees the lock.
func TestTryLock(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := c.Client()
	lease := func() *concurrency.Session {
		t.Helper()
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(LockTTL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Orphan() })
		return s
	}
	keys := func() []string {
		t.Helper()
		resp, err := cli.Get(ctx, LockPrefix+"/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, kv := range resp.Kvs {
			ks = append(ks, string(kv.Key))
		}
		return ks
	}

	a := lease()
	key, err := tryLock(ctx, cli, a.Lease(), `{"user":"alice","pid":1}`)
	if err != nil {
		t.Fatalf("first tryLock: %v", err)
	}
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Version != 1 || resp.Kvs[0].Lease != int64(a.Lease()) {
		t.Fatalf("the lock's key: %v, %v; want one version, written with its holder, on the lease", resp, err)
	}
	if h, _, err := lockHolder(ctx, cli); err != nil || h == nil || h.User != "alice" {
		t.Fatalf("holder: %+v, %v; want alice", h, err)
	}
	if again, err := tryLock(ctx, cli, a.Lease(), `{"user":"alice","pid":1}`); err != nil || again != key {
		t.Errorf("the holder taking it again: %q, %v; want its own key", again, err)
	}

	b := lease()
	if _, err := tryLock(ctx, cli, b.Lease(), `{"user":"bob","pid":2}`); !errors.Is(err, concurrency.ErrLocked) {
		t.Fatalf("second tryLock: %v, want ErrLocked", err)
	}
	if ks := keys(); len(ks) != 1 || ks[0] != key {
		t.Errorf("keys after a refused tryLock: %q, want only the holder's %q", ks, key)
	}
	if err := concurrency.NewMutex(b, LockPrefix).TryLock(ctx); !errors.Is(err, concurrency.ErrLocked) {
		t.Errorf("concurrency.Mutex while this lock is held: %v, want ErrLocked", err)
	}

	(&heldLock{sess: a, s: NewSession(ctx, nil), urls: []string{c.Members[0].ClientURL}}).release()
	if ks := keys(); len(ks) != 0 {
		t.Fatalf("keys after release: %q, want none", ks)
	}
	if ttl, err := cli.TimeToLive(ctx, a.Lease()); err != nil || ttl.TTL > 0 {
		t.Errorf("the lease after release: %v, %v; want it revoked", ttl, err)
	}

	m := concurrency.NewMutex(b, LockPrefix)
	if err := m.TryLock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tryLock(ctx, cli, lease().Lease(), `{"user":"carol","pid":3}`); !errors.Is(err, concurrency.ErrLocked) {
		t.Errorf("tryLock while a concurrency.Mutex holds the lock: %v, want ErrLocked", err)
	}
}

// TestLockThroughAMemberThatGoes: the lock asked for through a member
// that stops answering is asked for through the next target (ErrTryNext);
// through the last target, or a member that still answers, it is a
// refusal that says the cluster must answer writes; a lock another run
// holds is that refusal's own.
func TestLockThroughAMemberThatGoes(t *testing.T) {
	c, ctx, s, u, cli := lockCluster(t)
	cl := &Cluster{URL: u, Client: cli, ID: 1}
	noSpace := func() string { return "etcdplay run free_space" }
	// A lock the member failed to give: what takeLock returns when its
	// lease grant gets no answer.
	grant := func() error {
		gctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := cli.Grant(gctx, LockTTL)
		if err == nil {
			t.Fatal("lease grant of a stopped member: no error")
		}
		return &LockError{err}
	}
	refused := func(err error) bool {
		var r *engine.RefusedError
		return errors.As(err, &r) && strings.Contains(err.Error(), "a membership change needs a cluster that answers writes")
	}

	if err := lockFailure(ctx, s, cl, &LockError{context.DeadlineExceeded}, "removing etcd-2", false, noSpace); !refused(err) {
		t.Errorf("a lock failure through a member that answers: %v, want the refusal", err)
	}
	locked := engine.Refuse("the cluster is locked by another etcdplay run")
	if err := lockFailure(ctx, s, cl, locked, "removing etcd-2", false, noSpace); err != locked {
		t.Errorf("a lock another run holds: %v, want that refusal unchanged", err)
	}

	c.Members[0].Stop()
	lerr := grant()
	if err := lockFailure(ctx, s, cl, lerr, "removing etcd-2", false, noSpace); !errors.Is(err, engine.ErrTryNext) || !strings.Contains(err.Error(), "stopped answering while the lock was taken") {
		t.Errorf("through a member that stopped, not the last target: %v, want the next target tried", err)
	}
	if err := lockFailure(ctx, s, cl, lerr, "removing etcd-2", true, noSpace); !refused(err) {
		t.Errorf("through a member that stopped, the last target: %v, want the refusal", err)
	}
}

// TestReleaseThroughAnotherMember: a lock taken through a member that
// is down by the end of the run (the run stopped it) is freed through
// another member, not left to its lease's TTL, which would refuse the
// next run for up to LockTTL seconds.
func TestReleaseThroughAnotherMember(t *testing.T) {
	c, ctx, s, u, raw := lockCluster(t)
	sess, err := concurrency.NewSession(raw, concurrency.WithTTL(LockTTL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tryLock(ctx, raw, sess.Lease(), `{"user":"alice","pid":1}`); err != nil {
		t.Fatal(err)
	}
	c.Members[0].Stop()
	l := &heldLock{sess: sess, s: s, urls: []string{u, c.Members[1].ClientURL, c.Members[2].ClientURL}}
	l.release()
	other := c.Client(c.Members[1].ClientURL)
	resp, err := other.Get(ctx, LockPrefix+"/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 0 {
		t.Errorf("the lock's keys after release with its member down: %v, %v; want none", resp.Kvs, err)
	}
}

// lockCluster is a cluster of three members for the lock's tests, a
// session and the client of member 0 at u, through which the lock goes.
func lockCluster(t *testing.T) (*etcdtest.Cluster, context.Context, *Session, string, *clientv3.Client) {
	t.Helper()
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s := NewSession(ctx, nil)
	u := c.Members[0].ClientURL
	cli, err := s.raw(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	return c, ctx, s, u, cli
}
