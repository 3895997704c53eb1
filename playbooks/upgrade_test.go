//go:build linux

package playbooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/lab/labtest"
)

var members3 = []string{"etcd-1", "etcd-2", "etcd-3"}

// withCache gives e's runs a release cache of the test's own, empty.
func withCache(t *testing.T, e *labtest.Env) string {
	dir := t.TempDir()
	e.Environ = []string{etcd.EnvCacheDir + "=" + dir}
	return dir
}

// release are the arguments that install etcd version from rel.
func release(rel *labtest.ReleaseServer, version string) []string {
	return []string{"-e", "etcd_version=" + version, "-e", "etcd_release_url=" + rel.URL}
}

// wantVersions fails unless every member on hosts runs etcd server and
// says the cluster runs at cluster, as etcd's own /version says it.
func wantVersions(t *testing.T, e *labtest.Env, server, cluster string, hosts ...string) {
	t.Helper()
	for _, h := range hosts {
		v := versionOf(t, e, h)
		if v.Server != server || v.Cluster != cluster {
			t.Errorf("%s: etcd %s, cluster version %s; want %s and %s", h, v.Server, v.Cluster, server, cluster)
		}
	}
}

func versionOf(t *testing.T, e *labtest.Env, host string) etcd.Versions {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.Endpoints(host)[0]+"/version", nil)
	resp, err := e.HTTPClient(t).Do(req)
	if err != nil {
		t.Fatalf("%s/version: %v", host, err)
	}
	defer resp.Body.Close()
	var v etcd.Versions
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s/version: %v", host, err)
	}
	return v
}

// binariesOf are the SHA-256 of the etcd binaries on host.
func binariesOf(t *testing.T, e *labtest.Env, host string) string {
	return e.Exec(t, host, "cd /usr/local/bin && sha256sum etcd etcdctl etcdutl")
}

// TestInstallByVersion bootstraps a cluster from a release fetched by
// version from a release server on loopback, laid out as etcd's are
// (made of the pinned build): the binaries on the hosts are the
// tarball's. A corrupted tarball, a wrong checksum and an unknown version
// are refused before any host changes and leave nothing in the cache; a
// second run takes the release from the cache, and a file URL works.
func TestInstallByVersion(t *testing.T) {
	t.Parallel()
	e := upgradeLab.boot(t, 4, "", false)
	rel := labtest.ServeReleases(t, map[string]string{"v3.6.16": e.EtcdDir})
	cache := withCache(t, e)
	before := e.HostStates(t, members3...)
	refused := func(what, want string, args ...string) {
		t.Helper()
		r := e.Play(t, "bootstrap", args...)
		if r.Code != 5 || !strings.Contains(r.Out, want) {
			t.Errorf("%s: exit %d, want 5 saying %q\n%s", what, r.Code, want, r.Out)
		}
		e.WantUnchanged(t, before)
		if left, _ := filepath.Glob(filepath.Join(cache, "releases", "*", "*")); len(left) > 0 {
			t.Errorf("%s: refused, yet the cache holds %v", what, left)
		}
	}
	rel.Corrupt(t, "v3.6.16")
	refused("a corrupted tarball", "the download is damaged", release(rel, "v3.6.16")...)
	rel.Corrupt(t, "v3.6.16")
	rel.WrongSum(t, "v3.6.16")
	refused("a wrong checksum", fmt.Sprintf("the release's SHA256SUMS says %064x", 1), release(rel, "v3.6.16")...)
	rel.Fix(t, "v3.6.16")
	refused("an unknown version", "no etcd release v3.6.99", release(rel, "v3.6.99")...)

	r := e.MustPlay(t, "bootstrap", release(rel, "v3.6.16")...)
	t.Logf("bootstrap by version: %s; %s", r.Elapsed.Round(time.Millisecond), labtest.Breakdown(r))
	cmd := exec.Command("sha256sum", "etcd", "etcdctl", "etcdutl")
	cmd.Dir = e.EtcdDir
	wantSums, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := string(wantSums)
	for _, h := range members3 {
		if got := binariesOf(t, e, h); got != want {
			t.Errorf("%s has\n%s want the tarball's\n%s", h, got, want)
		}
	}
	e.WaitHealthy(t, members3...)
	wantVersions(t, e, "3.6.16", "3.6.0", members3...)

	// The cache has it: a release URL that answers nothing is not asked.
	again := e.MustPlay(t, "bootstrap", "-e", "etcd_version=v3.6.16", "-e", "etcd_release_url=http://127.0.0.1:1")
	if n := again.Changed(); n != 0 {
		t.Errorf("bootstrap again from the cache changed %d things", n)
	}
	// A file URL, into an empty cache.
	withCache(t, e)
	if r := e.MustPlay(t, "bootstrap", "-e", "etcd_version=v3.6.16", "-e", "etcd_release_url="+rel.FileURL); r.Changed() != 0 {
		t.Errorf("bootstrap from a file URL changed %d things", r.Changed())
	}

	// A replace by version onto etcd-4, whose preflight fetches and
	// checks the release: a damaged download is refused with nothing
	// changed, a sound one installed.
	withCache(t, e)
	rel.Corrupt(t, "v3.6.16")
	all := append(slices.Clone(members3), "etcd-4")
	before = e.HostStates(t, all...)
	if r := e.Play(t, "replace", append(release(rel, "v3.6.16"), "-e", "old=etcd-3", "-e", "new=etcd-4")...); r.Code != 5 || !strings.Contains(r.Out, "the download is damaged") {
		t.Errorf("replace from a damaged release: exit %d, want 5 saying so\n%s", r.Code, r.Out)
	}
	e.WantUnchanged(t, before)
	rel.Corrupt(t, "v3.6.16") // sound again
	e.MustPlay(t, "replace", append(release(rel, "v3.6.16"), "-e", "old=etcd-3", "-e", "new=etcd-4")...)
	if got := binariesOf(t, e, "etcd-4"); got != want {
		t.Errorf("etcd-4 has\n%s want the tarball's\n%s", got, want)
	}
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-2", "etcd-4")
}

