//go:build linux

package playbooks_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdplay/etcdplay/lab"
)

// The end-to-end lab is its own: a subnet, name and bridge that neither a
// user's lab (10.77.0.0/24), TestLab (10.77.1.0/24) nor the modules' lab
// tests (10.77.7.0/24) use, and a fixed directory, so that a run that
// crashed is cleaned up by the next.
const (
	e2eSubnet = "10.77.2.0/24"
	e2eName   = "etcdplay-e2e"
	e2eBridge = "etcdplay-e2"
	e2eHosts  = 6 // etcd-1..3 in group etcd, etcd-4..6 spare

	envE2EDir    = "ETCDPLAY_E2E_DIR"    // default $TMPDIR/etcdplay-e2e-lab
	envE2ESubnet = "ETCDPLAY_E2E_SUBNET" // default e2eSubnet
	envBin       = "ETCDPLAY_BIN"        // a built etcdplay; default: built once per run
	envEtcd      = "ETCDPLAY_ETCD_DIR"
)

// labEnv is a lab booted for the shipped playbooks and the etcdplay
// binary that runs them.
type labEnv struct {
	lab     *lab.Lab
	bin     string // etcdplay
	etcdDir string // etcd and etcdctl for the hosts and the control machine
	inv     string // inventory: the lab's, plus groups of the test's
	work    string // working directory of runs (backups/ lands here)
	addrs   map[string]netip.Addr
}

type testLog struct{ tb testing.TB }

func (w testLog) Write(b []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// setupLab boots a fresh lab of e2eHosts hosts, or skips saying why it
// cannot. The lab is destroyed when the test ends.
func setupLab(tb testing.TB) *labEnv {
	tb.Helper()
	if testing.Short() {
		tb.Skip("boots a lab and runs etcd; skipped with -short")
	}
	if os.Geteuid() != 0 {
		tb.Skip("the lab needs root (mounts, network namespaces, containers)")
	}
	if err := lab.CheckMachine(false); err != nil {
		tb.Skipf("the lab cannot run here: %v", err)
	}
	etcdDir := findEtcd()
	if etcdDir == "" {
		tb.Skipf("no etcd binaries: run make etcd, or set %s to a directory with etcd and etcdctl", envEtcd)
	}
	e := &labEnv{etcdDir: etcdDir, bin: etcdplayBinary(tb), work: tb.TempDir(), addrs: map[string]netip.Addr{}}

	dir := os.Getenv(envE2EDir)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "etcdplay-e2e-lab")
	}
	// Runs on one machine take turns (the test and the benchmarks share
	// the lab's name and subnet).
	unlock := lockFile(tb, dir+".lock")
	tb.Cleanup(unlock) // last: cleanups run in reverse

	imageDir := os.Getenv(lab.EnvImageDir)
	if imageDir == "" {
		imageDir = filepath.Join(lab.DefaultDir, "image")
	}
	subnet := e2eSubnet
	if s := os.Getenv(envE2ESubnet); s != "" {
		subnet = s
	}
	prefix, err := lab.ParseSubnet(subnet)
	if err != nil {
		tb.Fatalf("%s: %v", envE2ESubnet, err)
	}
	l, err := lab.Open(lab.Config{Dir: dir, ImageDir: imageDir, Name: e2eName, Bridge: e2eBridge, Subnet: prefix, Log: testLog{tb}})
	if err != nil {
		tb.Fatal(err)
	}
	e.lab = l
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if l.Exists() {
		tb.Logf("destroying the lab an earlier run left in %s", dir)
		if err := l.Destroy(ctx, false); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		if l.Exists() {
			if err := l.Destroy(context.Background(), false); err != nil {
				tb.Errorf("cleanup: destroy the lab: %v", err)
			}
		}
	})
	if _, err := l.BuildImage(ctx, false); err != nil {
		if lab.CheckMachine(true) != nil {
			tb.Skipf("no cached lab image and none can be built here: %v", err)
		}
		tb.Fatal(err)
	}
	if err := l.Up(ctx, e2eHosts); err != nil {
		tb.Fatal(err)
	}
	for _, h := range l.Hosts() {
		e.addrs[h.Name] = h.Addr
	}
	// The lab's inventory, and groups the tests use besides etcd and
	// spare.
	inv, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		tb.Fatal(err)
	}
	e.inv = filepath.Join(e.work, "inventory.ini")
	extra := "\n[stale]\netcd-1\n\n[mixed]\netcd-6\netcd-4\netcd-5\n"
	if err := os.WriteFile(e.inv, append(inv, extra...), 0o644); err != nil {
		tb.Fatal(err)
	}
	return e
}

