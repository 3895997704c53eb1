//go:build !linux

package lab

import (
	"errors"
	"io"
	"os/exec"
	"syscall"
)

const supported = false

var errNotLinux = errors.New("the lab needs Linux")

func mountOverlay(lower, upper, work, target string) error { return errNotLinux }
func unmount(target string) error                          { return errNotLinux }
func lockFile(path string, log io.Writer) (func(), error)  { return nil, errNotLinux }
func procStart(pid int) (uint64, bool)                     { return 0, false }
func isProc(pid int, start uint64) bool                    { return false }
func procPresent(pid int, start uint64) bool               { return false }
func signalProc(pid int, start uint64, sig syscall.Signal) bool {
	return false
}
func detach(cmd *exec.Cmd)   {}
func ownGroup(cmd *exec.Cmd) {}
func isRoot() bool           { return false }
