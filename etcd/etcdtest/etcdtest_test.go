package etcdtest

import (
	"context"
	"testing"
	"time"
)

func TestStartThreeAndTLS(t *testing.T) {
	for _, o := range []Options{{}, {TLS: true}} {
		start := time.Now()
		c := Start(t, 3, o)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ml, err := c.Client().MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ml.Members) != 3 {
			t.Fatalf("%d members, want 3", len(ml.Members))
		}
		if err := c.Put(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
		t.Logf("TLS=%v: 3 members up and written in %s", o.TLS, time.Since(start))
	}
}
