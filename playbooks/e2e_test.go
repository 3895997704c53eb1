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
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
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
	extra := "\n[stale]\netcd-1\n\n[mixed]\netcd-6\netcd-4\netcd-5\n\n[current]\netcd-2\netcd-4\netcd-5\n"
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
// quorum gate refuses, a rolling restart under writes, bootstraps refused
// on hosts with another cluster's data; then status, backup, an add and a
// remove (each first in check mode), and a move to another peer port.
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
		{"status", testStatus},
		{"backup", testBackup},
		{"add/check", testAddCheck},
		{"add", testAdd},
		{"remove/check", testRemoveCheck},
		{"remove", testRemove},
		{"move", testMove},
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

// liveHosts are the lab's hosts that answer in the steps after the
// replaces: etcd-3 has been down since replace/live-and-dead.
var liveHosts = []string{"etcd-1", "etcd-2", "etcd-4", "etcd-5", "etcd-6"}

// snapshots are the files runs saved in backups/ on the control machine.
func (e *labEnv) snapshots() []string {
	found, _ := filepath.Glob(filepath.Join(e.work, "backups", "*"))
	return found
}

// etcdplayExec runs command on host with etcdplay exec, as an operator
// would.
func (e *labEnv) etcdplayExec(tb testing.TB, host, command string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "exec", "-i", e.inv, host, "--", command)
	cmd.Dir = e.work
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("etcdplay exec %s -- %s: %v\n%s", host, command, err, out)
	}
	return string(out)
}

// conf is host's etcd.conf.
func (e *labEnv) conf(tb testing.TB, host string) string {
	tb.Helper()
	return e.exec(tb, host, "cat /etc/etcd/etcd.conf")
}

// wantConf fails unless the etcd.conf of every host has every line.
func (e *labEnv) wantConf(tb testing.TB, hosts []string, lines ...string) {
	tb.Helper()
	for _, h := range hosts {
		conf := e.conf(tb, h)
		for _, l := range lines {
			if !slices.Contains(strings.Split(conf, "\n"), l) {
				tb.Errorf("%s: etcd.conf lacks %s:\n%s", h, l, conf)
			}
		}
	}
}

var cellSep = regexp.MustCompile(`\s{2,}`)

// printedTable finds the table a print of the run holds whose header
// starts with the column first, and returns its header and rows, each a
// map by column title. Cells are two or more spaces apart; the last
// column takes what is left of a line.
func printedTable(tb testing.TB, r run, first string) ([]string, []map[string]string) {
	tb.Helper()
	for _, ev := range r.events {
		if ev.Type != "print" {
			continue
		}
		lines := strings.Split(ev.Msg, "\n")
		for i, l := range lines {
			header := cellSep.Split(strings.TrimSpace(l), -1)
			if header[0] != first {
				continue
			}
			var rows []map[string]string
			for _, l := range lines[i+1:] {
				cells := cellSep.Split(strings.TrimSpace(l), len(header))
				row := map[string]string{}
				for j, c := range cells {
					row[header[j]] = c
				}
				rows = append(rows, row)
			}
			return header, rows
		}
	}
	tb.Fatalf("no printed table with column %s:\n%s", first, r.prints())
	return nil, nil
}

