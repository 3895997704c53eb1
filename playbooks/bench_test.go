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
// runs bootstrap on hosts wiped of data and etcd.conf.
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
		floor := bootstrapFloor(b, e, cs, members)
		wipe(b, e)
		b.StartTimer()
		r := e.MustPlay(b, "bootstrap")
		b.StopTimer()
		s.add(floor, r)
		fmt.Fprintf(os.Stderr, "bootstrap round %d: floor %s; etcdplay %s\n", i+1, floor.Round(time.Millisecond), labtest.Breakdown(r))
	}
	s.report(b, "bootstrap")
}

// BenchmarkReplace: a healthy member replaced by a spare host with etcd
// installed and no data. Each round the floor replaces the member on A by
// B, and etcdplay replace puts it back on A, snapshot, lock and gates
// included.
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
		settle()
		floor := replaceFloor(b, e, cs, a, spare, rest)
		e.Exec(b, a, "systemctl stop etcd; "+wipeData) // the spare now, as the floor's was
		settle()
		b.StartTimer()
		r := e.MustPlay(b, "replace", "-e", "old="+spare, "-e", "new="+a)
		b.StopTimer()
		s.add(floor, r)
		fmt.Fprintf(os.Stderr, "replace round %d: floor %s (%s by %s); etcdplay replace %s by %s: %s\n", i+1, floor.Round(time.Millisecond), a, spare, spare, a, labtest.Breakdown(r))
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
