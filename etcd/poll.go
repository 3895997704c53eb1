package etcd

import "time"

// firstPoll is the first pause of a wait that polls etcd: most waits
// (a learner catching up, a cluster electing its leader, members
// connecting) end within a few hundred milliseconds, and a fixed pause
// of a second made each one last a second.
const firstPoll = 50 * time.Millisecond

// PollPause is the pause before attempt n+1 of a wait (n from 1): 50 ms,
// doubling, at most max, so a short wait ends soon after etcd is ready
// and a long one polls no more often than max.
func PollPause(n int, max time.Duration) time.Duration {
	d := firstPoll
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