// testStatus: the member table says what etcd itself says (who leads,
// raft term and index, db size, version, no alarm); a node whose
// etcd.conf still says "new" is flagged, and the fix status gives puts
// it back without restarting anything.
func testStatus(t *testing.T, e *labEnv) {
	hosts := []string{"etcd-2", "etcd-4", "etcd-5"}
	e.waitHealthy(t, hosts...)
	before := e.hostStates(t, hosts...)
	r := e.mustPlay(t, "status")
	t.Logf("status:\n%s", r.prints())
	if n := r.changed(); n != 0 {
		t.Errorf("status changed %d things", n)
	}
	header, rows := printedTable(t, r, "ID")
	if want := []string{"ID", "NAME", "STATUS", "PEER URLS", "CLIENT URLS", "TERM", "INDEX", "DB", "VERSION", "ALARMS"}; !slices.Equal(header, want) {
		t.Errorf("member table columns %q, want %q", header, want)
	}
	if len(rows) != len(hosts) {
		t.Fatalf("member table rows %v, want one per member of %v", rows, hosts)
	}
	leaders := 0
	for _, row := range rows {
		h := row["NAME"]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := e.client(t, h).Status(ctx, e.endpoints(h)[0])
		cancel()
		if err != nil {
			t.Fatalf("%s: status: %v", h, err)
		}
		role := "follower"
		if st.Leader == st.Header.MemberId {
			role = "leader"
			leaders++
		}
		index, _ := strconv.ParseUint(row["INDEX"], 10, 64)
		for col, ok := range map[string]bool{
			"ID":          row["ID"] == fmt.Sprintf("%x", st.Header.MemberId),
			"STATUS":      row["STATUS"] == role,
			"PEER URLS":   row["PEER URLS"] == e.peer(h),
			"CLIENT URLS": row["CLIENT URLS"] == e.endpoints(h)[0],
			"TERM":        row["TERM"] == strconv.FormatUint(st.RaftTerm, 10),
			"INDEX":       index > 0 && index <= st.RaftIndex,
			"DB":          strings.HasSuffix(row["DB"], "B"),
			"VERSION":     row["VERSION"] == st.Version,
			"ALARMS":      row["ALARMS"] == "none",
		} {
			if !ok {
				t.Errorf("%s: %s %q; etcd says: %s, term %d, index %d, db %d bytes, version %s, no alarm",
					h, col, row[col], role, st.RaftTerm, st.RaftIndex, st.DbSize, st.Version)
			}
		}
	}
	if leaders != 1 {
		t.Errorf("%d members say they lead", leaders)
	}
	_, states := printedTable(t, r, "HOST")
	for _, row := range states {
		if row["ETCD"] != "active" || row["ETCD_INITIAL_CLUSTER_STATE"] != "existing" {
			t.Errorf("member hosts: %v, want etcd active and state existing", row)
		}
	}

	// etcd-4's etcd.conf says new, as if bootstrap had stopped before it
	// flipped the state.
	e.etcdplayExec(t, "etcd-4", `sed -i 's/^ETCD_INITIAL_CLUSTER_STATE=.*/ETCD_INITIAL_CLUSTER_STATE="new"/' /etc/etcd/etcd.conf`)
	r = e.mustPlay(t, "status")
	t.Logf("status with etcd-4 saying new:\n%s", r.prints())
	_, states = printedTable(t, r, "HOST")
	for _, row := range states {
		flagged := strings.HasPrefix(row["ETCD_INITIAL_CLUSTER_STATE"], "new") && strings.Contains(row["ETCD_INITIAL_CLUSTER_STATE"], "should say existing")
		if flagged != (row["HOST"] == "etcd-4") {
			t.Errorf("member hosts: %v: flagged %v, want only etcd-4 flagged", row, flagged)
		}
	}
	// The inventory's group etcd is not the members any more: the fix
	// asks for a group that is.
	fix := "etcdplay run bootstrap -e group=GROUP, GROUP an inventory group of exactly the members (etcd-2, etcd-4, etcd-5"
	if !strings.Contains(r.out, `etcd-4: etcd.conf says "new"`) || !strings.Contains(r.out, fix) {
		t.Errorf("status does not explain the flag and offer %q:\n%s", fix, r.out)
	}
	// Through a group that is the members, the fix is a command to run;
	// run as given, it puts etcd.conf back.
	r = e.mustPlay(t, "status", "-e", "group=current")
	_, cmd, ok := strings.Cut(r.out, "To fix it (no restart): etcdplay run ")
	cmd, _, _ = strings.Cut(cmd, "\n")
	args := strings.Fields(cmd)
	if !ok || !slices.Equal(args, []string{"bootstrap", "-e", "group=current"}) {
		t.Fatalf("status -e group=current: fix %q, want etcdplay run bootstrap -e group=current\n%s", cmd, r.out)
	}
	r = e.mustPlay(t, args[0], args[1:]...)
	if n := r.changed(); n != 1 {
		t.Errorf("etcdplay run %s to fix etcd-4's etcd.conf: %d changed, want 1\n%s", strings.Join(args, " "), n, r.out)
	}
	e.wantUnchanged(t, before) // etcd.conf as it was, the same etcd processes
}

