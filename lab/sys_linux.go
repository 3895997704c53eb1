package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const supported = true

func mountOverlay(lower, upper, work, target string) error {
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

// unmount unmounts target, retrying briefly while it is busy (a process of
// a host that just ended may still hold it for a moment).
func unmount(target string) error {
	var err error
	for range 50 {
		err = syscall.Unmount(target, 0)
		if err == nil || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("unmount %s: %w", target, err)
}

// lockFile takes an exclusive lock on path, waiting for other etcdplay
// processes that hold it. The descriptor is close-on-exec, so the hosts
// started under the lock do not inherit it.
func lockFile(path string, log io.Writer) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		fmt.Fprintf(log, "waiting for another etcdplay holding %s\n", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	return func() { f.Close() }, nil
}

// procStart returns the start time of process pid (clock ticks after
// boot), and whether it is alive: a zombie is not.
func procStart(pid int) (start uint64, alive bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces; the
	// fields after it are fixed: state is field 3, starttime field 22.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false
	}
	return start, f[0] != "Z" && f[0] != "X"
}

// isProc reports whether pid is still the process that started at start.
func isProc(pid int, start uint64) bool {
	s, alive := procStart(pid)
	return alive && s == start
}

// procPresent reports whether pid is still the process that started at
// start, exited or not: a zombie its parent has not reaped yet holds its
// PID, and with it the host's name in the process table.
func procPresent(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return false
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return err == nil && n == start
}

// signalProc sends sig to pid if it is still the process that started at
// start; it reports whether it did.
func signalProc(pid int, start uint64, sig syscall.Signal) bool {
	if !isProc(pid, start) {
		return false
	}
	return syscall.Kill(pid, sig) == nil
}

// detach makes cmd outlive this process: its own session, so a Ctrl-C on
// the terminal of "etcdplay lab up" does not reach the hosts.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// ownGroup puts cmd in its own process group, and makes cancelling it
// terminate that group (debootstrap runs dpkg, chroot and more).
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
}

func isRoot() bool { return os.Geteuid() == 0 }
