// Package labtest is the harness of the end-to-end tests that run the
// shipped playbooks in a lab: booting a lab of its own for a test
// package, running the etcdplay binary against it and reading its JSON
// events, and looking at the hosts and the cluster from outside etcdplay
// (etcdctl, a client of the members, the hosts' files and processes).
// The scenarios live in the test files of the packages that use it, as
// etcd's tests/framework keeps its harness apart from its cases.
package labtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

	"go.uber.org/zap"

	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/lab"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Cleanup removes what the harness made for the test binary (the
// etcdplay it built); call it from TestMain after m.Run.
func Cleanup() {
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
}

// Env is a lab booted for the shipped playbooks and the etcdplay
// binary that runs them.
type Env struct {
	Lab     *lab.Lab
	Bin     string // etcdplay
	EtcdDir string // etcd and etcdctl for the hosts and the control machine
	Inv     string // inventory: the lab's, plus groups of the test's
	Work    string // working directory of runs (backups/ lands here)
	Addrs   map[string]netip.Addr
	// TLS is Spec.TLS: the harness's clients and etcdctl use CAFile,
	// CertFile and KeyFile, by default the CA and client certificate
	// etcdplay makes in PKIDir; a test that brings its own sets them.
	TLS                       bool
	PKIDir                    string
	CAFile, CertFile, KeyFile string
	// User and Password are the harness's etcd credentials, once a test
	// enabled authentication.
	User, Password string
	// Environ is more environment for the runs of etcdplay (a cache
	// directory of the test's own).
	Environ []string
	// LabEnviron makes etcdplay lab use the test's lab (Reserve).
	LabEnviron []string
}

type testLog struct{ tb testing.TB }