// testBackup: a snapshot on the control machine named by cluster ID and
// the revision it holds, which etcdutl reads at that revision with every
// key.
func testBackup(t *testing.T, e *labEnv) {
	c := e.client(t, "etcd-2", "etcd-4", "etcd-5")
	putKeys(t, c, "backup", 20)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	resp, err := c.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	rev, keys := resp.Header.Revision, resp.Count
	old := e.snapshots()
	r := e.mustPlay(t, "backup")
	t.Logf("backup:\n%s", r.prints())
	made := slices.DeleteFunc(e.snapshots(), func(p string) bool { return slices.Contains(old, p) })
	if len(made) != 1 {
		t.Fatalf("backup saved %v, want one snapshot", made)
	}
	path := made[0]
	want := fmt.Sprintf("etcd-%s-r%d-", clusterID(t, e, "etcd-2"), rev)
	if name := filepath.Base(path); !strings.HasPrefix(name, want) || !strings.HasSuffix(name, ".db") {
		t.Errorf("snapshot %s, want etcd-CLUSTERID-rREVISION-TIME.db starting %s", name, want)
	}
	if !strings.Contains(r.out, fmt.Sprintf("at revision %d: ", rev)) || !strings.Contains(r.out, "etcdutl snapshot restore "+filepath.Base(path)) {
		t.Errorf("backup does not say the revision %d and how to restore %s:\n%s", rev, filepath.Base(path), r.out)
	}
	st, err := snapshot.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		t.Fatalf("etcdutl snapshot status %s: %v", path, err)
	}
	if st.Revision != rev || int64(st.TotalKey) != keys {
		t.Errorf("etcdutl snapshot status: revision %d, %d keys; the cluster had revision %d, %d keys", st.Revision, st.TotalKey, rev, keys)
	}
}

// testAddCheck: add --check shows the plan (learner first, the configs
// as they will be) and changes nothing on any host.
func testAddCheck(t *testing.T, e *labEnv) {
	before := e.hostStates(t, liveHosts...)
	snaps := e.snapshots()
	r := e.play(t, "add", "-e", "new=etcd-6", "--check", "--diff", "--text")
	if r.code != 0 {
		t.Fatalf("add --check: exit %d\n%s", r.code, r.out)
	}
	for _, want := range []string{
		"would save a snapshot",
		"would install /usr/local/bin/etcd",
		"would add etcd-6 (" + e.peer("etcd-6") + ") as a learner",
		"+++ etcd-6:/etc/etcd/etcd.conf",
		`+ETCD_INITIAL_CLUSTER_STATE="existing"`,
		`+ETCD_INITIAL_CLUSTER="` + e.cluster("etcd-2", "etcd-4", "etcd-5", "etcd-6") + `"`,
		`-ETCD_INITIAL_CLUSTER="` + e.cluster("etcd-2", "etcd-4", "etcd-5") + `"`,
		"would promote etcd-6",
		"check mode: nothing was changed",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("add --check output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.out)
	}
	e.wantUnchanged(t, before)
	e.wantMembers(t, []string{"etcd-2"}, "etcd-2", "etcd-4", "etcd-5")
	if now := e.snapshots(); !slices.Equal(now, snaps) {
		t.Errorf("check mode saved snapshots: %v", now)
	}
}

// memberWatch records how one host's member shows in the member list,
// polled every 20ms: each state ("absent", "learner, unstarted", "voter,
// started", ...) once for as long as it lasts.
type memberWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	seen []string
}

