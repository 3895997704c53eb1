package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// launcher moves itself into the host's cgroups and then becomes
// systemd-nspawn: nspawn must start in a cgroup of its own (it creates
// payload and supervisor below it), and on a machine whose PID 1 is not
// systemd nobody else makes one. Arguments: the number of cgroup.procs
// files, the files, then the command.
const launcher = `n=$1; shift
while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done
exec "$@"`

// startHost mounts host h's overlay, gives it its identity on first boot,
// and starts systemd-nspawn in its own session and cgroups. It does not
// wait for the host to be ready.
func (l *Lab) startHost(ctx context.Context, h *hostState, im Image, clientPub string) error {
	l.ensureInotify()
	l.mu.Lock()
	st := l.st
	hostsText := etcHostsText(st)
	l.mu.Unlock()
	i := h.Index
	if err := l.cleanupHost(h); err != nil {
		return err
	}
	hd := l.hostDir(i)
	upper, work, root := filepath.Join(hd, "upper"), filepath.Join(hd, "work"), filepath.Join(hd, "root")
	for _, d := range []string{upper, work, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := ensureHostNet(ctx, st.netns(i), st.veth(i), st.Bridge, netip.PrefixFrom(h.Addr, st.Subnet.Bits())); err != nil {
		return fmt.Errorf("%s: network: %w", h.Name, err)
	}
	if !isMounted(root) {
		if err := mountOverlay(im.Rootfs(), upper, work, root); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	l.mu.Lock()
	seeded := h.HostKey != "" && h.MachineID != ""
	l.mu.Unlock()
	if !seeded {
		if err := l.seedHost(h, root, clientPub); err != nil {
			return fmt.Errorf("%s: first boot files: %w", h.Name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/hosts"), []byte(hostsText), 0o644); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}

	args := []string{"-c", launcher, "sh", strconv.Itoa(len(st.Cgroups))}
	for _, d := range st.cgroupDirs(i) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("%s: cgroup: %w", h.Name, err)
		}
		args = append(args, filepath.Join(d, "cgroup.procs"))
	}
	l.mu.Lock()
	machineID := h.MachineID
	l.mu.Unlock()
	args = append(args, "systemd-nspawn",
		"--boot",
		"--register=no", "--keep-unit", // PID 1 may not be systemd: no machined, no scope
		"--directory="+root,
		"--machine="+st.machine(i),
		"--hostname="+h.Name,
		"--uuid="+uuidOf(machineID),
		"--network-namespace-path=/run/netns/"+st.netns(i),
		"--console=read-only",
		"--resolv-conf=off", "--timezone=off", "--link-journal=no",
	)
	console, err := os.Create(filepath.Join(hd, "console.log"))
	if err != nil {
		return err
	}
	defer console.Close()
	cmd := exec.Command("/bin/sh", args...)
	cmd.Stdout, cmd.Stderr = console, console
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start systemd-nspawn: %w", h.Name, err)
	}
	// Reap it if it ends while this process lives; after that the
	// machine's init does.
	go cmd.Wait()
	start, _ := procStart(cmd.Process.Pid)
	l.mu.Lock()
	h.PID, h.PIDStart, h.Started, h.Status = cmd.Process.Pid, start, time.Now().UTC(), hostRunning
	l.mu.Unlock()
	return l.save()
}

// seedHost writes what makes a host itself, in its overlay before its
// first boot: hostname, machine-id, SSH host key, and the lab's client key
// as root's authorized key.
func (l *Lab) seedHost(h *hostState, root, clientPub string) error {
	id, err := newMachineID()
	if err != nil {
		return err
	}
	priv, pub, err := newKey("root@" + h.Name)
	if err != nil {
		return err
	}
	files := []struct {
		rel  string
		data string
		mode os.FileMode
	}{
		{"etc/hostname", h.Name + "\n", 0o644},
		{"etc/machine-id", id + "\n", 0o444},
		{"etc/ssh/ssh_host_ed25519_key", string(priv), 0o600},
		{"etc/ssh/ssh_host_ed25519_key.pub", pub + "\n", 0o644},
		{"root/.ssh/authorized_keys", clientPub + "\n", 0o600},
	}
	if err := os.MkdirAll(filepath.Join(root, "root/.ssh"), 0o700); err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(root, f.rel)
		os.Remove(p)
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	l.mu.Lock()
	h.MachineID, h.HostKey = id, pub
	l.mu.Unlock()
	return l.save()
}

// stopHost powers host h off with SIGTERM to its nspawn (which asks its
// systemd to halt) and waits; after timeout it kills it.
func (l *Lab) stopHost(h *hostState, timeout time.Duration) error {
	l.mu.Lock()
	pid, start := h.PID, h.PIDStart
	l.mu.Unlock()
	if signalProc(pid, start, syscall.SIGTERM) {
		if !waitGone(timeout, proc{pid, start}) {
			l.logf("%s: not off after %s; killing it", h.Name, timeout)
			return l.killHost(h)
		}
	}
	if !waitReaped(reapWait, proc{pid, start}) {
		l.logf("%s: its systemd-nspawn (pid %d) has exited but is not reaped after %s", h.Name, pid, reapWait)
	}
	if err := l.cleanupHost(h); err != nil {
		return err
	}
	l.mu.Lock()
	h.Status, h.PID, h.PIDStart, h.Started = hostStopped, 0, 0, time.Time{}
	l.mu.Unlock()
	return nil
}

// killHost kills host h at once: its systemd (and with it its whole PID
// namespace) and its nspawn, by PID.
func (l *Lab) killHost(h *hostState) error {
	l.mu.Lock()
	pid, start := h.PID, h.PIDStart
	dirs := l.st.cgroupDirs(h.Index)
	l.mu.Unlock()
	var initPID int
	var initStart uint64
	if len(dirs) > 0 {
		initPID, initStart = containerInit(cgroupPIDs(dirs[0]))
	}
	signalProc(initPID, initStart, syscall.SIGKILL)
	signalProc(pid, start, syscall.SIGKILL)
	waitGone(10*time.Second, proc{initPID, initStart}, proc{pid, start})
	// The container's init, killed with its nspawn, is reaped by whoever
	// inherits it (the machine's init): wait for that too.
	if !waitReaped(reapWait, proc{pid, start}, proc{initPID, initStart}) {
		l.logf("%s: its systemd-nspawn (pid %d) or container init (pid %d) has exited but is not reaped after %s", h.Name, pid, initPID, reapWait)
	}
	if err := l.cleanupHost(h); err != nil {
		return err
	}
	l.mu.Lock()
	h.Status, h.PID, h.PIDStart, h.Started = hostKilled, 0, 0, time.Time{}
	l.mu.Unlock()
	return nil
}

// cleanupHost undoes what a host's run leaves once its nspawn is gone:
// processes still in its cgroups (only processes the lab started are
// there), the overlay mount, the cgroup directories.
func (l *Lab) cleanupHost(h *hostState) error {
	l.mu.Lock()
	pid, start := h.PID, h.PIDStart
	dirs := l.st.cgroupDirs(h.Index)
	l.mu.Unlock()
	if isProc(pid, start) {
		return fmt.Errorf("%s: still running (pid %d)", h.Name, pid)
	}
	for try := 0; ; try++ {
		var left []int
		for _, d := range dirs {
			left = append(left, cgroupPIDs(d)...)
		}
		if len(left) == 0 {
			break
		}
		if try == 50 {
			return fmt.Errorf("%s: processes %v remain in its cgroup", h.Name, left)
		}
		if try == 0 {
			l.logf("%s: killing leftover processes %v in its cgroup", h.Name, left)
		}
		for _, p := range left {
			if s, alive := procStart(p); alive {
				signalProc(p, s, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	var errs []error
	if root := filepath.Join(l.hostDir(h.Index), "root"); isMounted(root) {
		errs = append(errs, unmount(root))
	}
	for _, d := range dirs {
		errs = append(errs, removeCgroup(d))
	}
	return errors.Join(errs...)
}

// removeHost kills host h and removes its network, cgroups and disk.
func (l *Lab) removeHost(ctx context.Context, h *hostState) error {
	if err := l.killHost(h); err != nil {
		return err
	}
	l.mu.Lock()
	netns, veth := l.st.netns(h.Index), l.st.veth(h.Index)
	l.mu.Unlock()
	if err := removeHostNet(ctx, netns, veth); err != nil {
		return err
	}
	return removeTree(l.hostDir(h.Index))
}

// reapWait bounds how long the lab waits for the machine's init to reap a
// host's exited nspawn: a lab destroyed and booted again at once must not
// meet the processes of the one before.
const reapWait = 10 * time.Second

// waitReaped waits until procs have not only exited but are gone from the
// process table (their parent, the machine's init once the lab up that
// started them has ended, reaped them), and reports whether they are.
func waitReaped(timeout time.Duration, procs ...proc) bool {
	return waitNone(timeout, procs, func(p proc) bool { return procPresent(p.pid, p.start) })
}

// waitNone waits until holds is false for every one of procs, and reports
// whether it is.
func waitNone(timeout time.Duration, procs []proc, holds func(proc) bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !slices.ContainsFunc(procs, holds) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proc is a process as the lab identifies it: PID and start time.
type proc struct {
	pid   int
	start uint64
}

// waitGone waits until none of procs is alive.
func waitGone(timeout time.Duration, procs ...proc) bool {
	return waitNone(timeout, procs, func(p proc) bool { return isProc(p.pid, p.start) })
}

func (l *Lab) clientSigner() (ssh.Signer, error) {
	b, err := os.ReadFile(l.KeyPath())
	if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(b)
}

func (l *Lab) clientConfig(h *hostState, signer ssh.Signer) (*ssh.ClientConfig, error) {
	l.mu.Lock()
	line := h.HostKey
	l.mu.Unlock()
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("%s: host key in the lab state: %w", h.Name, err)
	}
	return &ssh.ClientConfig{
		User:              "root",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   ssh.FixedHostKey(key),
		HostKeyAlgorithms: []string{key.Type()},
		Timeout:           2 * time.Second,
	}, nil
}

// waitReady waits until host h answers SSH with its own key and its
// systemd says the system is running (or degraded: up, with a failed unit).
func (l *Lab) waitReady(ctx context.Context, h *hostState, signer ssh.Signer, deadline time.Time) error {
	cfg, err := l.clientConfig(h, signer)
	if err != nil {
		return err
	}
	l.mu.Lock()
	pid, start := h.PID, h.PIDStart
	l.mu.Unlock()
	addr := net.JoinHostPort(h.Addr.String(), "22")
	last := "no answer on " + addr
	for {
		if !isProc(pid, start) {
			return errors.New("systemd-nspawn exited")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %s", l.cfg.BootTimeout, last)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		state, err := systemState(ctx, addr, cfg)
		switch {
		case err != nil:
			if strings.Contains(err.Error(), "host key mismatch") {
				return fmt.Errorf("%s presented another host key than the one written for it: %w", addr, err)
			}
			last = err.Error()
		case state == "running":
			return nil
		case state == "degraded":
			l.logf("%s: degraded (a unit failed): %s", h.Name, l.failedUnits(ctx, addr, cfg))
			return nil
		default:
			last = "systemctl is-system-running: " + state
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func dialSSH(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(cfg.Timeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

func runSSH(ctx context.Context, addr string, cfg *ssh.ClientConfig, command string) ([]byte, error) {
	c, err := dialSSH(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return runOn(ctx, c, command)
}

// runOn runs command on c, which it closes when ctx ends first.
func runOn(ctx context.Context, c *ssh.Client, command string) ([]byte, error) {
	sess, err := c.NewSession()
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-done:
		}
	}()
	return sess.CombinedOutput(command)
}

func systemState(ctx context.Context, addr string, cfg *ssh.ClientConfig) (string, error) {
	out, err := runSSH(ctx, addr, cfg, "systemctl is-system-running")
	var exit *ssh.ExitError
	if err != nil && !errors.As(err, &exit) { // not running exits non-zero
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

func (l *Lab) failedUnits(ctx context.Context, addr string, cfg *ssh.ClientConfig) string {
	out, _ := runSSH(ctx, addr, cfg, "systemctl --failed --no-legend --plain | cut -d' ' -f1 | tr '\\n' ' '")
	return strings.TrimSpace(string(out))
}

// diagnose is what to show when host h did not come up: the error, the
// end of its console and, while its systemd runs, of its journal.
func (l *Lab) diagnose(h *hostState, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) did not come up: %v\n", h.Name, h.Addr, err)
	fmt.Fprintf(&b, "  console (%s):\n%s\n", filepath.Join(l.hostDir(h.Index), "console.log"),
		tail(filepath.Join(l.hostDir(h.Index), "console.log"), 25))
	// The journal is persistent (/var/log/journal in the overlay); while
	// the host's systemd runs, /run is only visible through its /proc.
	root := filepath.Join(l.hostDir(h.Index), "root")
	l.mu.Lock()
	dirs := l.st.cgroupDirs(h.Index)
	l.mu.Unlock()
	if len(dirs) > 0 {
		if pid, _ := containerInit(cgroupPIDs(dirs[0])); pid > 0 {
			root = "/proc/" + strconv.Itoa(pid) + "/root"
		}
	}
	out, err := exec.Command("journalctl", "--root="+root, "--no-pager", "-q", "-n", "25").Output()
	if j := strings.TrimSpace(string(out)); err == nil && j != "" {
		fmt.Fprintf(&b, "  journal:\n    %s\n", strings.ReplaceAll(j, "\n", "\n    "))
	}
	return b.String()
}

// Exec runs command on the named host as root over SSH, checking the
// host's key, and returns its combined output.
func (l *Lab) Exec(ctx context.Context, name, command string) ([]byte, error) {
	c, err := l.Dial(ctx, name)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return runOn(ctx, c, command)
}

// SSHCommand is OpenSSH's ssh to the named host as root with the lab's key
// and known_hosts (strict checking, no user ssh config), running args if
// any, else an interactive shell.
func (l *Lab) SSHCommand(name string, args ...string) (*exec.Cmd, error) {
	hosts, err := l.hostsByName([]string{name})
	if err != nil {
		return nil, err
	}
	if err := checkTools("ssh"); err != nil {
		return nil, err
	}
	sshArgs := []string{
		"-F", "none",
		"-i", l.KeyPath(),
		"-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + l.KnownHostsPath(),
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "ConnectTimeout=5",
		"-o", "LogLevel=ERROR",
		"--", "root@" + hosts[0].Addr.String(),
	}
	return exec.Command("ssh", append(sshArgs, args...)...), nil
}

// inotifyInstances is the number of inotify instances per user the lab
// makes sure of: every host's systemd, journald and logind each hold some,
// all as root, and at the kernel's default of 128 the hosts of a few labs
// at once stop booting half way (their units never start).
const inotifyInstances = 1024

const inotifyPath = "/proc/sys/fs/inotify/max_user_instances"

// ensureInotify raises fs.inotify.max_user_instances to inotifyInstances
// when it is lower, once per lab, saying so.
func (l *Lab) ensureInotify() {
	l.inotifyOnce.Do(func() {
		b, err := os.ReadFile(inotifyPath)
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || n >= inotifyInstances {
			return
		}
		if err := os.WriteFile(inotifyPath, []byte(strconv.Itoa(inotifyInstances)), 0o644); err != nil {
			l.logf("fs.inotify.max_user_instances is %d, which a few labs at once exhaust, and raising it failed: %v", n, err)
			return
		}
		l.logf("raised fs.inotify.max_user_instances from %d to %d: every lab host's systemd needs some", n, inotifyInstances)
	})
}

// Dial opens an SSH connection to the named host as root, with the lab's
// key and the host's own key, for a caller that runs many commands on
// it (a benchmark's floor, measured over connections already open).
func (l *Lab) Dial(ctx context.Context, name string) (*ssh.Client, error) {
	hosts, err := l.hostsByName([]string{name})
	if err != nil {
		return nil, err
	}
	h := hosts[0]
	signer, err := l.clientSigner()
	if err != nil {
		return nil, err
	}
	cfg, err := l.clientConfig(h, signer)
	if err != nil {
		return nil, err
	}
	return dialSSH(ctx, net.JoinHostPort(h.Addr.String(), "22"), cfg)
}