func (w testLog) Write(b []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// Spec is a lab a test package boots: a name, bridge and subnet of its
// own (so the packages' labs, a user's lab and the benchmarks never
// collide), its hosts and the inventory groups it adds.
type Spec struct {
	Name   string // e.g. etcdplay-e2e
	Bridge string // at most 15 bytes
	Subnet string // default; the environment variable SubnetEnv overrides it
	// SubnetEnv and DirEnv name the environment variables that override
	// the subnet and the lab's directory (default $TMPDIR/NAME-lab).
	SubnetEnv, DirEnv string
	Hosts             int
	// Groups is inventory text appended to the lab's inventory.
	Groups string
	// TLS is set when the inventory makes the members speak TLS with
	// etcdplay's own CA (etcd_tls=auto in Groups): the harness's clients
	// and etcdctl then use the CA and client certificate etcdplay made
	// beside the inventory.
	TLS bool
}

// Environment variables of every lab test.
const (
	EnvBin      = "ETCDPLAY_BIN"           // a built etcdplay; default: built once per test binary
	EnvEtcd     = "ETCDPLAY_ETCD_DIR"      // etcd and etcdctl for the hosts
	EnvEtcdPrev = "ETCDPLAY_ETCD_PREV_DIR" // the etcd 3.5 the upgrade tests start from (make etcd-prev)
)

// Setup boots a fresh lab of spec, or skips saying why it cannot. The lab
// is destroyed when the test ends. Two runs on one machine take turns on
// it.
func Setup(tb testing.TB, spec Spec) *Env {
	tb.Helper()
	e := Reserve(tb, spec)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := e.Lab.Up(ctx, spec.Hosts); err != nil {
		tb.Fatal(err)
	}
	for _, h := range e.Lab.Hosts() {
		e.Addrs[h.Name] = h.Addr
	}
	inv, err := os.ReadFile(e.Lab.InventoryPath())
	if err != nil {
		tb.Fatal(err)
	}
	e.Inv = filepath.Join(e.Work, "inventory.ini")
	if err := os.WriteFile(e.Inv, append(inv, "\n"+spec.Groups...), 0o644); err != nil {
		tb.Fatal(err)
	}
	return e
}

// Reserve is Setup without booting the lab: its directory taken for the
// test (a lab an earlier run left there destroyed), the base image
// cached, and whatever lab is there when the test ends destroyed, for a
// test that runs etcdplay lab itself, as an operator does. LabEnviron is
// the environment that makes etcdplay lab use it.
func Reserve(tb testing.TB, spec Spec) *Env {
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
	etcdDir := FindEtcd()
	if etcdDir == "" {
		tb.Skipf("no etcd binaries: run make etcd, or set %s to a directory with etcd and etcdctl", EnvEtcd)
	}
	e := &Env{EtcdDir: etcdDir, Bin: Binary(tb), Work: tb.TempDir(), Addrs: map[string]netip.Addr{}, TLS: spec.TLS}
	e.PKIDir = filepath.Join(e.Work, "etcd-pki")
	pki := etcd.LocalPKI{Dir: e.PKIDir}
	e.CAFile, e.CertFile, e.KeyFile = pki.CAFile(), pki.ClientCert(), pki.ClientKey()

	dir := os.Getenv(spec.DirEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), spec.Name+"-lab")
	}
	unlock := lockFile(tb, dir+".lock")
	tb.Cleanup(unlock) // last: cleanups run in reverse

	imageDir := os.Getenv(lab.EnvImageDir)
	if imageDir == "" {
		imageDir = filepath.Join(lab.DefaultDir, "image")
	}
	subnet := spec.Subnet
	if s := os.Getenv(spec.SubnetEnv); s != "" {
		subnet = s
	}
	prefix, err := lab.ParseSubnet(subnet)
	if err != nil {
		tb.Fatalf("%s: %v", spec.SubnetEnv, err)
	}
	cfg := lab.Config{Dir: dir, ImageDir: imageDir, Name: spec.Name, Bridge: spec.Bridge, Subnet: prefix, Log: testLog{tb}}
	l, err := lab.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e.Lab = l
	e.LabEnviron = []string{lab.EnvDir + "=" + dir, lab.EnvImageDir + "=" + imageDir, "ETCDPLAY_LAB_NAME=" + spec.Name,
		"ETCDPLAY_LAB_SUBNET=" + subnet, "ETCDPLAY_LAB_BRIDGE=" + spec.Bridge}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if l.Exists() {
		tb.Logf("destroying the lab an earlier run left in %s", dir)
		if err := l.Destroy(ctx, false); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		// Opened again: etcdplay lab, another process, may have made it.
		if l, err := lab.Open(cfg); err == nil && l.Exists() {
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
	return e
}

// FindEtcd returns the directory of the etcd binaries: $ETCDPLAY_ETCD_DIR,
// else what make etcd built in the module's .cache.
func FindEtcd() string {
	if d := os.Getenv(EnvEtcd); d != "" {
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

// FindEtcdPrev returns the directory of the etcd 3.5 build the upgrade
// tests start from: $ETCDPLAY_ETCD_PREV_DIR, else what make etcd-prev
// built in the module's .cache; "" when there is none.
func FindEtcdPrev() string {
	if d := os.Getenv(EnvEtcdPrev); d != "" {
		return d
	}
	found, _ := filepath.Glob(filepath.Join("..", ".cache", "etcd", "v3.5.*", "etcd"))
	// The newest by version: v3.5.9 is older than v3.5.26.
	version := func(p string) etcd.Version { v, _ := etcd.ParseVersion(filepath.Base(filepath.Dir(p))); return v }
	slices.SortFunc(found, func(a, b string) int { return version(a).Compare(version(b)) })
	for i := len(found) - 1; i >= 0; i-- {
		if dir, err := filepath.Abs(filepath.Dir(found[i])); err == nil {
			return dir
		}
	}
	return ""
}

// Binary is $ETCDPLAY_BIN, or etcdplay built once for the test
// binary's run.
func Binary(tb testing.TB) string {
	tb.Helper()
	if b := os.Getenv(EnvBin); b != "" {
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
		cmd := exec.Command(gobin, "build", "-o", builtBin, "github.com/etcdplay/etcdplay/cmd/etcdplay")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build etcdplay: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return builtBin
}

func lockFile(tb testing.TB, path string) func() {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		tb.Logf("waiting for another Run holding %s", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			tb.Fatal(err)
		}
	}
	return func() { f.Close() }
}

// Event is one line of etcdplay run -o json.
type Event struct {
	Type     string         `json:"type"`
	Time     time.Time      `json:"time"`
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
		Duration int64    `json:"duration_ms"`
		Error    string   `json:"error"`
		Recovery []string `json:"recovery"`
	} `json:"recap"`
}

// Run is one etcdplay run of a playbook.
type Run struct {
	Code    int
	Out     string // stdout and stderr, for messages
	Raw     string // stdout and stderr as written: JSON events whole
	Events  []Event
	Elapsed time.Duration
}

// Changed counts changed results over every host.
func (r Run) Changed() int {
	n := 0
	for _, e := range r.Events {
		if e.Type == "recap" && e.Recap != nil {
			for _, h := range e.Recap.Hosts {
				n += h.Changed
			}
		}
	}
	return n
}

// Prints are the playbook's print() lines.
func (r Run) Prints() string {
	var b strings.Builder
	for _, e := range r.Events {
		if e.Type == "print" {
			b.WriteString(e.Msg + "\n")
		}
	}
	return b.String()
}

// Play runs etcdplay run PLAYBOOK with the test inventory and etcd_src
// (unless args say where etcd comes from: etcd_src, etcd_version or
// etcd_package), in JSON unless args ask for text (--text is removed and
// selects it).
func (e *Env) Play(tb testing.TB, playbook string, args ...string) Run {
	tb.Helper()
	r, _ := e.PlayUntil(tb, nil, nil, playbook, args...)
	return r
}

// PlayUntil is Play that watches the run's events as they come: at the
// first for which at returns true, it calls do (which may kill the
// process, stop a host, drop the network) and goes on reading until the
// run ends. It reports whether do was called. at and do may be nil.
func (e *Env) PlayUntil(tb testing.TB, at func(Event) bool, do func(p *os.Process), playbook string, args ...string) (Run, bool) {
	tb.Helper()
	return e.play(tb, nil, at, do, playbook, args...)
}

// PlayPaused is PlayUntil stopped at the first task of module: the run
// holds there (ETCDPLAY_PAUSE_BEFORE) and do is called once it says so,
// before the task has touched anything, which a signal sent on seeing
// the task's start cannot promise.
func (e *Env) PlayPaused(tb testing.TB, module string, do func(p *os.Process), playbook string, args ...string) (Run, bool) {
	tb.Helper()
	return e.play(tb, []string{"ETCDPLAY_PAUSE_BEFORE=" + module}, func(ev Event) bool {
		return ev.Type == "warning" && strings.HasPrefix(ev.Msg, "paused before "+module+" ")
	}, do, playbook, args...)
}

func (e *Env) play(tb testing.TB, env []string, at func(Event) bool, do func(p *os.Process), playbook string, args ...string) (Run, bool) {
	tb.Helper()
	text := slices.Contains(args, "--text")
	args = slices.DeleteFunc(args, func(a string) bool { return a == "--text" })
	argv := []string{"run", playbook, "-i", e.Inv}
	if !slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "etcd_src=") || strings.HasPrefix(a, "etcd_version=") || strings.HasPrefix(a, "etcd_package=")
	}) {
		argv = append(argv, "-e", "etcd_src="+e.EtcdDir)
	}
	argv = append(argv, args...)
	if !text {
		argv = append(argv, "-o", "json")
	}
	cmd := exec.Command(e.Bin, argv...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	r, hit := e.start(tb, cmd, !text, at, do)
	tb.Logf("etcdplay run %s %s: exit %d in %s", playbook, strings.Join(args, " "), r.Code, r.Elapsed.Round(time.Millisecond))
	if r.Elapsed > 5*time.Second && !text {
		tb.Logf("slow run: %s", Breakdown(r))
	}
	return r, hit
}