// findEtcd returns the directory of the etcd binaries: $ETCDPLAY_ETCD_DIR,
// else what make etcd built in the module's .cache.
func findEtcd() string {
	if d := os.Getenv(envEtcd); d != "" {
		return d
	}
	found, _ := filepath.Glob(filepath.Join("..", ".cache", "etcd", "*", "etcd"))
	sort.Strings(found)
	for i := len(found) - 1; i >= 0; i-- {
		dir, err := filepath.Abs(filepath.Dir(found[i]))
		if _, serr := os.Stat(filepath.Join(dir, "etcdctl")); err == nil && serr == nil {
			return dir
		}
	}
	return ""
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// etcdplayBinary is $ETCDPLAY_BIN, or etcdplay built once for the test
// binary's run.
func etcdplayBinary(tb testing.TB) string {
	tb.Helper()
	if b := os.Getenv(envBin); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			tb.Fatal(err)
		}
		return abs
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "etcdplay-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "etcdplay")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		cmd := exec.Command(gobin, "build", "-o", builtBin, "../cmd/etcdplay")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ../cmd/etcdplay: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return builtBin
}

// TestMain destroys the benchmarks' lab and removes the binary built for
// the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchLast != nil {
		benchLast.run()
		if benchFailed && code == 0 {
			code = 1
		}
	}
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

func lockFile(tb testing.TB, path string) func() {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		tb.Logf("waiting for another run holding %s", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			tb.Fatal(err)
		}
	}
	return func() { f.Close() }
}

// event is one line of etcdplay run -o json.
type event struct {
	Type     string         `json:"type"`
	Module   string         `json:"module"`
	Pos      string         `json:"pos"`
	Host     string         `json:"host"`
	Status   string         `json:"status"`
	Msg      string         `json:"msg"`
	Data     map[string]any `json:"data"`
	Duration int64          `json:"duration_ms"`
	Task     int            `json:"task"`
	Recap    *struct {
		Hosts []struct {
			Host    string `json:"host"`
			Changed int    `json:"changed"`
			Failed  int    `json:"failed"`
		} `json:"hosts"`
		Duration int64  `json:"duration_ms"`
		Error    string `json:"error"`
	} `json:"recap"`
}

// run is one etcdplay run of a playbook.
type run struct {
	code    int
	out     string // stdout and stderr, for messages
	events  []event
	elapsed time.Duration
}

// changed counts changed results over every host.
func (r run) changed() int {
	n := 0
	for _, e := range r.events {
		if e.Type == "recap" && e.Recap != nil {
			for _, h := range e.Recap.Hosts {
				n += h.Changed
			}
		}
	}
	return n
}

// prints are the playbook's print() lines.
func (r run) prints() string {
	var b strings.Builder
	for _, e := range r.events {
		if e.Type == "print" {
			b.WriteString(e.Msg + "\n")
		}
	}
	return b.String()
}

// play runs etcdplay run PLAYBOOK with the test inventory and etcd_src,
// in JSON unless args ask for text (--text is removed and selects it).
func (e *labEnv) play(tb testing.TB, playbook string, args ...string) run {
	tb.Helper()
	text := slices.Contains(args, "--text")
	args = slices.DeleteFunc(args, func(a string) bool { return a == "--text" })
	argv := append([]string{"run", playbook, "-i", e.inv, "-e", "etcd_src=" + e.etcdDir}, args...)
	if !text {
		argv = append(argv, "-o", "json")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, argv...)
	cmd.Dir = e.work
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := run{elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		tb.Fatalf("etcdplay %s: %v", strings.Join(argv, " "), err)
	}
	r.out = stdout.String() + stderr.String()
	if !text {
		sc := bufio.NewScanner(&stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var ev event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				tb.Fatalf("etcdplay %s: output line %q: %v", strings.Join(argv, " "), sc.Text(), err)
			}
			r.events = append(r.events, ev)
		}
		r.out = r.prints() + stderr.String()
	}
	tb.Logf("etcdplay run %s %s: exit %d in %s", playbook, strings.Join(args, " "), r.code, r.elapsed.Round(time.Millisecond))
	if r.elapsed > 5*time.Second && !text {
		tb.Logf("slow run: %s", breakdown(r))
	}
	return r
}

