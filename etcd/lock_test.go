package etcd

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

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

	(&heldLock{raw: cli, sess: a, key: key}).release()
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