// TestUpgrade takes a 3-member cluster from etcd 3.5.35 to 3.6.16 and
// back: installing another version under running members is refused and
// names the upgrade; an upgrade killed once a member has stopped, then
// interrupted once a member runs 3.6, is finished by the command the
// interrupted run printed; a downgrade to 3.5 follows etcd's procedure;
// and the upgrade the refusal named runs under a steady writer: no
// acknowledged write lost, the leader upgraded last, the cluster version
// 3.6 at the end. The figures are logged (grep "upgraded").
func TestUpgrade(t *testing.T) {
	t.Parallel()
	prev := labtest.FindEtcdPrev()
	if prev == "" {
		t.Skip("no etcd 3.5 build: make etcd-prev builds one")
	}
	// On client and peer TLS with client-certificate auth, as production
	// clusters are upgraded.
	e := upgradeLab.boot(t, 3, "[all:vars]\netcd_tls=auto\n", true)
	rel := labtest.ServeReleases(t, map[string]string{"v3.6.16": e.EtcdDir, "v3.5.35": prev})
	withCache(t, e)
	e.MustPlay(t, "bootstrap", "-e", "etcd_src="+prev)
	kv := labtest.PutKeys(t, e.Client(t, members3...), "upgrade", 100)
	wantVersions(t, e, "3.5.35", "3.5.0", members3...)

	var remedy string
	t.Run("install refused under running members", func(t *testing.T) {
		before := e.HostStates(t, members3...)
		r := e.Play(t, "bootstrap") // the pinned 3.6.16, the lab's etcd_src
		m := regexp.MustCompile(`etcd 3\.5\.35 runs on etcd-\d and the binaries to install are etcd 3\.6\.16: .*: (etcdplay run upgrade [^;]*); nothing was changed`).FindStringSubmatch(r.Out)
		if r.Code != 5 || m == nil {
			t.Fatalf("exit %d, want 5 naming the upgrade:\n%s", r.Code, r.Out)
		}
		e.WantUnchanged(t, before)
		remedy = m[1]
	})

	t.Run("interrupted", func(t *testing.T) {
		up := release(rel, "v3.6.16")
		// Killed as the first member has stopped: it is down, on 3.5.
		stopped := ""
		_, hit := e.PlayUntil(t, func(ev labtest.Event) bool {
			if ev.Type == "host_result" && strings.Contains(ev.Msg, "stop etcd.service") {
				stopped = ev.Host
			}
			return stopped != "" && ev.Type == "task_end"
		}, func(p *os.Process) { p.Signal(syscall.SIGKILL) }, "upgrade", up...)
		if !hit {
			t.Fatal("the upgrade ended before a member stopped")
		}
		if slices.Contains(e.Active(t, members3...), stopped) {
			t.Fatalf("%s runs, though the upgrade was killed as it stopped", stopped)
		}
		// Run again, and interrupted (Ctrl-C) once that member is back
		// on 3.6.16 and the cluster healthy.
		started := false
		r, hit := e.PlayUntil(t, func(ev labtest.Event) bool {
			if ev.Type == "host_result" && ev.Host == stopped && strings.Contains(ev.Msg, "start etcd.service") {
				started = true
			}
			return started && ev.Type == "task_end" && ev.Module == "wait_healthy"
		}, func(p *os.Process) { p.Signal(syscall.SIGINT) }, "upgrade", up...)
		if !hit || r.Code != 130 {
			t.Fatalf("second run: hit %v, exit %d, want 130 (interrupted once %s was back)\n%s", hit, r.Code, stopped, r.Out)
		}
		if v := versionOf(t, e, stopped); v.Server != "3.6.16" || v.Cluster != "3.5.0" {
			t.Errorf("%s: %+v after the second run; want 3.6.16 in a 3.5 cluster", stopped, v)
		}
		// The report says who runs what, and the command that continues.
		report := strings.Join(r.Recovery(), "\n")
		if !regexp.MustCompile(stopped+`\s+3\.6\.16`).MatchString(report) || !strings.Contains(report, "cluster version 3.5.0") {
			t.Errorf("the interrupted run's report does not say who runs what:\n%s", report)
		}
		status := e.MustPlay(t, "status")
		_, rows := labtest.PrintedTable(t, status, "ID")
		for _, row := range rows {
			if row["CLUSTER VERSION"] != "3.5.0" || (row["NAME"] == stopped) != (row["VERSION"] == "3.6.16") {
				t.Errorf("status during the upgrade: %v", row)
			}
		}
		again := e.RunCommand(t, r.Remedy(t, "to continue: ")) // -o json, as the interrupted run
		if again.Code != 0 {
			t.Fatalf("the command the interrupted run printed: exit %d\n%s", again.Code, again.Out)
		}
		wantVersions(t, e, "3.6.16", "3.6.0", members3...)
		labtest.WantKeys(t, e.Client(t, members3...), kv)
	})

	t.Run("downgrade", func(t *testing.T) {
		r := e.MustPlay(t, "upgrade", release(rel, "v3.5.35")...)
		t.Logf("downgrade 3.6.16 to 3.5.35 in %s", r.Elapsed.Round(time.Millisecond))
		if !strings.Contains(r.Out, "a downgrade") {
			t.Errorf("not run as a downgrade:\n%s", r.Out)
		}
		wantVersions(t, e, "3.5.35", "3.5.0", members3...)
		labtest.WantKeys(t, e.Client(t, members3...), kv)
	})

	t.Run("under a writer", func(t *testing.T) {
		if remedy == "" {
			t.Skip("no command from the refusal")
		}
		e.MakeLeader(t, "etcd-2", members3...)
		w := labtest.StartWriter(e.Client(t, members3...), "writer")
		r := e.RunCommand(t, remedy) // the command the refused install named (with -o json, as the run it refused)
		st := w.Stop()
		if r.Code != 0 {
			t.Fatalf("%s: exit %d\n%s", remedy, r.Code, r.Out)
		}
		steps := memberSteps(r)
		var order []string
		for _, s := range steps {
			worst, n := st.Worst(s.start, s.end)
			t.Logf("upgraded %s in %s (stop to healthy and caught up); the writer's longest write meanwhile took %s (of %d)",
				s.host, s.end.Sub(s.start).Round(time.Millisecond), worst.Round(time.Millisecond), n)
			order = append(order, s.host)
		}
		t.Logf("upgraded 3.5.35 to 3.6.16 under a writer in %s: writes acknowledged %d, failed %d, retried %d (%s), longest %s; %s",
			r.Elapsed.Round(time.Millisecond), len(st.KV), len(st.Failed), st.Retried, st.RetryKinds(), st.MaxStall.Round(time.Millisecond), labtest.Breakdown(r))
		if len(order) != 3 || order[2] != "etcd-2" || !strings.Contains(r.Out, "etcd-2 led: moved leadership to") {
			t.Errorf("members upgraded in the order %v; want the leader etcd-2 last, its leadership moved first\n%s", order, r.Out)
		}
		if len(st.Failed) > 0 {
			t.Errorf("writes failed beyond the client's retries: %v", st.Failed)
		}
		wantVersions(t, e, "3.6.16", "3.6.0", members3...)
		c := e.Client(t, members3...)
		labtest.WantKeys(t, c, st.KV)
		labtest.WantKeys(t, c, kv)
	})
}

