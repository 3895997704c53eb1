package modules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDirBinaryStamp: a binary's sum is taken once and then read from its
// stamp while the file is the one stamped; a stamp is never believed for
// a file that changed since.
func TestDirBinaryStamp(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "etcd")
	if err := os.WriteFile(file, []byte("first build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, _ := dirBinary("etcd", file); b.SHA256 == "" {
		t.Fatal("no sum")
	}
	if stamps, _ := filepath.Glob(filepath.Join(localSums, "*"+filepath.Base(dir)+"%etcd")); len(stamps) != 0 {
		t.Fatalf("a file changed a moment ago was stamped: %v", stamps)
	}
	time.Sleep(racyWindow + 50*time.Millisecond)
	b, err := dirBinary("etcd", file)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256Hex([]byte("first build")); b.SHA256 != want || b.Size != 11 {
		t.Fatalf("first read: sha256 %s size %d, want %s 11", b.SHA256, b.Size, want)
	}
	stamps, _ := filepath.Glob(filepath.Join(localSums, "*"+filepath.Base(dir)+"%etcd"))
	if len(stamps) != 1 {
		t.Fatalf("stamps in %s: %v, want one for %s", localSums, stamps, file)
	}
	// A stamp made to lie is believed while the file is unchanged: the
	// sum came from it, not from hashing.
	st, _ := os.ReadFile(stamps[0])
	id, _, _ := strings.Cut(string(st), "\n")
	forged := strings.Repeat("ab", 32)
	os.WriteFile(stamps[0], []byte(id+"\n"+forged+"\n"), 0o600)
	if b, _ := dirBinary("etcd", file); b.SHA256 != forged {
		t.Errorf("unchanged file: sha256 %s, want the stamp's", b.SHA256)
	}
	// Rewritten with the same size and times set back: its change time
	// still moved, and it is hashed again.
	old, _ := os.Stat(file)
	if err := os.WriteFile(file, []byte("other build"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(file, old.ModTime(), old.ModTime())
	b, err = dirBinary("etcd", file)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256Hex([]byte("other build")); b.SHA256 != want {
		t.Errorf("changed file: sha256 %s, want %s (hashed again)", b.SHA256, want)
	}
	r, err := b.open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 64)
	n, _ := r.Read(buf)
	if string(buf[:n]) != "other build" {
		t.Errorf("content to upload %q", buf[:n])
	}
}