// RunCommand runs a command line as an operator pastes it into a shell
// (a remedy etcdplay printed), with this lab's etcdplay as etcdplay on
// the PATH, in the runs' working directory. Its JSON events are read
// when it asks for -o json.
func (e *Env) RunCommand(tb testing.TB, line string) Run {
	tb.Helper()
	bin := filepath.Join(e.Work, ".bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(bin, "etcdplay")); err != nil {
		if err := os.Symlink(e.Bin, filepath.Join(bin, "etcdplay")); err != nil {
			tb.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	r, _ := e.start(tb, cmd, strings.Contains(line, "-o json"), nil, nil)
	tb.Logf("%s: exit %d in %s", line, r.Code, r.Elapsed.Round(time.Millisecond))
	return r
}

// start runs cmd to its end, reading JSON events from its stdout when
// json is set.
func (e *Env) start(tb testing.TB, cmd *exec.Cmd, json bool, at func(Event) bool, do func(p *os.Process)) (Run, bool) {
	tb.Helper()
	cmd.Dir = e.Work
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(append(cmd.Env, e.Environ...), "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	timer := time.AfterFunc(4*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	r := Run{}
	hit := false
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		stdout.Write(sc.Bytes())
		stdout.WriteByte('\n')
		if !json {
			continue
		}
		var ev Event
		if err := jsonUnmarshal(sc.Bytes(), &ev); err != nil {
			tb.Fatalf("%s: output line %q: %v", strings.Join(cmd.Args, " "), sc.Text(), err)
		}
		r.Events = append(r.Events, ev)
		if !hit && at != nil && at(ev) {
			hit = true
			if do != nil {
				do(cmd.Process)
			}
		}
	}
	err = cmd.Wait()
	r.Elapsed = time.Since(start)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
		if st, ok := exit.Sys().(interface{ Signaled() bool }); ok && st.Signaled() {
			r.Code = -1
		}
	case err != nil:
		tb.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	r.Out = stdout.String() + stderr.String()
	r.Raw = r.Out
	if json {
		var warnings strings.Builder
		for _, ev := range r.Events {
			if ev.Type == "warning" {
				fmt.Fprintf(&warnings, "warning: %s: %s\n", ev.Host, ev.Msg)
			}
		}
		r.Out = r.Prints() + warnings.String() + stderr.String()
	}
	return r, hit
}

// Key is the value of key in the cluster, read through the members on
// hosts ("" when there is none).
func (e *Env) Key(tb testing.TB, hosts []string, key string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := e.Client(tb, hosts...).Get(ctx, key)
	if err != nil {
		tb.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// SSHDConfig puts content in an sshd drop-in of every host and reloads
// sshd ("" removes it): a hardened sshd, for a while.
func (e *Env) SSHDConfig(tb testing.TB, hosts []string, content string) {
	tb.Helper()
	for _, h := range hosts {
		cmd := "rm -f /etc/ssh/sshd_config.d/etcdplay-test.conf"
		if content != "" {
			cmd = fmt.Sprintf("printf '%%s' '%s' > /etc/ssh/sshd_config.d/etcdplay-test.conf", strings.ReplaceAll(content, "'", ""))
		}
		e.Exec(tb, h, cmd+" && systemctl reload ssh")
	}
}

// Active are the hosts of hosts whose etcd unit is active.
func (e *Env) Active(tb testing.TB, hosts ...string) []string {
	tb.Helper()
	var out []string
	for _, h := range hosts {
		if strings.TrimSpace(e.Exec(tb, h, "systemctl is-active etcd; true")) == "active" {
			out = append(out, h)
		}
	}
	return out
}

var jsonUnmarshal = json.Unmarshal

// Recovery is the recap's TO RECOVER lines.
func (r Run) Recovery() []string {
	for _, ev := range r.Events {
		if ev.Type == "recap" && ev.Recap != nil {
			return ev.Recap.Recovery
		}
	}
	return nil
}

// Remedy is the command a line of the recap's recovery lines or of the
// output gives after prefix ("to continue: "), up to the end of the line;
// the test fails when there is none.
func (r Run) Remedy(tb testing.TB, prefix string) string {
	tb.Helper()
	for _, text := range append(r.Recovery(), r.Out) {
		for _, l := range strings.Split(text, "\n") {
			if _, cmd, ok := strings.Cut(l, prefix); ok {
				// A failure the call ignored ends with the printer's mark.
				return strings.TrimSuffix(strings.TrimSpace(cmd), " (ignored)")
			}
		}
	}
	tb.Fatalf("no %q in the output:\n%s\nrecovery:\n%s", prefix, r.Out, strings.Join(r.Recovery(), "\n"))
	return ""
}

// MustPlay is play that fails the test unless the run succeeds.
func (e *Env) MustPlay(tb testing.TB, playbook string, args ...string) Run {
	tb.Helper()
	r := e.Play(tb, playbook, args...)
	if r.Code != 0 {
		tb.Fatalf("etcdplay Run %s %s: exit %d\n%s", playbook, strings.Join(args, " "), r.Code, r.Out)
	}
	return r
}

// Endpoints are the client URLs of hosts, straight from the control
// machine to the lab's own addresses.
func (e *Env) Endpoints(hosts ...string) []string {
	var eps []string
	for _, h := range hosts {
		eps = append(eps, fmt.Sprintf("%s://%s:2379", e.Scheme(), e.Addrs[h]))
	}
	return eps
}

// Scheme is the members' URL scheme: https with TLS.
func (e *Env) Scheme() string {
	if e.TLS {
		return "https"
	}
	return "http"
}

// Peer is the peer URL of the member on host.
func (e *Env) Peer(host string) string { return fmt.Sprintf("%s://%s:2380", e.Scheme(), e.Addrs[host]) }

// PeerAt is the peer URL of the member on host at another port.
func (e *Env) PeerAt(host string, port int) string {
	return fmt.Sprintf("%s://%s:%d", e.Scheme(), e.Addrs[host], port)
}

// tlsConfig is the client TLS of the harness: etcdplay's CA and client
// certificate, which its first TLS run made.
func (e *Env) tlsConfig(tb testing.TB) *tls.Config {
	tb.Helper()
	if !e.TLS {
		return nil
	}
	ca, err := os.ReadFile(e.CAFile)
	if err != nil {
		tb.Fatalf("the clients' CA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	pair, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
	if err != nil {
		tb.Fatalf("the clients' certificate: %v", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// HTTPClient is an HTTP client of the members' client URLs (/version,
// /health), with the harness's TLS when the lab runs it.
func (e *Env) HTTPClient(tb testing.TB) *http.Client {
	tb.Helper()
	if !e.TLS {
		return http.DefaultClient
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: e.tlsConfig(tb)}}
}

// Cluster is ETCD_INITIAL_CLUSTER of the members on hosts, by name.
func (e *Env) Cluster(hosts ...string) string {
	var parts []string
	for _, h := range hosts {
		parts = append(parts, h+"="+e.Peer(h))
	}
	return strings.Join(parts, ",")
}

// Client is an etcd client of the members on hosts, closed when the test
// ends (before the lab is destroyed).
func (e *Env) Client(tb testing.TB, hosts ...string) *clientv3.Client {
	tb.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(hosts...), DialTimeout: 5 * time.Second, Logger: zap.NewNop(), TLS: e.tlsConfig(tb),
		Username: e.User, Password: e.Password})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Etcdctl runs the control machine's etcdctl against the members on hosts.
func (e *Env) Etcdctl(tb testing.TB, hosts []string, args ...string) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := []string{"--endpoints", strings.Join(e.Endpoints(hosts...), ","), "--command-timeout", "10s"}
	if e.TLS {
		argv = append(argv, "--cacert", e.CAFile, "--cert", e.CertFile, "--key", e.KeyFile)
	}
	if e.User != "" {
		argv = append(argv, "--user", e.User+":"+e.Password)
	}
	argv = append(argv, args...)
	out, err := exec.CommandContext(ctx, filepath.Join(e.EtcdDir, "etcdctl"), argv...).Output()
	if err != nil {
		var stderr string
		if x, ok := err.(*exec.ExitError); ok {
			stderr = string(x.Stderr)
		}
		tb.Fatalf("etcdctl %s: %v\n%s", strings.Join(argv, " "), err, stderr)
	}
	return out
}

// Member is a row of etcdctl Member list -w json.
type Member struct {
	ID         uint64   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

// Members is the member list as etcdctl shows it to the control machine,
// asked through hosts.
func (e *Env) Members(tb testing.TB, hosts ...string) []Member {
	tb.Helper()
	var resp struct{ Members []Member }
	out := e.Etcdctl(tb, hosts, "member", "list", "-w", "json")
	if err := json.Unmarshal(out, &resp); err != nil {
		tb.Fatalf("etcdctl Member list: %v\n%s", err, out)
	}
	sort.Slice(resp.Members, func(i, j int) bool { return resp.Members[i].Name < resp.Members[j].Name })
	return resp.Members
}

// WantMembers fails unless the cluster has exactly the started voting
// Members named.
func (e *Env) WantMembers(tb testing.TB, through []string, names ...string) []Member {
	tb.Helper()
	ms := e.Members(tb, through...)
	var got []string
	for _, m := range ms {
		d := m.Name
		switch {
		case m.Name == "" || len(m.ClientURLs) == 0:
			d = fmt.Sprintf("unstarted %x %v", m.ID, m.PeerURLs)
		case m.IsLearner:
			d += " (learner)"
		case len(m.PeerURLs) != 1 || m.PeerURLs[0] != e.Peer(m.Name):
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

// HostState is what a host holds that a playbook could change: etcd's
// process, its unit, config, TLS files and data dirs, the binaries.
func (e *Env) HostState(tb testing.TB, host string) string {
	tb.Helper()
	const script = `systemctl show -p ActiveState -p MainPID etcd 2>/dev/null
echo enabled: $(systemctl is-enabled etcd 2>/dev/null)
sha256sum /etc/etcd/etcd.conf /etc/systemd/system/etcd.service /usr/local/bin/etcd /etc/etcd/pki/* 2>/dev/null
ls -la --time-style=+ /var/lib/etcd 2>/dev/null | sed 1d
id etcd 2>/dev/null; true`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e.Lab.Exec(ctx, host, script)
	if err != nil {
		tb.Fatalf("%s: %v\n%s", host, err, out)
	}
	return string(out)
}

func (e *Env) HostStates(tb testing.TB, hosts ...string) map[string]string {
	tb.Helper()
	m := map[string]string{}
	for _, h := range hosts {
		m[h] = e.HostState(tb, h)
	}
	return m
}

func (e *Env) WantUnchanged(tb testing.TB, before map[string]string) {
	tb.Helper()
	for h, was := range before {
		if now := e.HostState(tb, h); now != was {
			tb.Errorf("%s changed:\nbefore:\n%s\nafter:\n%s", h, was, now)
		}
	}
}

func (e *Env) Exec(tb testing.TB, host, command string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e.Lab.Exec(ctx, host, command)
	if err != nil {
		tb.Fatalf("%s: %s: %v\n%s", host, command, err, out)
	}
	return string(out)
}

// WaitHealthy waits until every Member on hosts answers a linearizable
// read, as a client would see it.
func (e *Env) WaitHealthy(tb testing.TB, hosts ...string) {
	tb.Helper()
	clients := map[string]*clientv3.Client{}
	for _, h := range hosts {
		clients[h] = e.Client(tb, h)
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

// PutKeys writes n keys under prefix and returns them with their values.
func PutKeys(tb testing.TB, c *clientv3.Client, prefix string, n int) map[string]string {
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

// WantKeys reads every key back, one linearizable read each.
func WantKeys(tb testing.TB, c *clientv3.Client, kv map[string]string) {
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

// Snapshots are the files runs saved in backups/ on the control machine.
func (e *Env) Snapshots() []string {
	found, _ := filepath.Glob(filepath.Join(e.Work, "backups", "*"))
	return found
}

// EtcdplayExec runs command on host with etcdplay exec, as an operator
// would.
func (e *Env) EtcdplayExec(tb testing.TB, host, command string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Bin, "exec", "-i", e.Inv, host, "--", command)
	cmd.Dir = e.Work
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("etcdplay exec %s -- %s: %v\n%s", host, command, err, out)
	}
	return string(out)
}

// Conf is host's etcd.conf.
func (e *Env) Conf(tb testing.TB, host string) string {
	tb.Helper()
	return e.Exec(tb, host, "cat /etc/etcd/etcd.conf")
}

// WantConf fails unless the etcd.conf of every host has every line.
func (e *Env) WantConf(tb testing.TB, hosts []string, lines ...string) {
	tb.Helper()
	for _, h := range hosts {
		conf := e.Conf(tb, h)
		for _, l := range lines {
			if !slices.Contains(strings.Split(conf, "\n"), l) {
				tb.Errorf("%s: etcd.conf lacks %s:\n%s", h, l, conf)
			}
		}
	}
}

var cellSep = regexp.MustCompile(`\s{2,}`)

// PrintedTable finds the table a print of the run holds whose header
// starts with the column first, and returns its header and rows, each a
// map by column title. Cells are two or more spaces apart; the last
// column takes what is left of a line.
func PrintedTable(tb testing.TB, r Run, first string) ([]string, []map[string]string) {
	tb.Helper()
	for _, ev := range r.Events {
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
	tb.Fatalf("no printed table with column %s:\n%s", first, r.Prints())
	return nil, nil
}

// MemberWatch records how one host's Member shows in the member list,
// polled every 20ms: each state ("absent", "learner, unstarted", "voter,
// started", ...) once for as long as it lasts.
type MemberWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	seen []string
}

func WatchMember(c *clientv3.Client, peer string) *MemberWatch {
	w := &MemberWatch{done: make(chan struct{})}
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

func (w *MemberWatch) Stop() []string {
	close(w.done)
	w.wg.Wait()
	return w.seen
}

// MakeLeader moves leadership to the member on host, asking the leader
// with the control machine's etcdctl, and waits until host leads.
func (e *Env) MakeLeader(tb testing.TB, host string, members ...string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leader, ids := "", map[string]uint64{}
		for _, h := range members {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := e.Client(tb, h).Status(ctx, e.Endpoints(h)[0])
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
			e.Etcdctl(tb, []string{leader}, "move-leader", fmt.Sprintf("%x", ids[host]))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Listening are the TCP ports host listens on.
func (e *Env) Listening(tb testing.TB, host string) []uint64 {
	tb.Helper()
	var ports []uint64
	for _, l := range strings.Split(e.Exec(tb, host, "cat /proc/net/tcp /proc/net/tcp6"), "\n") {
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

// Writer puts a key every 20ms until stopped, retrying a failed put up to
// 10 times: a client's answer to "leader changed" and to its Member's
// connection closing while it restarts.
type Writer struct {
	done chan struct{}
	wg   sync.WaitGroup
	st   WriterStats
}

type WriterStats struct {
	KV      map[string]string
	Retried int
	Kinds   map[string]int
	Failed  []string
	// MaxStall is the longest a write took to be acknowledged, retries
	// included: how long the writer could not write.
	MaxStall time.Duration
	// Writes are every write, in order: when it began and how long it
	// took to be acknowledged (or to fail), retries included.
	Writes []Write
}

// Write is one write of a Writer.
type Write struct {
	At   time.Time
	Took time.Duration
}

// Worst is the longest of the writes that began in [from, to), and how
// many did.
func (s WriterStats) Worst(from, to time.Time) (time.Duration, int) {
	var worst time.Duration
	n := 0
	for _, w := range s.Writes {
		if !w.At.Before(from) && w.At.Before(to) {
			worst = max(worst, w.Took)
			n++
		}
	}
	return worst, n
}

func (s WriterStats) RetryKinds() string {
	var parts []string
	for k, n := range s.Kinds {
		parts = append(parts, fmt.Sprintf("%dx %s", n, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func StartWriter(c *clientv3.Client, prefix string) *Writer {
	w := &Writer{done: make(chan struct{}), st: WriterStats{KV: map[string]string{}, Kinds: map[string]int{}}}
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
			began := time.Now()
			for attempt := 0; attempt <= 10; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err = c.Put(ctx, k, v)
				cancel()
				if err == nil {
					break
				}
				w.st.Retried++
				w.st.Kinds[errKind(err)]++
				time.Sleep(100 * time.Millisecond)
			}
			w.st.Writes = append(w.st.Writes, Write{At: began, Took: time.Since(began)})
			if err != nil {
				w.st.Failed = append(w.st.Failed, fmt.Sprintf("%s: %v", k, err))
				continue
			}
			w.st.MaxStall = max(w.st.MaxStall, time.Since(began))
			w.st.KV[k] = v
		}
	}()
	return w
}

func (w *Writer) Stop() WriterStats {
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

// waitsOnEtcd says whether a task's time is etcd's rather than
// etcdplay's, from its results: systemd starting, stopping or restarting
// etcd returns when etcd says it is ready or has stopped (a new cluster
// has elected a leader, a Member has joined, a leader has handed over);
// wait_healthy that needed more than one round, member_promote that had to
// wait for the learner to catch up, and a membership change retried while
// etcd refused it (its members had not been connected for 5s yet) waited
// on etcd. A check that passed at once counts as etcdplay's: its time is
// round trips.
func waitsOnEtcd(module string, results []Event, progress []string) bool {
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

type TaskTime struct {
	module, pos string
	took        time.Duration
	etcd        bool
}

// Tasks are the run's module calls with their durations, from the JSON
// events.
func Tasks(r Run) []TaskTime {
	results := map[int][]Event{}
	progress := map[int][]string{}
	var out []TaskTime
	for _, ev := range r.Events {
		switch ev.Type {
		case "host_result":
			results[ev.Task] = append(results[ev.Task], ev)
		case "progress":
			progress[ev.Task] = append(progress[ev.Task], ev.Msg)
		case "task_end":
			took := time.Duration(ev.Duration) * time.Millisecond
			out = append(out, TaskTime{ev.Module, filepath.Base(ev.Pos), took, waitsOnEtcd(ev.Module, results[ev.Task], progress[ev.Task])})
		}
	}
	return out
}

func EtcdWait(r Run) time.Duration {
	var d time.Duration
	for _, t := range Tasks(r) {
		if t.etcd {
			d += t.took
		}
	}
	return d
}

// Breakdown is a run's time: total, etcd's, the rest, and the slowest
// Tasks.
func Breakdown(r Run) string {
	ts := Tasks(r)
	etcd := EtcdWait(r)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].took > ts[j].took })
	var top []string
	for _, t := range ts[:min(6, len(ts))] {
		mark := ""
		if t.etcd {
			mark = "*"
		}
		top = append(top, fmt.Sprintf("%s%s (%s) %s", t.module, mark, t.pos, t.took.Round(time.Millisecond)))
	}
	return fmt.Sprintf("%s total, %s waiting on etcd, %s etcdplay (%d Tasks; slowest: %s; * = etcd's time)",
		r.Elapsed.Round(time.Millisecond), etcd.Round(time.Millisecond), (r.Elapsed - etcd).Round(time.Millisecond),
		len(ts), strings.Join(top, ", "))
}