// mustPlay is play that fails the test unless the run succeeds.
func (e *labEnv) mustPlay(tb testing.TB, playbook string, args ...string) run {
	tb.Helper()
	r := e.play(tb, playbook, args...)
	if r.code != 0 {
		tb.Fatalf("etcdplay run %s %s: exit %d\n%s", playbook, strings.Join(args, " "), r.code, r.out)
	}
	return r
}

// endpoints are the client URLs of hosts, straight from the control
// machine to the lab's own addresses.
func (e *labEnv) endpoints(hosts ...string) []string {
	var eps []string
	for _, h := range hosts {
		eps = append(eps, fmt.Sprintf("http://%s:2379", e.addrs[h]))
	}
	return eps
}

// peer is the peer URL of the member on host.
func (e *labEnv) peer(host string) string { return fmt.Sprintf("http://%s:2380", e.addrs[host]) }

// cluster is ETCD_INITIAL_CLUSTER of the members on hosts, by name.
func (e *labEnv) cluster(hosts ...string) string {
	var parts []string
	for _, h := range hosts {
		parts = append(parts, h+"="+e.peer(h))
	}
	return strings.Join(parts, ",")
}

// client is an etcd client of the members on hosts, closed when the test
// ends (before the lab is destroyed).
func (e *labEnv) client(tb testing.TB, hosts ...string) *clientv3.Client {
	tb.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: e.endpoints(hosts...), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// etcdctl runs the control machine's etcdctl against the members on hosts.
func (e *labEnv) etcdctl(tb testing.TB, hosts []string, args ...string) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"--endpoints", strings.Join(e.endpoints(hosts...), ","), "--command-timeout", "10s"}, args...)
	out, err := exec.CommandContext(ctx, filepath.Join(e.etcdDir, "etcdctl"), argv...).Output()
	if err != nil {
		var stderr string
		if x, ok := err.(*exec.ExitError); ok {
			stderr = string(x.Stderr)
		}
		tb.Fatalf("etcdctl %s: %v\n%s", strings.Join(argv, " "), err, stderr)
	}
	return out
}

