//go:build linux

package playbooks_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/lab/labtest"
)

// Benchmarks of the shipped playbooks in the lab, side by side with their
// floors (floor_test.go): each round runs the floor, then etcdplay, on the
// same hosts, and the benchmark reports the medians (floor-ms,
// etcdplay-ms), their ratio, and how much of etcdplay's time was spent
// waiting on etcd itself (etcd-wait-ms: members starting and electing a
// leader, a leader handing over, a learner catching up; see waitsOnEtcd).
// Each round's breakdown (the slowest tasks) is logged. Run with make
// bench, or:
//
//	go test -run '^$' -bench . -benchtime 5x ./playbooks

// BenchmarkBootstrap: three members on hosts that have etcd installed and
// no cluster. The floor starts the members etcdplay configured; etcdplay
// runs bootstrap on hosts wiped of data and etcd.conf; who goes first
// alternates.
func BenchmarkBootstrap(b *testing.B) {
	e := benchLab(b)
	first := e.MustPlay(b, "bootstrap")
	b.Logf("untimed bootstrap (installs etcd on a new lab): %s", labtest.Breakdown(first))
	cs := dialAll(b, e)
	members := []string{"etcd-1", "etcd-2", "etcd-3"}
	var s sideBySide
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		play := func() labtest.Run {
			wipe(b, e)
			b.StartTimer()
			r := e.MustPlay(b, "bootstrap")
			b.StopTimer()
			return r
		}
		// Who goes first alternates, as in BenchmarkReplace.
		var floor time.Duration
		var r labtest.Run
		if i%2 == 0 {
			floor = bootstrapFloor(b, e, cs, members)
			r = play()
		} else {
			r = play()
			floor = bootstrapFloor(b, e, cs, members)
		}
		s.add(floor, r)
		fmt.Fprintf(os.Stderr, "bootstrap round %d: floor %s; etcdplay %s\n", i+1, floor.Round(time.Millisecond), labtest.Breakdown(r))
	}
	s.report(b, "bootstrap")
}

// BenchmarkReplace: a healthy member replaced by a spare host with etcd
// installed and no data, snapshot, lock and gates included on etcdplay's
// side. Each round the member moves from A to B and back, the floor
// taking one step and etcdplay the other, who goes first alternating:
// so each adds each host in half the rounds, and a host that starts
// slower (etcd's own stalls of a new member) weighs on both alike.
func BenchmarkReplace(b *testing.B) {
	e := benchLab(b)
	e.MustPlay(b, "bootstrap")
	e.MustPlay(b, "replace", "-e", "old=etcd-2", "-e", "new=etcd-4") // etcd on etcd-4, untimed
	e.MustPlay(b, "replace", "-e", "old=etcd-4", "-e", "new=etcd-2")
	cs := dialAll(b, e)
	rest := []string{"etcd-1", "etcd-3"}
	a, spare := "etcd-2", "etcd-4"
	var s sideBySide
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		floor := func(old, new string) time.Duration {
			settle()
			return replaceFloor(b, e, cs, old, new, rest)
		}
		play := func(old, new string) labtest.Run {
			e.Exec(b, new, "systemctl stop etcd; "+wipeData) // a spare, as the floor's
			settle()
			b.StartTimer()
			r := e.MustPlay(b, "replace", "-e", "old="+old, "-e", "new="+new)
			b.StopTimer()
			return r
		}
		var f time.Duration
		var r labtest.Run
		fo, fn, po, pn := a, spare, spare, a
		if i%2 == 0 {
			f = floor(fo, fn)
			r = play(po, pn)
		} else {
			fo, fn, po, pn = spare, a, a, spare
			r = play(po, pn)
			f = floor(fo, fn)
		}
		s.add(f, r)
		fmt.Fprintf(os.Stderr, "replace round %d: floor %s (%s by %s); etcdplay replace %s by %s: %s\n", i+1, f.Round(time.Millisecond), fo, fn, po, pn, labtest.Breakdown(r))
	}
	s.report(b, "replace")
}

// settle waits out etcd's refusal of a membership change until its
// members have been connected for 5 s (etcdserver.HealthInterval), which
// the previous round's new member has not: an operator's replace does
// not come seconds after another, and both sides would wait it out.
func settle() { time.Sleep(5500 * time.Millisecond) }

var (
	benchEnv    *labtest.Env
	benchLast   *lasting
	benchFailed bool // a cleanup after the benchmarks failed
)

// benchLab is one lab for every benchmark of the run (Go calls each with
// b.N 1 first), wiped of etcd for each: booting a lab again would cost
// more. TestMain destroys it after the last benchmark.
func benchLab(b *testing.B) *labtest.Env {
	if benchEnv == nil {
		benchLast = &lasting{TB: b}
		benchEnv = setupLab(benchLast, e2eLab)
	}
	wipe(b, benchEnv)
	return benchEnv
}

// lasting is the testing.TB of what outlives the benchmark that made it:
// its cleanups run when run is called, its temporary directory lasts
// until then, and it logs to stderr (the benchmark's log is closed by
// then).
type lasting struct {
	testing.TB
	fs []func()
}

func (l *lasting) Cleanup(f func())           { l.fs = append(l.fs, f) }
func (l *lasting) Log(args ...any)            { fmt.Fprintln(os.Stderr, args...) }
func (l *lasting) Logf(f string, args ...any) { fmt.Fprintf(os.Stderr, f+"\n", args...) }
func (l *lasting) Errorf(f string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: "+f+"\n", args...)
	benchFailed = true
}
func (l *lasting) TempDir() string {
	d, err := os.MkdirTemp("", "etcdplay-bench")
	if err != nil {
		l.Fatal(err)
	}
	l.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (l *lasting) run() {
	for i := len(l.fs) - 1; i >= 0; i-- {
		l.fs[i]()
	}
	l.fs = nil
}

// wipe stops etcd on every host and removes its data and etcd.conf; the
// binaries, user, unit and the empty data dirs stay, as the floor's.
func wipe(tb testing.TB, e *labtest.Env) {
	for name := range e.Addrs {
		e.Exec(tb, name, "systemctl disable --now etcd 2>/dev/null; "+wipeData+"; rm -f /etc/etcd/etcd.conf; true")
	}
}
