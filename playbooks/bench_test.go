//go:build linux

package playbooks_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
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
	first := e.mustPlay(b, "bootstrap")
	b.Logf("untimed bootstrap (installs etcd on a new lab): %s", breakdown(first))
	var etcd, total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e.wipe(b)
		b.StartTimer()
		r := e.mustPlay(b, "bootstrap")
		b.StopTimer()
		etcd += etcdWait(r)
		total += r.elapsed
		b.Logf("bootstrap %d: %s", i+1, breakdown(r))
	}
	report(b, etcd, total)
}

// BenchmarkReplace times replace of a live member by a spare host that
// has never run etcd or ran a member before (etcd-2 and etcd-4 trade
// places), including the snapshot and the new member's install.
func BenchmarkReplace(b *testing.B) {
	e := benchLab(b)
	e.mustPlay(b, "bootstrap")
	old, new := "etcd-2", "etcd-4"
	var etcd, total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := e.mustPlay(b, "replace", "-e", "old="+old, "-e", "new="+new)
		b.StopTimer()
		etcd += etcdWait(r)
		total += r.elapsed
		b.Logf("replace %d, %s by %s: %s", i+1, old, new, breakdown(r))
		old, new = new, old
		b.StartTimer()
	}
	b.StopTimer()
	report(b, etcd, total)
}

var (
	benchEnv    *labEnv
	benchLast   *lasting
	benchFailed bool // a cleanup after the benchmarks failed
)

// benchLab is one lab for every benchmark of the run (Go calls each with
// b.N 1 first), wiped of etcd for each: booting a lab again would cost
// more. TestMain destroys it after the last benchmark.
func benchLab(b *testing.B) *labEnv {
	if benchEnv == nil {
		benchLast = &lasting{TB: b}
		benchEnv = setupLab(benchLast)
	}
	benchEnv.wipe(b)
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
func (e *labEnv) wipe(tb testing.TB) {
	for name := range e.addrs {
		e.exec(tb, name, "systemctl disable --now etcd 2>/dev/null; rm -rf /var/lib/etcd/* /etc/etcd/etcd.conf; true")
	}
}

func report(b *testing.B, etcd, total time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(etcd.Milliseconds())/n, "etcd-ms/op")
	b.ReportMetric(float64((total-etcd).Milliseconds())/n, "overhead-ms/op")
}

// waitsOnEtcd says whether a task's time is etcd's rather than
// etcdplay's, from its results: systemd starting, stopping or restarting
// etcd returns when etcd says it is ready or has stopped (a new cluster
// has elected a leader, a member has joined, a leader has handed over);
// wait_healthy that needed more than one round, member_promote that had to
// wait for the learner to catch up, and a membership change retried while
// etcd refused it (its members had not been connected for 5s yet) waited
// on etcd. A check that passed at once counts as etcdplay's: its time is
// round trips.
func waitsOnEtcd(module string, results []event, progress []string) bool {
	for _, p := range progress {
		if strings.Contains(p, "refuses") {
			return true
		}
	}
	for _, r := range results {
		switch module {
		case "systemd":
			for _, verb := range []string{"start etcd.service", "stop etcd.service"} {
				if strings.Contains(r.Msg, verb) {
					return true
				}
			}
		case "wait_healthy":
			if n, _ := r.Data["rounds"].(float64); n > 1 {
				return true
			}
		case "member_promote":
			if n, _ := r.Data["attempts_promote"].(float64); n > 1 {
				return true
			}
		}
	}
	return false
}

type taskTime struct {
	module, pos string
	took        time.Duration
	etcd        bool
}

// tasks are the run's module calls with their durations, from the JSON
// events.
func tasks(r run) []taskTime {
	results := map[int][]event{}
	progress := map[int][]string{}
	var out []taskTime
	for _, ev := range r.events {
		switch ev.Type {
		case "host_result":
			results[ev.Task] = append(results[ev.Task], ev)
		case "progress":
			progress[ev.Task] = append(progress[ev.Task], ev.Msg)
		case "task_end":
			took := time.Duration(ev.Duration) * time.Millisecond
			out = append(out, taskTime{ev.Module, filepath.Base(ev.Pos), took, waitsOnEtcd(ev.Module, results[ev.Task], progress[ev.Task])})
		}
	}
	return out
}

func etcdWait(r run) time.Duration {
	var d time.Duration
	for _, t := range tasks(r) {
		if t.etcd {
			d += t.took
		}
	}
	return d
}

// breakdown is a run's time: total, etcd's, the rest, and the slowest
// tasks.
func breakdown(r run) string {
	ts := tasks(r)
	etcd := etcdWait(r)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].took > ts[j].took })
	var top []string
	for _, t := range ts[:min(6, len(ts))] {
		mark := ""
		if t.etcd {
			mark = "*"
		}
		top = append(top, fmt.Sprintf("%s%s (%s) %s", t.module, mark, t.pos, t.took.Round(time.Millisecond)))
	}
	return fmt.Sprintf("%s total, %s waiting on etcd, %s etcdplay (%d tasks; slowest: %s; * = etcd's time)",
		r.elapsed.Round(time.Millisecond), etcd.Round(time.Millisecond), (r.elapsed - etcd).Round(time.Millisecond),
		len(ts), strings.Join(top, ", "))
}