// memberStep is one member's turn in an upgrade run: from its stop to
// the cluster healthy again.
type memberStep struct {
	host       string
	start, end time.Time
}

// memberSteps are the members' turns of an upgrade run, in order, from
// its JSON events: a systemd call that stopped etcd starts one, the
// wait_healthy after the start ends it.
func memberSteps(r labtest.Run) []memberStep {
	var steps []memberStep
	var cur *memberStep
	started := map[int]time.Time{}
	starting := false
	for _, ev := range r.Events {
		switch {
		case ev.Type == "task_start":
			started[ev.Task] = ev.Time
		case ev.Type == "host_result" && strings.Contains(ev.Msg, "stop etcd.service"):
			cur = &memberStep{host: ev.Host, start: started[ev.Task]}
		case ev.Type == "host_result" && cur != nil && strings.Contains(ev.Msg, "start etcd.service"):
			starting = true
		case ev.Type == "task_end" && ev.Module == "wait_healthy" && cur != nil && starting:
			cur.end = ev.Time
			steps = append(steps, *cur)
			cur, starting = nil, false
		}
	}
	return steps
}

// TestUpgradeRefused: refused with nothing changed, and with the fix: a
// two-minor jump, and a 3.5 cluster whose v2 store holds data (written by
// a v2 client, with ETCD_ENABLE_V2=true, which 3.6 does not know either).
// The fix the refusal gives, done with the commands it names, lets the
// same upgrade through. Then a downgrade loses every member as it is
// about to begin: it stops, says the cluster cannot be read and names the
// snapshot it saved first, whose restore command brings the keys back.
func TestUpgradeRefused(t *testing.T) {
	t.Parallel()
	prev := labtest.FindEtcdPrev()
	if prev == "" {
		t.Skip("no etcd 3.5 build: make etcd-prev builds one")
	}
	e := upgradeLab.boot(t, 3, "", false)
	// v3.7.0 is the pinned build under a later release's name: the step
	// is judged from the versions before anything is installed.
	rel := labtest.ServeReleases(t, map[string]string{"v3.6.16": e.EtcdDir, "v3.7.0": e.EtcdDir, "v3.5.35": prev})
	withCache(t, e)
	from := []string{"-e", "etcd_src=" + prev}
	settings := func(s string) []string { return append(slices.Clone(from), "-e", `{"etcd_settings": {`+s+`}}`) }
	e.MustPlay(t, "bootstrap", settings(`"ETCD_ENABLE_V2": "true"`)...)
	v2 := func(method, key string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.Endpoints("etcd-1")[0]+"/v2/keys/"+key, strings.NewReader(url.Values{"value": {"from a v2 client"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("v2 %s %s: %v %v", method, key, err, resp)
		}
		resp.Body.Close()
	}
	v2(http.MethodPut, "legacy")
	before := e.HostStates(t, members3...)

	r := e.Play(t, "upgrade", release(rel, "v3.7.0")...)
	if r.Code != 5 || !strings.Contains(r.Out, "etcd 3.5.35 to 3.7.0 skips a minor version: etcd upgrades one minor at a time") {
		t.Errorf("3.5 to 3.7: exit %d, want 5\n%s", r.Code, r.Out)
	}
	e.WantUnchanged(t, before)

	r = e.Play(t, "upgrade", release(rel, "v3.6.16")...)
	for _, want := range []string{"detected custom v2 content in WAL records", "ETCD_SNAPSHOT_COUNT=1", "sets ETCD_ENABLE_V2: not a setting etcd 3.6 knows"} {
		if r.Code != 5 || !strings.Contains(r.Out, want) {
			t.Errorf("v2 data: exit %d, want 5 saying %q\n%s", r.Code, want, r.Out)
		}
	}
	e.WantUnchanged(t, before)

	// The fix, as the refusal gives it: the v2 data deleted while the
	// v2 API is on, a v2 snapshot taken without it, the settings back.
	v2(http.MethodDelete, "legacy")
	e.MustPlay(t, "bootstrap", settings(`"ETCD_ENABLE_V2": "true", "ETCD_SNAPSHOT_COUNT": "1"`)...)
	e.MustPlay(t, "rolling_restart")
	labtest.PutKeys(t, e.Client(t, members3...), "after-v2", 3)
	e.MustPlay(t, "bootstrap", from...)
	e.MustPlay(t, "rolling_restart")
	r = e.MustPlay(t, "upgrade", release(rel, "v3.6.16")...)
	t.Logf("upgraded 3.5.35 to 3.6.16 without a writer in %s", r.Elapsed.Round(time.Millisecond))
	wantVersions(t, e, "3.6.16", "3.6.0", members3...)

	// The cluster lost: etcd killed on every member while the downgrade
	// is held before its first change.
	kv := labtest.PutKeys(t, e.Client(t, members3...), "before-loss", 20)
	r, hit := e.PlayPaused(t, "downgrade", func(p *os.Process) {
		for _, h := range members3 {
			e.Exec(t, h, "systemctl kill -s KILL etcd; systemctl stop etcd; true")
		}
		p.Signal(syscall.SIGUSR1)
	}, "upgrade", release(rel, "v3.5.35")...)
	recovery := strings.Join(r.Recovery(), "\n")
	if !hit || r.Code == 0 || !strings.Contains(recovery, "the cluster could not be read afterwards") ||
		!regexp.MustCompile(`snapshot saved before the change is backups/etcd-[0-9a-f]+-\S+\.db; to restore it: `).MatchString(recovery) {
		t.Fatalf("a downgrade that lost the cluster: exit %d (paused: %v), want a failure naming the snapshot\n%s\nrecovery:\n%s", r.Code, hit, r.Out, recovery)
	}
	restore := r.Remedy(t, "to restore it: ")
	if !strings.Contains(restore, "etcd_version=v3.6.16") || strings.Contains(restore, "v3.5.35") {
		t.Errorf("the restore command installs another etcd than the snapshot's 3.6.16: %s", restore)
	}
	// With the target's etcd instead, as the command once said: refused
	// before anything is stopped or installed.
	states := e.HostStates(t, members3...)
	wrong := e.RunCommand(t, strings.Replace(restore, "etcd_version=v3.6.16", "etcd_version=v3.5.35", 1))
	if wrong.Code != 5 || !regexp.MustCompile(`the etcd to install on etcd-\d is 3\.5\.35, which cannot read it: install etcd 3\.6 or later there first; nothing was changed`).MatchString(wrong.Out) {
		t.Errorf("a restore of a 3.6 snapshot with etcd 3.5: exit %d, want 5 with nothing changed\n%s", wrong.Code, wrong.Out)
	}
	e.WantUnchanged(t, states)
	if x := e.RunCommand(t, restore); x.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", restore, x.Code, x.Out)
	}
	labtest.WantKeys(t, e.Client(t, members3...), kv)
	wantVersions(t, e, "3.6.16", "3.6.0", members3...)
}