func watchMember(c *clientv3.Client, peer string) *memberWatch {
	w := &memberWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			resp, err := c.MemberList(ctx)
			cancel()
			if err == nil {
				state := "absent"
				for _, m := range resp.Members {
					if !slices.Contains(m.PeerURLs, peer) {
						continue
					}
					role, started := "voter", "started"
					if m.IsLearner {
						role = "learner"
					}
					if m.Name == "" || len(m.ClientURLs) == 0 {
						started = "unstarted"
					}
					state = role + ", " + started
				}
				if len(w.seen) == 0 || w.seen[len(w.seen)-1] != state {
					w.seen = append(w.seen, state)
				}
			}
			select {
			case <-w.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *memberWatch) stop() []string {
	close(w.done)
	w.wg.Wait()
	return w.seen
}

// testAdd: etcd-6 joins as a learner, never a voter before it started,
// and ends a started voter; keys written before read back through it
// alone; every member's etcd.conf lists it; a re-run changes nothing.
func testAdd(t *testing.T, e *labEnv) {
	c := e.client(t, "etcd-2", "etcd-4", "etcd-5")
	kv := putKeys(t, c, "add", 100)
	w := watchMember(c, e.peer("etcd-6"))
	r := e.play(t, "add", "-e", "new=etcd-6")
	seen := w.stop()
	if r.code != 0 {
		t.Fatalf("add: exit %d\n%s", r.code, r.out)
	}
	t.Logf("add etcd-6:\n%s", r.prints())
	t.Logf("etcd-6 in the member list: %s", strings.Join(seen, " -> "))
	if len(seen) < 3 || seen[0] != "absent" || seen[1] != "learner, unstarted" || seen[len(seen)-1] != "voter, started" ||
		slices.Contains(seen, "voter, unstarted") {
		t.Errorf("etcd-6 in the member list: %s; want absent, then a learner until it started, then a started voter", strings.Join(seen, " -> "))
	}
	all := []string{"etcd-2", "etcd-4", "etcd-5", "etcd-6"}
	e.wantMembers(t, []string{"etcd-6"}, all...)
	if !strings.Contains(r.out, "note: 4 voting members") {
		t.Errorf("add does not note the even member count:\n%s", r.out)
	}
	wantKeys(t, e.client(t, "etcd-6"), kv)
	e.wantConf(t, all, `ETCD_INITIAL_CLUSTER="`+e.cluster(all...)+`"`, `ETCD_INITIAL_CLUSTER_STATE="existing"`)

	before := e.hostStates(t, liveHosts...)
	snaps := e.snapshots()
	again := e.mustPlay(t, "add", "-e", "new=etcd-6")
	if n := again.changed(); n != 0 || !strings.Contains(again.out, "etcd-6 is a voting member already") {
		t.Errorf("add re-run: %d changed, want 0 and that etcd-6 is a member already\n%s", n, again.out)
	}
	e.wantUnchanged(t, before)
	if now := e.snapshots(); !slices.Equal(now, snaps) {
		t.Errorf("add re-run saved a snapshot: %v", now)
	}
}

// testRemoveCheck: remove --check shows the plan (the member removed,
// its etcd stopped, the configs without it) and changes nothing.
func testRemoveCheck(t *testing.T, e *labEnv) {
	before := e.hostStates(t, liveHosts...)
	snaps := e.snapshots()
	r := e.play(t, "remove", "-e", "member=etcd-2", "--check", "--diff", "--text")
	if r.code != 0 {
		t.Fatalf("remove --check: exit %d\n%s", r.code, r.out)
	}
	for _, want := range []string{
		"would save a snapshot",
		"would remove etcd-2",
		"would stop etcd.service",
		`-ETCD_INITIAL_CLUSTER="` + e.cluster("etcd-2", "etcd-4", "etcd-5", "etcd-6") + `"`,
		`+ETCD_INITIAL_CLUSTER="` + e.cluster("etcd-4", "etcd-5", "etcd-6") + `"`,
		"check mode: nothing was changed",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("remove --check output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.out)
	}
	e.wantUnchanged(t, before)
	e.wantMembers(t, []string{"etcd-4"}, "etcd-2", "etcd-4", "etcd-5", "etcd-6")
	if now := e.snapshots(); !slices.Equal(now, snaps) {
		t.Errorf("check mode saved snapshots: %v", now)
	}
}

// makeLeader moves leadership to the member on host, asking the leader
// with the control machine's etcdctl, and waits until host leads.
func (e *labEnv) makeLeader(tb testing.TB, host string, members ...string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leader, ids := "", map[string]uint64{}
		for _, h := range members {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := e.client(tb, h).Status(ctx, e.endpoints(h)[0])
			cancel()
			if err != nil {
				tb.Fatalf("%s: status: %v", h, err)
			}
			ids[h] = st.Header.MemberId
			if st.Leader == st.Header.MemberId {
				leader = h
			}
		}
		switch {
		case leader == host:
			return
		case time.Now().After(deadline):
			tb.Fatalf("%s does not lead after 10s (leader %q)", host, leader)
		case leader != "":
			e.etcdctl(tb, []string{leader}, "move-leader", fmt.Sprintf("%x", ids[host]))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testRemove: etcd-2, the leader, leaves a cluster of four that keeps
// quorum while a writer writes: gone from the member list, its etcd
// stopped and disabled, leadership handed over first so that no write
// fails, the rest healthy with every key, their etcd.conf without it; a
// re-run says there is nothing to remove and changes nothing.
func testRemove(t *testing.T, e *labEnv) {
	rest := []string{"etcd-4", "etcd-5", "etcd-6"}
	c := e.client(t, rest...)
	kv := putKeys(t, c, "remove", 50)
	// The member that leads is the one whose removal needs care: etcd
	// does not hand leadership over when it removes its leader.
	e.makeLeader(t, "etcd-2", "etcd-2", "etcd-4", "etcd-5", "etcd-6")
	w := startWriter(c, "remove-writes")
	r := e.play(t, "remove", "-e", "member=etcd-2")
	st := w.stop()
	if r.code != 0 {
		t.Fatalf("remove: exit %d\n%s", r.code, r.out)
	}
	t.Logf("remove etcd-2:\n%s", r.prints())
	t.Logf("writer: %d writes, %d retried (%s), %d failed", len(st.kv), st.retried, st.retryKinds(), len(st.failed))
	if !strings.Contains(r.out, "etcd-2 leads: moving leadership to") {
		t.Errorf("remove of the leader does not hand leadership over first:\n%s", r.out)
	}
	if len(st.failed) > 0 || st.kinds["context deadline exceeded"] > 0 {
		t.Errorf("writes stalled (%s) or failed beyond retries: %v", st.retryKinds(), st.failed)
	}
	e.wantMembers(t, []string{"etcd-4"}, rest...)
	if st := e.exec(t, "etcd-2", "systemctl is-active etcd; systemctl is-enabled etcd; true"); !strings.Contains(st, "inactive") || !strings.Contains(st, "disabled") {
		t.Errorf("etcd-2 after it was removed: etcd %q, want inactive and disabled", st)
	}
	e.waitHealthy(t, rest...)
	wantKeys(t, c, kv)
	wantKeys(t, c, st.kv)
	e.wantConf(t, rest, `ETCD_INITIAL_CLUSTER="`+e.cluster(rest...)+`"`)

	before := e.hostStates(t, liveHosts...)
	again := e.mustPlay(t, "remove", "-e", "member=etcd-2")
	if n := again.changed(); n != 0 || !strings.Contains(again.out, "etcd-2 is not a member of cluster") {
		t.Errorf("remove re-run: %d changed, want 0 and that etcd-2 is no member\n%s", n, again.out)
	}
	e.wantUnchanged(t, before)
}

// listening are the TCP ports host listens on.
func (e *labEnv) listening(tb testing.TB, host string) []uint64 {
	tb.Helper()
	var ports []uint64
	for _, l := range strings.Split(e.exec(tb, host, "cat /proc/net/tcp /proc/net/tcp6"), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[3] != "0A" { // TCP_LISTEN
			continue
		}
		_, hex, _ := strings.Cut(f[1], ":")
		if p, err := strconv.ParseUint(hex, 16, 16); err == nil {
			ports = append(ports, p)
		}
	}
	return ports
}

// testMove: etcd-4 moves to peer port 2390: the member list from the
// control machine, its etcd.conf and every member's initial cluster say
// the new URL, etcd listens there and not on 2380, and the cluster is
// healthy; a re-run changes nothing.
func testMove(t *testing.T, e *labEnv) {
	members := []string{"etcd-4", "etcd-5", "etcd-6"}
	url := fmt.Sprintf("http://%s:2390", e.addrs["etcd-4"])
	r := e.mustPlay(t, "move", "-e", "member=etcd-4", "-e", "peer_url="+url)
	t.Logf("move etcd-4 to %s:\n%s", url, r.prints())
	ms := e.members(t, "etcd-5", "etcd-6")
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s %v learner=%v started=%v", m.Name, m.PeerURLs, m.IsLearner, len(m.ClientURLs) > 0))
	}
	want := []string{
		fmt.Sprintf("etcd-4 [%s] learner=false started=true", url),
		fmt.Sprintf("etcd-5 [%s] learner=false started=true", e.peer("etcd-5")),
		fmt.Sprintf("etcd-6 [%s] learner=false started=true", e.peer("etcd-6")),
	}
	if !slices.Equal(got, want) {
		t.Errorf("members after the move:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	e.wantConf(t, []string{"etcd-4"}, `ETCD_INITIAL_ADVERTISE_PEER_URLS="`+url+`"`, `ETCD_LISTEN_PEER_URLS="`+url+`"`)
	cluster := strings.Join([]string{"etcd-4=" + url, "etcd-5=" + e.peer("etcd-5"), "etcd-6=" + e.peer("etcd-6")}, ",")
	e.wantConf(t, members, `ETCD_INITIAL_CLUSTER="`+cluster+`"`)
	if ports := e.listening(t, "etcd-4"); !slices.Contains(ports, 2390) || slices.Contains(ports, 2380) {
		t.Errorf("etcd-4 listens on ports %v, want 2390 and not 2380", ports)
	}
	e.waitHealthy(t, members...)
	if !strings.Contains(r.out, "now set etcd_peer_url="+url+" for etcd-4") {
		t.Errorf("move does not say to set etcd_peer_url in the inventory:\n%s", r.out)
	}

	before := e.hostStates(t, members...)
	again := e.mustPlay(t, "move", "-e", "member=etcd-4", "-e", "peer_url="+url)
	if n := again.changed(); n != 0 {
		t.Errorf("move re-run: %d changed, want 0\n%s", n, again.out)
	}
	e.wantUnchanged(t, before)
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
