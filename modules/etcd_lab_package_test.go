package modules

import (
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/engine"
)

// Environment of TestLabInstallEtcdPackage: a lab of its own, beside the
// modules' (10.77.7.0/24), with Debian's etcd in its image.
const (
	envPackageLabSubnet = "ETCDPLAY_LAB_PACKAGE_SUBNET" // default 10.77.8.0/24
	envPackageLabName   = "ETCDPLAY_LAB_PACKAGE_NAME"   // default etcdplay-pk
)

// TestLabInstallEtcdPackage runs install_etcd package=True on a Debian 12
// host whose image holds Debian's etcd-server and etcd-client (etcd 3.4)
// and which has no network: nothing may be downloaded. The host starts as
// apt-get install leaves one, with the package's default instance enabled
// and running a single-member cluster of its own.
func TestLabInstallEtcdPackage(t *testing.T) {
	p := startLabWith(t, labSpec{name: "etcdplay-pk", nameEnv: envPackageLabName, subnet: "10.77.8.0/24", subnetEnv: envPackageLabSubnet,
		hosts: 1, packages: []string{"etcd-server", "etcd-client"}})
	ctx := testCtx(t)
	sh := func(cmd string) string {
		t.Helper()
		out, err := p.l.Exec(ctx, "etcd-1", cmd)
		if err != nil {
			t.Fatalf("%s on etcd-1: %v\n%s", cmd, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// The lab's image has the package's enablement removed; apt-get
	// install makes it and starts the instance.
	sh("systemctl enable --now etcd.service")
	// What decides whether a single-member cluster of the package's
	// defaults runs now or at boot, and what install_etcd writes.
	state := func() string {
		return sh(`systemctl show -p ActiveState -p UnitFileState -p FragmentPath -p MainPID etcd.service; ` +
			`find /etc/systemd/system -name 'etcd*' -printf '%p -> %l\n' | sort; ls /etc/etcd 2>&1; true`)
	}
	before := state()
	if !strings.Contains(before, "ActiveState=active") || !strings.Contains(before, "FragmentPath=/lib/systemd/system/etcd.service") {
		t.Fatalf("the package's instance does not run:\n%s", before)
	}

	const play = `
def main(ctx):
    r = install_etcd(ctx.host("etcd-1"), package = True)
    print("INSTALL", r.changed, r.bin_dir, r.unit_file, sorted(r.binaries.keys()))
`
	// Configured in /etc/default/etcd, the package's instance may be a
	// member of a cluster: refused, exit 5, nothing changed.
	sh("cp /etc/default/etcd /root/etcd.default && echo 'ETCD_NAME=\"etcd-1\"' >> /etc/default/etcd")
	rec, err := p.run(play, false, nil)
	var ee *engine.Error
	if !asEngineError(err, &ee) || ee.Kind() != engine.KindRefused || !strings.Contains(err.Error(), "running and configured in /etc/default/etcd") {
		t.Errorf("configured instance: %v\n%s", err, rec.buf)
	}
	sh("mv /root/etcd.default /etc/default/etcd")
	if after := state(); after != before {
		t.Errorf("the refused run changed the host:\n%s\nwas:\n%s", after, before)
	}

	// Check mode says what it would do and does none of it.
	rec, err = p.run(play, true, nil)
	out := rec.buf.String()
	if err != nil || !strings.Contains(out, "would stop etcd.service, the package's default instance") ||
		!strings.Contains(out, "would disable the package's etcd.service (remove /etc/systemd/system/etcd2.service, /etc/systemd/system/multi-user.target.wants/etcd.service)") ||
		!strings.Contains(out, "INSTALL True /usr/bin /etc/systemd/system/etcd.service") {
		t.Errorf("check mode: %v\n%s", err, out)
	}
	if after := state(); after != before {
		t.Errorf("check mode changed the host:\n%s\nwas:\n%s", after, before)
	}

	// The real run: the packaged etcd, nothing downloaded, the package's
	// instance stopped and disabled, the unit of install_etcd in its place.
	rec, err = p.run(play, false, nil)
	out = rec.buf.String()
	if err != nil || !strings.Contains(out, `INSTALL True /usr/bin /etc/systemd/system/etcd.service ["etcd", "etcdctl"]`) {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if strings.Contains(out, "apt-get") || strings.Contains(out, "install the Debian packages") {
		t.Errorf("an installed package was installed again:\n%s", out)
	}
	if ws := rec.warnings(); len(ws) != 1 || !strings.Contains(ws[0], "single-member cluster in /var/lib/etcd/default, inside data_dir /var/lib/etcd") {
		t.Errorf("warnings %q", ws)
	}
	for cmd, want := range map[string]string{
		"systemctl show -p ActiveState -p UnitFileState -p FragmentPath etcd.service": "ActiveState=inactive\nFragmentPath=/etc/systemd/system/etcd.service\nUnitFileState=disabled",
		// Nothing left that would start the package's unit at boot.
		`find /etc/systemd/system -type l -lname '*/lib/systemd/system/etcd.service'`:        "",
		"stat -c '%U:%G %a' /var/lib/etcd /etc/etcd /etc/systemd/system/etcd.service":        "etcd:etcd 700\nroot:root 755\nroot:root 644",
		"getent passwd etcd | cut -d: -f7":                                                   "/usr/sbin/nologin",
		"grep -E '^(Type|User|EnvironmentFile|ExecStart)=' /etc/systemd/system/etcd.service": "Type=notify\nUser=etcd\nEnvironmentFile=/etc/etcd/etcd.conf\nExecStart=/usr/bin/etcd",
		"etcd --version | head -1 | cut -d' ' -f1-2":                                         "etcd Version:",
	} {
		if got := sh(cmd); got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", cmd, got, want)
		}
	}

	// The unit runs the package's etcd, 3.4, from render_conf's file.
	rec, err = p.run(labConf+`
def main(ctx):
    h = ctx.host("etcd-1")
    render_conf(h, dest = "/etc/etcd/etcd.conf", values = conf(h, [h], "new"))
    systemd(h, unit = "etcd", state = "started")
    r = wait_healthy([h], timeout = "30s")
    print("VERSION", [m["version"] for m in r.members])
`, false, nil)
	out = rec.buf.String()
	if err != nil || !strings.Contains(out, `VERSION ["3.4.`) {
		t.Fatalf("start: %v\n%s", err, out)
	}
	if exe := sh("readlink /proc/$(systemctl show -p MainPID --value etcd.service)/exe"); exe != "/usr/bin/etcd" {
		t.Errorf("etcd.service runs %s, want the package's /usr/bin/etcd", exe)
	}
	running := state()

	// Again, and in check mode: nothing to do, and the running member is
	// left alone.
	for _, check := range []bool{false, true} {
		rec, err = p.run(play, check, nil)
		if err != nil || !strings.Contains(rec.buf.String(), "INSTALL False") {
			t.Errorf("install again (check %v): %v\n%s", check, err, rec.buf)
		}
		if now := state(); now != running {
			t.Errorf("install again (check %v) changed the host:\n%s\nwas:\n%s", check, now, running)
		}
	}
}
