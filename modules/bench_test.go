package modules

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport/sshdtest"
	"github.com/etcdplay/etcdplay/inventory"
)

// BenchmarkPlaybook100Commands measures per-task overhead: a playbook of
// 100 sequential command("test", "true") tasks on 3 hosts over a real
// sshd, connections kept for the whole run (as the CLI does). Target: the
// whole playbook under 1 s (3 ms per task per host).
func BenchmarkPlaybook100Commands(b *testing.B) {
	srv := sshdtest.Start(b, 3)
	dir := b.TempDir()
	inv, err := inventory.Load(srv.WriteInventory(b, dir))
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, "bench.star")
	os.WriteFile(file, []byte(`
def main(ctx):
    hosts = ctx.hosts("test")
    for i in range(100):
        command(hosts, "true")
`), 0o644)
	pb, err := engine.OpenPlaybook(file, nil)
	if err != nil {
		b.Fatal(err)
	}
	conn := srv.Connector(b)
	cfg := engine.Config{Inventory: inv, Connector: conn, Modules: All(), Output: engine.NewJSON(io.Discard)}
	// Connect once, as a run's first task would, outside the timing.
	if _, err := engine.Run(context.Background(), cfg, pb); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rec, err := engine.Run(context.Background(), cfg, pb)
		if err != nil || rec.Failed > 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/playbook")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/300, "µs/task/host")
}

// BenchmarkCheck1000Hosts measures etcdplay check with a 1,000-host
// inventory: loading the inventory and checking a playbook that uses every
// generic module, its loads and its literal patterns. Target: under 100 ms.
func BenchmarkCheck1000Hosts(b *testing.B) {
	dir := b.TempDir()
	var ini strings.Builder
	ini.WriteString("[etcd]\n")
	for i := range 1000 {
		fmt.Fprintf(&ini, "etcd-%d ansible_host=10.0.%d.%d etcd_name=node%d\n", i, i/250, i%250+1, i)
	}
	ini.WriteString("\n[etcd:vars]\nansible_user=ops\n")
	invFile := filepath.Join(dir, "inv.ini")
	os.WriteFile(invFile, []byte(ini.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "helpers.star"), []byte("def path(h):\n    return \"/etc/etcd/\" + h.name\n"), 0o644)
	file := filepath.Join(dir, "site.star")
	os.WriteFile(file, []byte(`
load("helpers.star", "path")

def main(ctx):
    etcd = ctx.hosts("etcd")
    first = ctx.host("etcd-1")
    ping(etcd)
    command(etcd, "etcd --version", creates = "/x")
    shell("etcd:!etcd-3", "true")
    copy(etcd, dest = path, content = "x", mode = "0644", backup = True)
    template(etcd, dest = "/etc/x", content = "{{.host.name}}", vars = {"a": 1})
    file(etcd, path = "/var/lib/etcd", state = "directory")
    fetch(first, src = "/etc/x", dest = "out/")
    for batch in serial(etcd, 100):
        command(batch, ["true"], retries = 3, until = lambda r: r.rc == 0)
`), 0o644)
	for b.Loop() {
		inv, err := inventory.Load(invFile)
		if err != nil {
			b.Fatal(err)
		}
		pb, err := engine.OpenPlaybook(file, nil)
		if err != nil {
			b.Fatal(err)
		}
		if d := engine.Check(pb, engine.CheckConfig{Modules: All(), Inventory: inv}); len(d) > 0 {
			b.Fatal(d)
		}
	}
}
