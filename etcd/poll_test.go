package etcd

import (
	"testing"
	"time"
)

func TestPollPause(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		n    int
		max  time.Duration
		want time.Duration
	}{
		{1, time.Second, 50 * ms},
		{2, time.Second, 100 * ms},
		{4, time.Second, 400 * ms},
		{5, time.Second, 800 * ms},
		{6, time.Second, time.Second},
		{60, time.Second, time.Second},
		{1, 20 * ms, 20 * ms},
	} {
		if got := PollPause(tc.n, tc.max); got != tc.want {
			t.Errorf("PollPause(%d, %s) = %s, want %s", tc.n, tc.max, got, tc.want)
		}
	}
}
