package etcd

import (
	"context"
	"errors"
	"testing"
)

// TestReconfigureRetries: etcd's refusal for lack of recent connectivity
// is retried until the change goes through, telling the operator once,
// not once a try; any other error, or a change the gate did not find
// safe, is not retried.
func TestReconfigureRetries(t *testing.T) {
	unhealthy := errors.New("etcdserver: unhealthy cluster")
	var told int
	s := &Session{Progress: func(string, ...any) { told++ }}
	tries := 0
	err := Reconfigure(context.Background(), s, "add etcd-4", true, func(context.Context) error {
		if tries++; tries < 6 {
			return unhealthy
		}
		return nil
	})
	if err != nil || tries != 6 {
		t.Errorf("refused five times, then accepted: %v after %d tries", err, tries)
	}
	if told != 1 {
		t.Errorf("told the operator %d times in five quick retries, want once", told)
	}

	tries = 0
	other := errors.New("etcdserver: peerURL exists")
	if err := Reconfigure(context.Background(), s, "add etcd-4", true, func(context.Context) error { tries++; return other }); err == nil || tries != 1 {
		t.Errorf("another error: %v after %d tries, want it at once", err, tries)
	}
	tries = 0
	if err := Reconfigure(context.Background(), s, "add etcd-4", false, func(context.Context) error { tries++; return unhealthy }); err == nil || tries != 1 {
		t.Errorf("retry=false: %v after %d tries, want no retry", err, tries)
	}
}
