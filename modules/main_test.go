package modules

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The tests' hosts are this machine (over the loopback sshd): the
	// stamps of the binaries they install go to a directory of the run's.
	d, err := os.MkdirTemp("", "etcdplay-sums-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sumCache = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}
