package modules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestStampCommand: an upload that is not what was sent fails; a stamp
// that cannot be written does not (it costs the next run a hash).
func TestStampCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "etcd")
	os.WriteFile(bin, []byte("hello"), 0o755)
	run := func(sum string) error { return exec.Command("sh", "-c", stampCommand(bin, sum, false)).Run() }

	if err := run(sha256Hex([]byte("other"))); err == nil {
		t.Error("a file of another sum was stamped")
	}
	if _, err := os.Stat(stampFile(bin)); err == nil {
		t.Error("a file of another sum left a stamp")
	}
	if err := run(sha256Hex([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	st, _ := os.ReadFile(stampFile(bin))
	if lines := strings.Split(string(st), "\n"); len(lines) < 2 || lines[1] != sha256Hex([]byte("hello")) {
		t.Errorf("stamp %q", st)
	}

	saved := sumCache
	sumCache = "/proc/etcdplay-cannot-be-made"
	defer func() { sumCache = saved }()
	if err := run(sha256Hex([]byte("hello"))); err != nil {
		t.Errorf("a stamp that cannot be written failed the install: %v", err)
	}
}
