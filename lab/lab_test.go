package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Environment of TestLab: it makes its own lab, on a subnet and with a
// name (so a bridge NAME0) of its own, beside any lab of the user's.
const (
	envTestSubnet = "ETCDPLAY_LAB_TEST_SUBNET" // default 10.77.1.0/24
	envTestName   = "ETCDPLAY_LAB_TEST_NAME"   // default etcdplay-t
	envTestDir    = "ETCDPLAY_LAB_TEST_DIR"    // default $TMPDIR/etcdplay-lab-test-NAME
)

type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestLab boots a real lab of three hosts and checks what the shipped
// playbooks and the end-to-end tests rely on: each host is itself (name,
// address, machine-id, host key) over SSH with strict host key checking,
// systemd starts units, a killed host is unreachable and comes back with
// its disk, and destroy leaves nothing behind.
func TestLab(t *testing.T) {
	if testing.Short() {
		t.Skip("boots containers; skipped with -short")
	}
	imageDir := os.Getenv(EnvImageDir)
	if imageDir == "" {
		imageDir = filepath.Join(DefaultDir, "image")
	}
	_, cached := readImage(filepath.Join(imageDir, imageKey(nil)))
	if err := CheckMachine(!cached); err != nil {
		t.Skipf("the lab cannot run here: %v", err)
	}
	subnet, err := ParseSubnet(envOr(envTestSubnet, "10.77.1.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	name := envOr(envTestName, "etcdplay-t")
	// A fixed directory, so a run that crashed (a test timeout skips
	// cleanups) is cleaned up by the next one instead of blocking it.
	dir := envOr(envTestDir, filepath.Join(os.TempDir(), "etcdplay-lab-test-"+name))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Runs at once on one machine (go test ./... in two trees) take
	// turns rather than destroy each other's lab.
	unlock, err := lockFile(dir+".lock", testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock) // after the destroy below: cleanups run last first

	l, err := Open(Config{Dir: dir, ImageDir: imageDir, Name: name, Subnet: subnet, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Exists() {
		t.Logf("destroying the lab an earlier run left in %s", dir)
		if err := l.Destroy(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if l.Exists() {
			if err := l.Destroy(context.Background(), false); err != nil {
				t.Errorf("cleanup: destroy: %v", err)
			}
		}
	})

	begin := time.Now()
	if _, err := l.BuildImage(ctx, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("image ready in %s", time.Since(begin).Round(time.Millisecond))

	begin = time.Now()
	if err := l.Up(ctx, 3); err != nil {
		t.Fatal(err)
	}
	t.Logf("3 hosts up in %s", time.Since(begin).Round(time.Millisecond))
	hosts := l.Hosts()
	if len(hosts) != 3 {
		t.Fatalf("hosts: %v", hosts)
	}

	// Each host is itself, seen through the lab's known_hosts.
	hostKeys := knownHostKeys(t, l)
	ids, keys := map[string]string{}, map[string]string{}
	for _, h := range hosts {
		out := runKnownHosts(t, l, h, "hostname; cat /etc/machine-id; ip -4 -o addr show dev eth0 | awk '{print $4}'; "+
			"cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub; ip route show default | wc -l")
		f := strings.Fields(out)
		if len(f) != 5 {
			t.Fatalf("%s: unexpected output %q", h.Name, out)
		}
		wantAddr := netip.PrefixFrom(h.Addr, subnet.Bits()).String()
		if f[0] != h.Name || f[2] != wantAddr || f[4] != "0" {
			t.Errorf("%s: hostname %s, address %s, %s default routes; want %s, %s, 0", h.Name, f[0], f[2], f[4], h.Name, wantAddr)
		}
		if len(f[1]) != 32 {
			t.Errorf("%s: machine-id %q", h.Name, f[1])
		}
		if other, dup := ids[f[1]]; dup {
			t.Errorf("%s and %s share machine-id %s", h.Name, other, f[1])
		}
		if other, dup := keys[f[3]]; dup {
			t.Errorf("%s and %s share a host key", h.Name, other)
		}
		ids[f[1]], keys[f[3]] = h.Name, h.Name
		if hostKeys[h.Addr.String()] != f[3] {
			t.Errorf("%s: host key in known_hosts %q, on the host %q", h.Name, hostKeys[h.Addr.String()], f[3])
		}
	}

	// OpenSSH with the lab's inventory files and strict checking.
	if _, err := exec.LookPath("ssh"); err == nil {
		cmd, err := l.SSHCommand("etcd-3", "hostname")
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "etcd-3" {
			t.Errorf("ssh etcd-3 hostname: %q, %v", out, err)
		}
	}
	inv, err := os.ReadFile(l.InventoryPath())
	if err != nil || !strings.Contains(string(inv), "etcd-2 ansible_host="+hosts[1].Addr.String()+" ansible_user=root ansible_ssh_private_key_file="+l.KeyPath()) {
		t.Errorf("inventory: %v\n%s", err, inv)
	}

	// systemd runs a unit written to disk.
	const unit = `printf '[Service]\nExecStart=/bin/sleep infinity\n' > /etc/systemd/system/etcdplay-probe.service && ` +
		`systemctl daemon-reload && systemctl start etcdplay-probe && systemctl is-active etcdplay-probe`
	for _, h := range hosts {
		if out, err := l.Exec(ctx, h.Name, unit); err != nil || strings.TrimSpace(string(out)) != "active" {
			t.Errorf("%s: start a unit: %q, %v", h.Name, out, err)
		}
	}

	// A killed host vanishes at once, and comes back with its disk.
	id2 := strings.TrimSpace(mustExec(t, l, "etcd-2", "cat /etc/machine-id"))
	begin = time.Now()
	if err := l.Kill("etcd-2"); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed etcd-2 in %s", time.Since(begin).Round(time.Millisecond))
	begin = time.Now()
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(hosts[1].Addr.String(), "22"), 3*time.Second); err == nil {
		c.Close()
		t.Errorf("etcd-2 still answers on port 22 after kill")
	} else {
		t.Logf("etcd-2 after kill: %v (after %s)", err, time.Since(begin).Round(time.Millisecond))
	}
	if s := statusOf(t, l, "etcd-2"); s.State != hostKilled || s.PID != 0 {
		t.Errorf("etcd-2 after kill: %+v", s)
	}
	if _, err := l.Exec(ctx, "etcd-1", "true"); err != nil {
		t.Errorf("etcd-1 after killing etcd-2: %v", err)
	}
	begin = time.Now()
	if err := l.Start(ctx, "etcd-2"); err != nil {
		t.Fatal(err)
	}
	t.Logf("started etcd-2 in %s", time.Since(begin).Round(time.Millisecond))
	out := mustExec(t, l, "etcd-2", "cat /etc/machine-id; test -f /etc/systemd/system/etcdplay-probe.service && echo kept")
	if f := strings.Fields(out); len(f) != 2 || f[0] != id2 || f[1] != "kept" {
		t.Errorf("etcd-2 after restart: %q, want machine-id %s and the unit kept", out, id2)
	}

	// Down keeps the lab; Up resumes it.
	begin = time.Now()
	if err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("down in %s", time.Since(begin).Round(time.Millisecond))
	if s := statusOf(t, l, "etcd-1"); s.State != hostStopped {
		t.Errorf("etcd-1 after down: %s", s.State)
	}
	begin = time.Now()
	if err := l.Up(ctx, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("resumed 3 hosts in %s", time.Since(begin).Round(time.Millisecond))
	if got := strings.TrimSpace(mustExec(t, l, "etcd-1", "systemctl is-enabled etcdplay-probe 2>/dev/null; test -f /etc/systemd/system/etcdplay-probe.service && echo kept")); !strings.HasSuffix(got, "kept") {
		t.Errorf("etcd-1 lost its disk across down/up: %q", got)
	}
	status, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	var mem int64
	for _, h := range status.Hosts {
		mem += h.Memory
	}
	t.Logf("memory: %.1f MiB per host (PSS)", float64(mem)/3/(1<<20))

	// Destroy leaves nothing behind.
	l.mu.Lock()
	st := *l.st
	var procs []proc
	for _, h := range st.Hosts {
		procs = append(procs, proc{h.PID, h.PIDStart})
		if dirs := st.cgroupDirs(h.Index); len(dirs) > 0 {
			pid, start := containerInit(cgroupPIDs(dirs[0]))
			procs = append(procs, proc{pid, start})
		}
	}
	l.mu.Unlock()
	begin = time.Now()
	if err := l.Destroy(ctx, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("destroyed in %s", time.Since(begin).Round(time.Millisecond))
	assertGone(t, dir, &st, procs)
}

func assertGone(t *testing.T, dir string, st *state, procs []proc) {
	t.Helper()
	if m, _ := mountsUnder(dir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if m := overlaysOver(st.Image + "/rootfs"); len(m) > 0 {
		t.Logf("note: overlays over the image (other labs?): %v", m)
	}
	for _, h := range st.Hosts {
		if netnsExists(st.netns(h.Index)) {
			t.Errorf("network namespace %s left", st.netns(h.Index))
		}
		if linkExists(st.veth(h.Index)) {
			t.Errorf("veth %s left", st.veth(h.Index))
		}
	}
	if linkExists(st.Bridge) {
		t.Errorf("bridge %s left", st.Bridge)
	}
	if used, err := subnetConflicts(context.Background(), st.Subnet, st.Bridge, false); err != nil || len(used) > 0 {
		t.Errorf("routes or addresses of %s left: %v %v", st.Subnet, used, err)
	}
	for _, root := range st.Cgroups {
		if _, err := os.Stat(filepath.Join(root, st.cgroupParent())); !notExist(err) {
			t.Errorf("cgroup %s left (%v)", filepath.Join(root, st.cgroupParent()), err)
		}
	}
	for _, p := range procs {
		if p.pid > 0 && procPresent(p.pid, p.start) {
			t.Errorf("process %d still in the process table (running, or exited and not reaped)", p.pid)
		}
	}
	for _, f := range []string{"state.json", "hosts", "inventory.ini", "known_hosts", "id_ed25519"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !notExist(err) {
			t.Errorf("%s left in the lab directory", f)
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func mustExec(t *testing.T, l *Lab, host, cmd string) string {
	t.Helper()
	out, err := l.Exec(context.Background(), host, cmd)
	if err != nil {
		t.Fatalf("%s: %s: %v: %s", host, cmd, err, out)
	}
	return string(out)
}

func statusOf(t *testing.T, l *Lab, name string) HostStatus {
	t.Helper()
	s, err := l.Status()
	if err != nil || s == nil {
		t.Fatalf("status: %v", err)
	}
	for _, h := range s.Hosts {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("status has no %s", name)
	return HostStatus{}
}

// knownHostKeys reads the lab's known_hosts: address to base64 key.
func knownHostKeys(t *testing.T, l *Lab) map[string]string {
	t.Helper()
	b, err := os.ReadFile(l.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("known_hosts line %q", line)
		}
		keys[strings.Split(f[0], ",")[0]] = f[2]
	}
	return keys
}

// runKnownHosts runs cmd on h checking its key against the lab's
// known_hosts file, as etcdplay's transport does.
func runKnownHosts(t *testing.T, l *Lab, h Host, cmd string) string {
	t.Helper()
	cb, err := knownhosts.New(l.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := l.clientSigner()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: cb,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}, Timeout: 5 * time.Second}
	out, err := runSSH(context.Background(), net.JoinHostPort(h.Addr.String(), "22"), cfg, cmd)
	if err != nil {
		t.Fatalf("%s: %v: %s", h.Name, err, out)
	}
	return string(out)
}

// TestDestroyWaitsForReaping: hosts booted by another process (as
// etcdplay lab up does: it exits, and the machine's init becomes their
// nspawns' parent) are gone from the process table, not only exited, when
// Destroy returns; a lab destroyed and booted again at once must not meet
// the processes of the one before.
func TestDestroyWaitsForReaping(t *testing.T) {
	if os.Getenv("ETCDPLAY_LAB_REAP_HELPER") != "" {
		return // the helper's part is in TestMain
	}
	if testing.Short() {
		t.Skip("boots containers; skipped with -short")
	}
	imageDir := os.Getenv(EnvImageDir)
	if imageDir == "" {
		imageDir = filepath.Join(DefaultDir, "image")
	}
	if _, cached := readImage(filepath.Join(imageDir, imageKey(nil))); !cached || CheckMachine(false) != nil {
		t.Skip("needs the lab's cached image and a machine that runs it (TestLab builds the image)")
	}
	dir := filepath.Join(os.TempDir(), "etcdplay-lab-test-reap")
	unlock, err := lockFile(dir+".lock", testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	cfg := Config{Dir: dir, ImageDir: imageDir, Name: "etcdplay-r", Subnet: netip.MustParsePrefix(envOr("ETCDPLAY_LAB_REAP_SUBNET", "10.77.3.0/24")), Log: testLog{t}}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if l.Exists() {
		if err := l.Destroy(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	// Up in a process of its own, which then exits.
	cmd := exec.Command(os.Args[0], "-test.run=^TestDestroyWaitsForReaping$")
	cmd.Env = append(os.Environ(), "ETCDPLAY_LAB_REAP_HELPER="+dir, "ETCDPLAY_LAB_REAP_SUBNET="+cfg.Subnet.String(), EnvImageDir+"="+imageDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lab up in a helper process: %v\n%s", err, out)
	}
	l, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l.Exists() {
			l.Destroy(context.Background(), false)
		}
	})
	l.mu.Lock()
	var procs []proc
	for _, h := range l.st.Hosts {
		procs = append(procs, proc{h.PID, h.PIDStart})
	}
	l.mu.Unlock()
	if len(procs) != 2 {
		t.Fatalf("hosts of the helper's lab: %v", procs)
	}
	if err := l.Destroy(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if procPresent(p.pid, p.start) {
			t.Errorf("systemd-nspawn %d is still in the process table after Destroy returned", p.pid)
		}
	}
}

// TestMain runs the helper of TestDestroyWaitsForReaping: boot its lab
// and exit, leaving the hosts to the machine's init.
func TestMain(m *testing.M) {
	if dir := os.Getenv("ETCDPLAY_LAB_REAP_HELPER"); dir != "" {
		l, err := Open(Config{Dir: dir, ImageDir: os.Getenv(EnvImageDir), Name: "etcdplay-r", Subnet: netip.MustParsePrefix(os.Getenv("ETCDPLAY_LAB_REAP_SUBNET"))})
		if err == nil {
			err = l.Up(context.Background(), 2)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
