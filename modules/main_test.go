package modules

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	// The tests' hosts are this machine (over the loopback sshd): the
	// stamps of the binaries they install, and of the binaries they read,
	// go to a directory of the run's.
	d, err := os.MkdirTemp("", "etcdplay-sums-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sumCache = d
	localSums = filepath.Join(d, "local")
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}
