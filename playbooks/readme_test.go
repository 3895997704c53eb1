//go:build linux

package playbooks_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/lab/labtest"
)

// readmeBlock is the first ```sh block after the heading in the README.
func readmeBlock(t *testing.T, heading string) string {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	block, _, ok2 := strings.Cut(rest, "\n```")
	if !ok || !ok2 {
		t.Fatalf("README.md has no sh block after %q", heading)
	}
	return block
}

// TestReadmeWalkthrough pastes the README's "Rehearse on the lab" steps
// into a shell, as a newcomer would on a fresh clone after make demo:
// etcdplay in bin/, make etcd's build in .cache/etcd/, no etcd given to
// etcdplay lab up or to the playbooks, and an empty release cache. They
// run to the end; lab up says what it offers.
func TestReadmeWalkthrough(t *testing.T) {
	t.Parallel()
	e := labtest.Reserve(t, upgradeLab.spec())
	script := readmeBlock(t, "## Rehearse on the lab")
	clone := t.TempDir()
	build := filepath.Join(clone, ".cache", "etcd", filepath.Base(e.EtcdDir))
	for link, target := range map[string]string{filepath.Join(clone, "bin", "etcdplay"): e.Bin, build: e.EtcdDir} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-ec", script)
	cmd.Dir = clone
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, labtest.EnvEtcd+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, e.LabEnviron...), "NO_COLOR=1", etcd.EnvCacheDir+"="+t.TempDir())
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("the README's walkthrough in %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("the README's walkthrough: %v\n%s", err, out)
	}
	for _, want := range []string{
		`the inventory gives playbooks the etcd to install: etcd_src=` + regexp.QuoteMeta(build),
		`etcd-4\s+(follower|leader)\s`, // status, after the replace
		`destroyed the lab`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("the walkthrough's output lacks %q:\n%s", want, out)
		}
	}
}