// member is a row of etcdctl member list -w json.
type member struct {
	ID         uint64   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

// members is the member list as etcdctl shows it to the control machine,
// asked through hosts.
func (e *labEnv) members(tb testing.TB, hosts ...string) []member {
	tb.Helper()
	var resp struct{ Members []member }
	out := e.etcdctl(tb, hosts, "member", "list", "-w", "json")
	if err := json.Unmarshal(out, &resp); err != nil {
		tb.Fatalf("etcdctl member list: %v\n%s", err, out)
	}
	sort.Slice(resp.Members, func(i, j int) bool { return resp.Members[i].Name < resp.Members[j].Name })
	return resp.Members
}

// wantMembers fails unless the cluster has exactly the started voting
// members named.
func (e *labEnv) wantMembers(tb testing.TB, through []string, names ...string) []member {
	tb.Helper()
	ms := e.members(tb, through...)
	var got []string
	for _, m := range ms {
		d := m.Name
		switch {
		case m.Name == "" || len(m.ClientURLs) == 0:
			d = fmt.Sprintf("unstarted %x %v", m.ID, m.PeerURLs)
		case m.IsLearner:
			d += " (learner)"
		case len(m.PeerURLs) != 1 || m.PeerURLs[0] != e.peer(m.Name):
			d += fmt.Sprintf(" (peer URLs %v)", m.PeerURLs)
		}
		got = append(got, d)
	}
	sort.Strings(names)
	if !slices.Equal(got, names) {
		tb.Fatalf("members: got %q, want the started voters %q", got, names)
	}
	return ms
}

// hostState is what a host holds that a playbook could change: etcd's
// process, its unit, config and data dirs, the binaries.
func (e *labEnv) hostState(tb testing.TB, host string) string {
	tb.Helper()
	const script = `systemctl show -p ActiveState -p MainPID -p UnitFileState etcd 2>/dev/null
sha256sum /etc/etcd/etcd.conf /etc/systemd/system/etcd.service /usr/local/bin/etcd 2>/dev/null
ls -la --time-style=+ /var/lib/etcd 2>/dev/null | sed 1d
id etcd 2>/dev/null; true`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e.lab.Exec(ctx, host, script)
	if err != nil {
		tb.Fatalf("%s: %v\n%s", host, err, out)
	}
	return string(out)
}

func (e *labEnv) hostStates(tb testing.TB, hosts ...string) map[string]string {
	tb.Helper()
	m := map[string]string{}
	for _, h := range hosts {
		m[h] = e.hostState(tb, h)
	}
	return m
}

func (e *labEnv) wantUnchanged(tb testing.TB, before map[string]string) {
	tb.Helper()
	for h, was := range before {
		if now := e.hostState(tb, h); now != was {
			tb.Errorf("%s changed:\nbefore:\n%s\nafter:\n%s", h, was, now)
		}
	}
}

func (e *labEnv) exec(tb testing.TB, host, command string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e.lab.Exec(ctx, host, command)
	if err != nil {
		tb.Fatalf("%s: %s: %v\n%s", host, command, err, out)
	}
	return string(out)
}

// waitHealthy waits until every member on hosts answers a linearizable
// read, as a client would see it.
func (e *labEnv) waitHealthy(tb testing.TB, hosts ...string) {
	tb.Helper()
	clients := map[string]*clientv3.Client{}
	for _, h := range hosts {
		clients[h] = e.client(tb, h)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var bad []string
		for _, h := range hosts {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := clients[h].Get(ctx, "health")
			cancel()
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", h, err))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("cluster not healthy after 60s: %s", strings.Join(bad, "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// putKeys writes n keys under prefix and returns them with their values.
func putKeys(tb testing.TB, c *clientv3.Client, prefix string, n int) map[string]string {
	tb.Helper()
	kv := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("%s/%04d", prefix, i), fmt.Sprintf("value %d of %s", i, prefix)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Put(ctx, k, v)
		cancel()
		if err != nil {
			tb.Fatalf("put %s: %v", k, err)
		}
		kv[k] = v
	}
	return kv
}

// wantKeys reads every key back, one linearizable read each.
func wantKeys(tb testing.TB, c *clientv3.Client, kv map[string]string) {
	tb.Helper()
	missing := 0
	for k, v := range kv {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.Get(ctx, k) // linearizable: the default
		cancel()
		switch {
		case err != nil:
			tb.Fatalf("get %s: %v", k, err)
		case len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != v:
			missing++
			if missing <= 5 {
				tb.Errorf("get %s: %v, want %q", k, resp.Kvs, v)
			}
		}
	}
	if missing > 0 {
		tb.Fatalf("%d of %d keys missing or wrong", missing, len(kv))
	}
}

// TestPlaybooks runs the shipped playbooks end to end in one lab of six
// hosts, each group of steps starting where the one before left the
// cluster: bootstrap on etcd-1..3, a check-mode replace, replaces of a
// live and a dead member, a replace interrupted and resumed, a remove the
// quorum gate refuses, a rolling restart under writes, and bootstraps
// refused on hosts with another cluster's data.
func TestPlaybooks(t *testing.T) {
	e := setupLab(t)
	steps := []struct {
		name string
		f    func(*testing.T, *labEnv)
	}{
		{"bootstrap", testBootstrap},
		{"replace/check", testReplaceCheck},
		{"replace/live-and-dead", testReplace},
		{"replace/resume", testReplaceResume},
		{"remove/refused", testRemoveRefused},
		{"rolling_restart", testRollingRestart},
		{"bootstrap/refused", testBootstrapRefused},
	}
	for _, s := range steps {
		// Each step needs the cluster the one before left.
		if !t.Run(s.name, func(t *testing.T) { s.f(t, e) }) {
			t.Fatalf("%s failed; the later steps need its cluster", s.name)
		}
	}
}

// testBootstrap: 3 members from the control machine's etcdctl; a re-run
// changes nothing and restarts nothing.
func testBootstrap(t *testing.T, e *labEnv) {
	before := e.hostStates(t, "etcd-1", "etcd-2", "etcd-3")
	check := e.mustPlay(t, "bootstrap", "--check", "--diff", "--text")
	for _, want := range []string{"would install /usr/local/bin/etcd", `+ETCD_INITIAL_CLUSTER_STATE="new"`, "a new cluster of 3 members would start"} {
		if !strings.Contains(check.out, want) {
			t.Errorf("bootstrap --check output lacks %q\n%s", want, check.out)
		}
	}
	e.wantUnchanged(t, before)

	first := e.mustPlay(t, "bootstrap")
	if first.changed() == 0 {
		t.Errorf("first bootstrap reports no change")
	}
	t.Logf("bootstrap output:\n%s", first.prints())
	e.wantMembers(t, []string{"etcd-1", "etcd-2", "etcd-3"}, "etcd-1", "etcd-2", "etcd-3")
	for _, h := range []string{"etcd-1", "etcd-2", "etcd-3"} {
		if conf := e.exec(t, h, "cat /etc/etcd/etcd.conf"); !strings.Contains(conf, `ETCD_INITIAL_CLUSTER_STATE="existing"`) {
			t.Errorf("%s: etcd.conf does not say existing after bootstrap:\n%s", h, conf)
		}
	}

	before = e.hostStates(t, "etcd-1", "etcd-2", "etcd-3")
	again := e.mustPlay(t, "bootstrap")
	if n := again.changed(); n != 0 {
		t.Errorf("bootstrap re-run on a healthy cluster: %d changed, want 0\n%s", n, again.out)
	}
	e.wantUnchanged(t, before) // the same etcd processes: nothing restarted
}

// testReplaceCheck: --check --diff prints the whole plan and changes
// nothing on any host.
func testReplaceCheck(t *testing.T, e *labEnv) {
	all := []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4", "etcd-5", "etcd-6"}
	before := e.hostStates(t, all...)
	r := e.play(t, "replace", "-e", "old=etcd-2", "-e", "new=etcd-4", "--check", "--diff", "--text")
	if r.code != 0 {
		t.Fatalf("replace --check: exit %d\n%s", r.code, r.out)
	}
	for _, want := range []string{
		"would save a snapshot",
		"would stop etcd.service",
		"would remove etcd-2",
		"would install /usr/local/bin/etcd",
		"would add etcd-4 (" + e.peer("etcd-4") + ") as a learner",
		"+++ etcd-4:/etc/etcd/etcd.conf",
		`+ETCD_INITIAL_CLUSTER_STATE="existing"`,
		`+ETCD_INITIAL_CLUSTER="` + e.cluster("etcd-1", "etcd-3", "etcd-4") + `"`,
		"would promote etcd-4",
		`-ETCD_INITIAL_CLUSTER="` + e.cluster("etcd-1", "etcd-2", "etcd-3") + `"`,
		"check mode: nothing was changed",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("replace --check output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.out)
	}
	e.wantUnchanged(t, before)
	e.wantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-2", "etcd-3")
	if snaps, _ := filepath.Glob(filepath.Join(e.work, "backups", "*")); len(snaps) > 0 {
		t.Errorf("check mode saved snapshots: %v", snaps)
	}
}

// testReplace: a live member, then a dead one; every key written before
// reads back after.
func testReplace(t *testing.T, e *labEnv) {
	c := e.client(t, "etcd-1", "etcd-2", "etcd-3")
	kv := putKeys(t, c, "replace", 200)

	r := e.mustPlay(t, "replace", "-e", "old=etcd-2", "-e", "new=etcd-4")
	t.Logf("replace etcd-2 (live) by etcd-4:\n%s", r.prints())
	e.wantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-3", "etcd-4")
	if st := e.exec(t, "etcd-2", "systemctl is-active etcd; systemctl is-enabled etcd; true"); !strings.Contains(st, "inactive") || !strings.Contains(st, "disabled") {
		t.Errorf("etcd-2 after it was replaced: etcd %q, want inactive and disabled", st)
	}

	// etcd-3's host dies; its member is replaced by etcd-5.
	if err := e.lab.Kill("etcd-3"); err != nil {
		t.Fatal(err)
	}
	r = e.mustPlay(t, "replace", "-e", "old=etcd-3", "-e", "new=etcd-5")
	t.Logf("replace etcd-3 (dead) by etcd-5:\n%s", r.prints())
	e.wantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-4", "etcd-5")

	after := e.client(t, "etcd-1", "etcd-4", "etcd-5")
	wantKeys(t, after, kv)
	snaps, _ := filepath.Glob(filepath.Join(e.work, "backups", "etcd-*-r*.db"))
	if len(snaps) != 2 {
		t.Errorf("snapshots: %v, want one per replace", snaps)
	}
}

// testReplaceResume: the new host fails to start etcd after it was added
// as a learner; once fixed, the same command finishes the replace with the
// same member.
func testReplaceResume(t *testing.T, e *labEnv) {
	// etcd-2 holds the data of the member it was; its etcd will not start.
	e.exec(t, "etcd-2", "mkdir -p /etc/systemd/system/etcd.service.d && "+
		"printf '[Service]\\nExecStartPre=/bin/false\\n' > /etc/systemd/system/etcd.service.d/broken.conf && systemctl daemon-reload")
	r := e.play(t, "replace", "-e", "old=etcd-1", "-e", "new=etcd-2")
	if r.code == 0 {
		t.Fatalf("replace onto a host whose etcd cannot start succeeded\n%s", r.out)
	}
	ms := e.members(t, "etcd-4")
	var learner *member
	for i, m := range ms {
		if m.Name == "etcd-1" {
			t.Errorf("etcd-1 is still a member after the failed run")
		}
		if m.IsLearner {
			learner = &ms[i]
		}
	}
	if learner == nil || learner.PeerURLs[0] != e.peer("etcd-2") {
		t.Fatalf("after the failed run: members %+v, want etcd-2 added as a learner", ms)
	}
	t.Logf("stopped half way: learner %x added, etcd on etcd-2 failed to start", learner.ID)

	e.exec(t, "etcd-2", "rm -r /etc/systemd/system/etcd.service.d && systemctl daemon-reload")
	r = e.mustPlay(t, "replace", "-e", "old=etcd-1", "-e", "new=etcd-2")
	t.Logf("resumed:\n%s", r.prints())
	ms = e.wantMembers(t, []string{"etcd-4"}, "etcd-2", "etcd-4", "etcd-5")
	for _, m := range ms {
		if m.Name == "etcd-2" && m.ID != learner.ID {
			t.Errorf("etcd-2 is member %x, want the learner %x the first run added", m.ID, learner.ID)
		}
	}
}

// testRemoveRefused: with etcd-4 down, removing healthy etcd-5 would leave
// one healthy voter of two: refused with the arithmetic, nothing changed.
func testRemoveRefused(t *testing.T, e *labEnv) {
	ctx := context.Background()
	if err := e.lab.Stop(ctx, "etcd-4"); err != nil {
		t.Fatal(err)
	}
	before := e.hostStates(t, "etcd-2", "etcd-5")
	r := e.play(t, "remove", "-e", "member=etcd-5")
	if r.code != 5 {
		t.Errorf("remove of a healthy member with another down: exit %d, want 5 (refused)\n%s", r.code, r.out)
	}
	for _, want := range []string{"etcd-5", "quorum 2", "1 healthy"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("refusal does not show %q:\n%s", want, r.out)
		}
	}
	t.Logf("refusal:\n%s", r.out)
	e.wantUnchanged(t, before)
	ms := e.members(t, "etcd-2")
	if len(ms) != 3 {
		t.Errorf("members after the refused remove: %+v", ms)
	}

	if err := e.lab.Start(ctx, "etcd-4"); err != nil {
		t.Fatal(err)
	}
	e.waitHealthy(t, "etcd-2", "etcd-4", "etcd-5")
}

// testRollingRestart: a writer puts keys all along; no write fails beyond
// the retries of a leader change or a restarting member's connection, and
// every write reads back.
func testRollingRestart(t *testing.T, e *labEnv) {
	c := e.client(t, "etcd-2", "etcd-4", "etcd-5")
	w := startWriter(c, "rolling")
	r := e.play(t, "rolling_restart")
	st := w.stop()
	if r.code != 0 {
		t.Fatalf("rolling_restart: exit %d\n%s", r.code, r.out)
	}
	t.Logf("rolling_restart:\n%s", r.prints())
	t.Logf("writer: %d writes, %d retried (%s), %d failed", len(st.kv), st.retried, st.retryKinds(), len(st.failed))
	if len(st.failed) > 0 {
		t.Errorf("writes failed beyond retries: %v", st.failed)
	}
	if len(st.kv) < 20 {
		t.Errorf("only %d writes during the rolling restart", len(st.kv))
	}
	wantKeys(t, c, st.kv)
	e.wantMembers(t, []string{"etcd-2"}, "etcd-2", "etcd-4", "etcd-5")
}

// testBootstrapRefused: a group holding a removed member's data (etcd-1),
// and one with members of the running cluster (etcd-4, etcd-5): refused,
// naming the host and the cluster ID; nothing changed.
func testBootstrapRefused(t *testing.T, e *labEnv) {
	cluster := clusterID(t, e, "etcd-2")
	before := e.hostStates(t, "etcd-1", "etcd-4", "etcd-5", "etcd-6")

	r := e.play(t, "bootstrap", "-e", "group=stale")
	if r.code != 5 {
		t.Fatalf("bootstrap on etcd-1, which holds a removed member's data: exit %d, want 5 (refused)\n%s", r.code, r.out)
	}
	if !strings.Contains(r.out, "etcd-1 holds the data of member") || !strings.Contains(r.out, "of cluster "+cluster) {
		t.Errorf("refusal does not name etcd-1 and cluster %s:\n%s", cluster, r.out)
	}
	t.Logf("refusal:\n%s", r.out)

	r = e.play(t, "bootstrap", "-e", "group=mixed")
	if r.code != 5 {
		t.Fatalf("bootstrap on etcd-6, etcd-4, etcd-5 (members of a running cluster): exit %d, want 5 (refused)\n%s", r.code, r.out)
	}
	if !strings.Contains(r.out, "cluster "+cluster) || !strings.Contains(r.out, "runs a member") {
		t.Errorf("refusal does not name the running cluster %s:\n%s", cluster, r.out)
	}
	t.Logf("refusal:\n%s", r.out)
	e.wantUnchanged(t, before)
}

func clusterID(t *testing.T, e *labEnv, host string) string {
	t.Helper()
	c := e.client(t, host)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", resp.Header.ClusterId)
}

// writer puts a key every 20ms until stopped, retrying a failed put up to
// 10 times: a client's answer to "leader changed" and to its member's
// connection closing while it restarts.
type writer struct {
	done chan struct{}
	wg   sync.WaitGroup
	st   writerStats
}

type writerStats struct {
	kv      map[string]string
	retried int
	kinds   map[string]int
	failed  []string
}

func (s writerStats) retryKinds() string {
	var parts []string
	for k, n := range s.kinds {
		parts = append(parts, fmt.Sprintf("%dx %s", n, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func startWriter(c *clientv3.Client, prefix string) *writer {
	w := &writer{done: make(chan struct{}), st: writerStats{kv: map[string]string{}, kinds: map[string]int{}}}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-w.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			k, v := fmt.Sprintf("%s/%05d", prefix, i), fmt.Sprintf("v%d", i)
			var err error
			for attempt := 0; attempt <= 10; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err = c.Put(ctx, k, v)
				cancel()
				if err == nil {
					break
				}
				w.st.retried++
				w.st.kinds[errKind(err)]++
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				w.st.failed = append(w.st.failed, fmt.Sprintf("%s: %v", k, err))
				continue
			}
			w.st.kv[k] = v
		}
	}()
	return w
}

func (w *writer) stop() writerStats {
	close(w.done)
	w.wg.Wait()
	return w.st
}

func errKind(err error) string {
	msg := err.Error()
	for _, k := range []string{"leader changed", "no leader", "context deadline exceeded", "Unavailable", "connection refused", "transport is closing"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return msg
}
