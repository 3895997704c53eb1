//go:build linux

package playbooks_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/lab/labtest"
)

// Benchmarks of the shipped playbooks in the lab, from the command's start
// to a healthy cluster. Besides ns/op (the whole command, wall clock) they
// report how much of it was spent waiting on etcd itself (etcd-ms/op: the
// members starting and electing a leader, a leader handing over as it
// stops, a learner catching up, the cluster settling; see waitsOnEtcd)
// and the rest, etcdplay's own overhead (overhead-ms/op: SSH round trips,
// reading and writing files, planning, checks). Run with make bench, or:
//
//	go test -run '^$' -bench . -benchtime 5x ./playbooks

// BenchmarkBootstrap times bootstrap of three members on hosts that have
// etcd installed and no cluster (each iteration wipes the one before).
func BenchmarkBootstrap(b *testing.B) {
	e := benchLab(b)
	first := e.MustPlay(b, "bootstrap")
	b.Logf("untimed bootstrap (installs etcd on a new lab): %s", labtest.Breakdown(first))
	var etcd, total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		wipe(b, e)
		b.StartTimer()
		r := e.MustPlay(b, "bootstrap")
		b.StopTimer()
		etcd += labtest.EtcdWait(r)
		total += r.Elapsed
		b.Logf("bootstrap %d: %s", i+1, labtest.Breakdown(r))
	}
	report(b, etcd, total)
}

// BenchmarkReplace times replace of a live member by a spare host that
// has never run etcd or ran a member before (etcd-2 and etcd-4 trade
// places), including the snapshot and the new member's install.
func BenchmarkReplace(b *testing.B) {
	e := benchLab(b)
	e.MustPlay(b, "bootstrap")
	old, new := "etcd-2", "etcd-4"
	var etcd, total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := e.MustPlay(b, "replace", "-e", "old="+old, "-e", "new="+new)
		b.StopTimer()
		etcd += labtest.EtcdWait(r)
		total += r.Elapsed
		b.Logf("replace %d, %s by %s: %s", i+1, old, new, labtest.Breakdown(r))
		old, new = new, old
		b.StartTimer()
	}
	b.StopTimer()
	report(b, etcd, total)
}

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
// binaries, user and unit stay.
func wipe(tb testing.TB, e *labtest.Env) {
	for name := range e.Addrs {
		e.Exec(tb, name, "systemctl disable --now etcd 2>/dev/null; rm -rf /var/lib/etcd/* /etc/etcd/etcd.conf; true")
	}
}

func report(b *testing.B, etcd, total time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(etcd.Milliseconds())/n, "etcd-ms/op")
	b.ReportMetric(float64((total-etcd).Milliseconds())/n, "overhead-ms/op")
}
