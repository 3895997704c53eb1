package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// genINI writes an inventory of n etcd hosts in four datacenters, with
// host, group and all vars, like a large real one.
func genINI(n int) []byte {
	var b strings.Builder
	b.WriteString("[etcd]\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "etcd-%d ansible_host=10.%d.%d.%d ansible_port=22 etcd_name=etcd-%d weight=%d\n", i, i>>16&255, i>>8&255, i&255, i, i%7)
	}
	for dc := 0; dc < 4; dc++ {
		fmt.Fprintf(&b, "[dc%d]\n", dc)
		for i := dc; i < n; i += 4 {
			fmt.Fprintf(&b, "etcd-%d\n", i)
		}
		fmt.Fprintf(&b, "[dc%d:vars]\ndatacenter=dc%d\n", dc, dc)
	}
	b.WriteString("[cluster:children]\netcd\n[cluster:vars]\netcd_client_port=2379\n")
	b.WriteString("[all:vars]\nansible_user=root\nansible_ssh_private_key_file=~/.ssh/id_ed25519\n")
	return []byte(b.String())
}

func genYAML(n int) []byte {
	var b strings.Builder
	b.WriteString("all:\n  vars:\n    ansible_user: root\n  children:\n    etcd:\n      hosts:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "        etcd-%d:\n          ansible_host: 10.%d.%d.%d\n          etcd_name: etcd-%d\n", i, i>>16&255, i>>8&255, i&255, i)
	}
	for dc := 0; dc < 4; dc++ {
		fmt.Fprintf(&b, "    dc%d:\n      vars:\n        datacenter: dc%d\n      hosts:\n", dc, dc)
		for i := dc; i < n; i += 4 {
			fmt.Fprintf(&b, "        etcd-%d:\n", i)
		}
	}
	return []byte(b.String())
}

func BenchmarkParseINI1000(b *testing.B) {
	data := genINI(1000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("bench.ini", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseYAML1000(b *testing.B) {
	data := genYAML(1000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("bench.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSelect1000(b *testing.B) {
	inv, err := Parse("bench.ini", genINI(1000))
	if err != nil {
		b.Fatal(err)
	}
	for _, pattern := range []string{"all", "etcd-500", "etcd:&dc1:!etcd-5", "etcd-1*", "~etcd-[0-9]+5$", "dc2[10:20]"} {
		b.Run(pattern, func(b *testing.B) {
			for b.Loop() {
				if _, err := inv.Select(pattern); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadAndSelect1000 is what a command does before it connects:
// parse the inventory, apply --limit, select the target hosts.
func BenchmarkLoadAndSelect1000(b *testing.B) {
	data := genINI(1000)
	for b.Loop() {
		inv, err := Parse("bench.ini", data)
		if err != nil {
			b.Fatal(err)
		}
		if err := inv.SetLimit("dc1:dc2"); err != nil {
			b.Fatal(err)
		}
		if hosts, err := inv.Select("etcd:!etcd-5"); err != nil || len(hosts) != 499 {
			b.Fatal(len(hosts), err)
		}
	}
}

// BenchmarkLoad1000 reads the inventory from disk with a group_vars/ and
// a host_vars/ directory beside it, as Load does for -i.
func BenchmarkLoad1000(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hosts.ini"), genINI(1000), 0o644); err != nil {
		b.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "group_vars"), 0o755)
	os.MkdirAll(filepath.Join(dir, "host_vars"), 0o755)
	os.WriteFile(filepath.Join(dir, "group_vars", "all.yml"), []byte("etcd_version: 3.6.16\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "group_vars", "dc1.yml"), []byte("rack: r1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "host_vars", "etcd-7.yml"), []byte("weight: 9\n"), 0o644)
	for b.Loop() {
		if _, err := Load(filepath.Join(dir, "hosts.ini")); err != nil {
			b.Fatal(err)
		}
	}
}
