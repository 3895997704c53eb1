package lab

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAddrPlan(t *testing.T) {
	p := addrPlan{netip.MustParsePrefix("10.77.0.0/24")}
	if got := p.gateway().String(); got != "10.77.0.1" {
		t.Errorf("gateway = %s, want 10.77.0.1", got)
	}
	for i, want := range map[int]string{1: "10.77.0.11", 3: "10.77.0.13", 7: "10.77.0.17", 99: "10.77.0.109"} {
		if got := p.host(i).String(); got != want {
			t.Errorf("host(%d) = %s, want %s", i, got, want)
		}
	}
	if got := p.maxHosts(); got != MaxHosts {
		t.Errorf("maxHosts /24 = %d, want %d", got, MaxHosts)
	}
	small := addrPlan{netip.MustParsePrefix("192.168.5.16/28")}
	if got := small.maxHosts(); got != 4 {
		t.Errorf("maxHosts /28 = %d, want 4 (.27 .. .30 below broadcast .31)", got)
	}
	if got := small.host(4).String(); got != "192.168.5.30" {
		t.Errorf("host(4) in /28 = %s", got)
	}
}

func TestParseSubnet(t *testing.T) {
	for _, ok := range []string{"10.77.0.0/24", "172.16.9.0/24", "192.168.200.0/28", "10.0.0.0/16"} {
		if _, err := ParseSubnet(ok); err != nil {
			t.Errorf("ParseSubnet(%q) = %v, want ok", ok, err)
		}
	}
	for in, want := range map[string]string{
		"10.77.0.1/24":   "host bits",
		"8.8.8.0/24":     "not a private network",
		"fd00::/64":      "IPv4",
		"10.77.0.0/29":   "too small",
		"10.77.0.0":      "expected an IPv4 network",
		"192.168.1.0/33": "expected an IPv4 network",
	} {
		_, err := ParseSubnet(in)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSubnet(%q) = %v, want a ConfigError with %q", in, err, want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Setenv(EnvDir, "")
	t.Setenv(EnvImageDir, "")
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c, err = c.withNetDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir != DefaultDir || c.ImageDir != DefaultDir+"/image" || c.Name != "etcdplay" || c.Bridge != "etcdplay0" || c.Subnet.String() != DefaultSubnet {
		t.Errorf("defaults: %+v", c)
	}
	t.Setenv(EnvDir, "/tmp/lab-x")
	t.Setenv(EnvImageDir, "/tmp/images")
	c, _ = Config{Packages: []string{"python3, etcd-server", "sudo", "python3"}}.withDefaults()
	if c.Dir != "/tmp/lab-x" || c.ImageDir != "/tmp/images" {
		t.Errorf("from env: dir %s image %s", c.Dir, c.ImageDir)
	}
	if want := []string{"etcd-server", "python3"}; !reflect.DeepEqual(c.Packages, want) {
		t.Errorf("packages %q, want %q (sorted, deduplicated, base ones dropped)", c.Packages, want)
	}
	for _, bad := range []Config{
		{Dir: "/tmp/with space"},
		{Dir: "/tmp/a,b"},
		{Packages: []string{"rm -rf"}},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	for _, bad := range []Config{{Name: "Upper"}, {Bridge: "much-too-long-bridge"}, {Name: "a-very-long-lab-name-here"}} {
		if _, err := bad.withNetDefaults(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestHostIndex(t *testing.T) {
	for in, want := range map[string]int{"etcd-1": 1, "etcd-12": 12, "3": 3} {
		if got, ok := hostIndex(in); !ok || got != want {
			t.Errorf("hostIndex(%q) = %d, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"etcd-0", "etcd-01", "etcd", "host-1", "-1", ""} {
		if _, ok := hostIndex(bad); ok {
			t.Errorf("hostIndex(%q) ok", bad)
		}
	}
}

func testState() *state {
	s := &state{Version: stateVersion, Name: "etcdplay", Bridge: "etcdplay0", Subnet: netip.MustParsePrefix("10.77.0.0/24"),
		Image: "/var/lib/etcdplay/lab/image/bookworm-0123456789ab", Cgroups: []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"},
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for i := 1; i <= 4; i++ {
		s.Hosts = append(s.Hosts, &hostState{Index: i, Name: hostName(i), Addr: s.plan().host(i), Status: hostStopped,
			HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + strings.Repeat(string(rune('A'+i)), 10) + " root@" + hostName(i)})
	}
	return s
}

func TestInventoryText(t *testing.T) {
	got := inventoryText(testState(), "/lab/id_ed25519", "/lab/known_hosts", "/lab")
	want := `# etcdplay lab in /lab, written by "etcdplay lab up".
# Host keys: /lab/known_hosts

[etcd]
etcd-1 ansible_host=10.77.0.11 ansible_user=root ansible_ssh_private_key_file=/lab/id_ed25519
etcd-2 ansible_host=10.77.0.12 ansible_user=root ansible_ssh_private_key_file=/lab/id_ed25519
etcd-3 ansible_host=10.77.0.13 ansible_user=root ansible_ssh_private_key_file=/lab/id_ed25519

[spare]
etcd-4 ansible_host=10.77.0.14 ansible_user=root ansible_ssh_private_key_file=/lab/id_ed25519

[all:vars]
ansible_ssh_common_args='-o UserKnownHostsFile=/lab/known_hosts -o StrictHostKeyChecking=yes'
`
	if got != want {
		t.Errorf("inventory:\n%s\nwant:\n%s", got, want)
	}
	// With etcd binaries given, playbooks find them as etcd_src.
	st := testState()
	st.EtcdSrc = "/src/etcd/v3.6.16"
	got = inventoryText(st, "/lab/id_ed25519", "/lab/known_hosts", "/lab")
	if !strings.HasSuffix(got, want[strings.Index(want, "[all:vars]"):]+"etcd_src=/src/etcd/v3.6.16\n") {
		t.Errorf("inventory with etcd_src:\n%s", got)
	}
}

func TestKnownHostsText(t *testing.T) {
	got := knownHostsText(testState())
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 4 {
		t.Fatalf("known_hosts has %d lines:\n%s", len(lines), got)
	}
	if want := "10.77.0.11,etcd-1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBB"; lines[0] != want {
		t.Errorf("line 1 = %q, want %q", lines[0], want)
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := testState()
	s.Hosts[0].PID, s.Hosts[0].PIDStart, s.Hosts[0].Status = 4242, 123456, hostRunning
	s.Hosts[0].Started = time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)
	if err := writeState(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := readState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(s)
		t.Errorf("round trip:\n%s\nwant\n%s", a, b)
	}
	if got.netns(2) != "etcdplay-host2" || got.veth(2) != "etcdplay0-2" ||
		got.cgroupDirs(2)[1] != "/sys/fs/cgroup/systemd/etcdplay-lab/host2" {
		t.Errorf("names: %s %s %v", got.netns(2), got.veth(2), got.cgroupDirs(2))
	}
	os.WriteFile(path, []byte(`{"version": 99}`), 0o644)
	if _, err := readState(path); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("future version: %v", err)
	}
}

func TestMirror(t *testing.T) {
	deb822 := `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`
	if got := mirrorFromDeb822([]byte(deb822), "bookworm"); got != "http://deb.debian.org/debian" {
		t.Errorf("deb822: %q", got)
	}
	disabled := "Enabled: no\nTypes: deb\nURIs: http://a/debian\nSuites: bookworm\nComponents: main\n"
	if got := mirrorFromDeb822([]byte(disabled), "bookworm"); got != "" {
		t.Errorf("disabled stanza used: %q", got)
	}
	list := `# comment
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm-updates main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib
`
	if got := mirrorFromList([]byte(list), "bookworm"); got != "http://mirror.example/debian" {
		t.Errorf("list: %q", got)
	}
	if got := mirrorFromList([]byte("deb cdrom:[Debian]/ bookworm main\n"), "bookworm"); got != "" {
		t.Errorf("cdrom used: %q", got)
	}
}

func TestImageKey(t *testing.T) {
	a, b := imageKey(nil), imageKey([]string{"etcd-client", "etcd-server"})
	if a == b || !strings.HasPrefix(a, "bookworm-") || imageKey(nil) != a {
		t.Errorf("keys %s %s", a, b)
	}
}

func TestConflicts(t *testing.T) {
	subnet := netip.MustParsePrefix("10.77.0.0/24")
	routes := []route{
		{Dst: "default", Dev: "eth0"},
		{Dst: "192.0.2.0/24", Dev: "eth0"},
		{Dst: "10.77.0.0/24", Dev: "etcdplay0"},
		{Type: "blackhole", Dst: "10.77.0.0/24", Metric: blackholeMetric},
	}
	if got := conflicts(subnet, "etcdplay0", true, routes, nil); len(got) != 0 {
		t.Errorf("own routes reported: %v", got)
	}
	if got := conflicts(subnet, "etcdplay0", false, routes, nil); len(got) != 1 || !strings.Contains(got[0], "blackhole") {
		t.Errorf("another lab's blackhole not reported: %v", got)
	}
	routes = append(routes, route{Dst: "10.0.0.0/8", Dev: "tun0"}, route{Type: "local", Dst: "10.77.0.5", Dev: "eth1", Table: "local"})
	var addrs []addrInfo
	json.Unmarshal([]byte(`[{"ifname":"eth1","addr_info":[{"local":"10.77.0.5","prefixlen":24}]},{"ifname":"etcdplay0","addr_info":[{"local":"10.77.0.1","prefixlen":24}]}]`), &addrs)
	got := conflicts(subnet, "etcdplay0", true, routes, addrs)
	want := []string{"route 10.0.0.0/8 dev tun0", "address 10.77.0.5/24 on eth1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("conflicts = %q, want %q", got, want)
	}
}

func TestParseMountInfo(t *testing.T) {
	mi := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
90 22 0:50 / /var/lib/etcdplay/lab/hosts/host1/root rw,relatime shared:40 - overlay overlay rw,lowerdir=/var/lib/etcdplay/lab/image/bookworm-x/rootfs,upperdir=/u,workdir=/w
91 22 0:51 / /tmp/with\040space rw - tmpfs tmpfs rw
`
	ms := parseMountInfo([]byte(mi))
	if len(ms) != 3 || ms[1].FSType != "overlay" || ms[2].Point != "/tmp/with space" {
		t.Fatalf("parsed %+v", ms)
	}
}
