package etcd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/etcd/etcdtest"
)

// TestWALMetadataFromRealMember reads the identity from the WAL a real
// embedded etcd member wrote and compares it with what the cluster says.
func TestWALMetadataFromRealMember(t *testing.T) {
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ml, err := c.Client().MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		segs, _ := filepath.Glob(filepath.Join(WALDir(m.Dir, ""), "*.wal"))
		sort.Strings(segs)
		if len(segs) == 0 {
			t.Fatalf("%s: no WAL segment in %s", m.Name, m.Dir)
		}
		b, err := os.ReadFile(segs[0])
		if err != nil {
			t.Fatal(err)
		}
		meta, err := ParseWALMetadata(b[:WALHeadBytes])
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if meta.MemberID != m.ID() || meta.ClusterID != ml.Header.ClusterId {
			t.Errorf("%s: WAL says member %x cluster %x, cluster says member %x cluster %x",
				m.Name, meta.MemberID, meta.ClusterID, m.ID(), ml.Header.ClusterId)
		}
		// A damaged metadata record is an error, not a wrong identity.
		bad := append([]byte(nil), b[:WALHeadBytes]...)
		for i := 30; i < 60; i++ {
			bad[i] ^= 0xff
		}
		if got, err := ParseWALMetadata(bad); err == nil {
			t.Errorf("%s: damaged WAL parsed as member %x cluster %x", m.Name, got.MemberID, got.ClusterID)
		}
	}
	if _, err := ParseWALMetadata(make([]byte, WALHeadBytes)); !errors.Is(err, ErrNoWALMetadata) {
		t.Errorf("zeros: %v, want ErrNoWALMetadata", err)
	}
	if _, err := ParseWALMetadata(nil); !errors.Is(err, ErrNoWALMetadata) {
		t.Errorf("empty: %v, want ErrNoWALMetadata", err)
	}
}
