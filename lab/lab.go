package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcdplay/etcdplay/etcd"
)

// Lab is a lab directory and what its state file says exists. Methods that
// change the lab take an exclusive lock on the directory and re-read the
// state under it, so etcdplay processes working on one lab take turns.
type Lab struct {
	cfg Config

	mu sync.Mutex // guards st while hosts are worked on in parallel
	st *state
	// destroyed makes the lock release remove the lock file and the
	// directory, if empty, as well.
	destroyed bool

	inotifyOnce sync.Once // ensureInotify
}

// Host is one lab host as the inventory names it.
type Host struct {
	Index int
	Name  string
	Addr  netip.Addr
}

// Open resolves cfg's defaults and reads the lab's state if there is one.
// It changes nothing.
func Open(cfg Config) (*Lab, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Lab{cfg: c}
	if err := l.load(); err != nil {
		return nil, err
	}
	return l, nil
}

// Dir is the lab directory.
func (l *Lab) Dir() string { return l.cfg.Dir }

// Exists reports whether the lab has been created (and not destroyed).
func (l *Lab) Exists() bool { return l.st != nil }

// InventoryPath is the Ansible INI inventory written by Up.
func (l *Lab) InventoryPath() string { return filepath.Join(l.cfg.Dir, "inventory.ini") }

// KnownHostsPath is the known_hosts file with every host's key.
func (l *Lab) KnownHostsPath() string { return filepath.Join(l.cfg.Dir, "known_hosts") }

// KeyPath is the private key that logs in to every host as root.
func (l *Lab) KeyPath() string { return filepath.Join(l.cfg.Dir, "id_ed25519") }

// Subnet is the lab's network; invalid when the lab does not exist.
func (l *Lab) Subnet() netip.Prefix {
	if l.st == nil {
		return netip.Prefix{}
	}
	return l.st.Subnet
}

// Hosts lists the lab's hosts in order.
func (l *Lab) Hosts() []Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		return nil
	}
	var hs []Host
	for _, h := range l.st.Hosts {
		hs = append(hs, Host{Index: h.Index, Name: h.Name, Addr: h.Addr})
	}
	return hs
}

func (l *Lab) statePath() string { return filepath.Join(l.cfg.Dir, "state.json") }
func (l *Lab) hostDir(i int) string {
	return filepath.Join(l.cfg.Dir, "hosts", "host"+strconv.Itoa(i))
}

func (l *Lab) load() error {
	st, err := readState(l.statePath())
	if notExist(err) {
		st, err = nil, nil
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.st = st
	l.mu.Unlock()
	return nil
}

func (l *Lab) save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return writeState(l.statePath(), l.st)
}

// begin checks the machine, takes the lab's lock and re-reads its state.
func (l *Lab) begin(needImageBuild bool) (unlock func(), err error) {
	if err := CheckMachine(needImageBuild); err != nil {
		return nil, err
	}
	_, err = os.Stat(l.cfg.Dir)
	newDir := notExist(err)
	if err := os.MkdirAll(l.cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	lockPath := filepath.Join(l.cfg.Dir, "lock")
	release, err := lockFile(lockPath, l.cfg.Log)
	if err != nil {
		return nil, err
	}
	// A directory made for a lab that was then not created (refused, or
	// torn down) is removed again: nothing is left behind.
	unlock = func() {
		if l.st == nil && (newDir || l.destroyed) {
			os.Remove(lockPath)
			os.Remove(l.cfg.Dir)
		}
		release()
	}
	if err := l.load(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

func (l *Lab) logf(format string, args ...any) {
	fmt.Fprintf(l.cfg.Log, format+"\n", args...)
}

// checkSame refuses explicit settings that differ from the existing lab's.
func (l *Lab) checkSame() error {
	c, st := l.cfg, l.st
	var diffs []string
	if c.Name != "" && c.Name != st.Name {
		diffs = append(diffs, fmt.Sprintf("name %s (asked %s)", st.Name, c.Name))
	}
	if c.Bridge != "" && c.Bridge != st.Bridge {
		diffs = append(diffs, fmt.Sprintf("bridge %s (asked %s)", st.Bridge, c.Bridge))
	}
	if c.Subnet.IsValid() && c.Subnet != st.Subnet {
		diffs = append(diffs, fmt.Sprintf("subnet %s (asked %s)", st.Subnet, c.Subnet))
	}
	if len(c.Packages) > 0 && strings.Join(c.Packages, ",") != strings.Join(st.Packages, ",") {
		diffs = append(diffs, fmt.Sprintf("packages %q (asked %q)", strings.Join(st.Packages, ","), strings.Join(c.Packages, ",")))
	}
	if len(diffs) > 0 {
		return configErrorf("the lab in %s was created with %s; use it as it is, or destroy it first", l.cfg.Dir, strings.Join(diffs, ", "))
	}
	return nil
}

// hostsByName resolves names ("etcd-2" or "2"); none means every host.
func (l *Lab) hostsByName(names []string) ([]*hostState, error) {
	if l.st == nil {
		return nil, configErrorf("no lab in %s: create one with etcdplay lab up", l.cfg.Dir)
	}
	if len(names) == 0 {
		return append([]*hostState{}, l.st.Hosts...), nil
	}
	var out []*hostState
	seen := map[int]bool{}
	for _, n := range names {
		i, ok := hostIndex(n)
		h := l.st.host(i)
		if !ok || h == nil {
			var known []string
			for _, h := range l.st.Hosts {
				known = append(known, h.Name)
			}
			return nil, configErrorf("no lab host %q; the lab has %s", n, strings.Join(known, ", "))
		}
		if !seen[i] {
			seen[i] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// BuildImage builds the base image for the configured package set unless
// it is cached (or rebuild is set), and returns it.
func (l *Lab) BuildImage(ctx context.Context, rebuild bool) (Image, error) {
	if err := CheckMachine(false); err != nil {
		return Image{}, err
	}
	if rebuild && l.st != nil && filepath.Base(l.st.Image) == imageKey(l.cfg.Packages) {
		return Image{}, configErrorf("the lab in %s uses image %s; destroy the lab before rebuilding it", l.cfg.Dir, l.st.Image)
	}
	return ensureImage(ctx, l.cfg, rebuild)
}

// Up creates the lab with n hosts, or resumes it and grows it to n hosts
// (n 0: the lab's hosts, or DefaultHosts for a new lab), and waits until
// every host is running and answers SSH. Then it writes the inventory and
// known_hosts. When a host does not come up, Up shows its console and
// journal, and undoes what it started: a new lab is destroyed, new hosts
// are removed, resumed hosts are stopped again.
func (l *Lab) Up(ctx context.Context, n int) (err error) {
	unlock, err := l.begin(false)
	if err != nil {
		return err
	}
	defer unlock()

	created := l.st == nil
	if created {
		if n == 0 {
			n = DefaultHosts
		}
		if err := l.create(ctx, n); err != nil {
			return err
		}
	} else if err := l.checkSame(); err != nil {
		return err
	}
	st := l.st
	switch {
	case l.cfg.EtcdSrc != "":
		st.EtcdSrc, st.EtcdVersion = l.cfg.EtcdSrc, ""
	case l.cfg.EtcdVersion != "":
		st.EtcdSrc, st.EtcdVersion = "", l.cfg.EtcdVersion
	}
	var added, started []*hostState
	defer func() {
		if err == nil {
			return
		}
		// Never leave a partial lab running: undo what this call did.
		bg := context.Background()
		if created {
			l.logf("tearing down the new lab")
			if derr := l.destroy(bg, false); derr != nil {
				err = errors.Join(err, fmt.Errorf("tear down: %w", derr))
			}
			return
		}
		isNew := map[*hostState]bool{}
		for _, h := range added {
			isNew[h] = true
		}
		for _, h := range started {
			if !isNew[h] {
				l.logf("%s: stopping it again", h.Name)
				if serr := l.stopHost(h, 30*time.Second); serr != nil {
					err = errors.Join(err, serr)
				}
			}
		}
		for _, h := range added {
			l.logf("%s: removing it", h.Name)
			if rerr := l.removeHost(bg, h); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		keep := st.Hosts[:0]
		for _, h := range st.Hosts {
			if !isNew[h] {
				keep = append(keep, h)
			}
		}
		st.Hosts = keep
		l.save()
	}()

	im, ok := readImage(st.Image)
	if !ok {
		return fmt.Errorf("the lab's base image %s is missing or incomplete; destroy the lab and create it again", st.Image)
	}
	if n == 0 {
		n = len(st.Hosts)
	}
	if n == 0 {
		n = DefaultHosts
	}
	if n < len(st.Hosts) {
		return configErrorf("the lab has %d hosts; --hosts %d cannot shrink it (etcdplay lab destroy, then up)", len(st.Hosts), n)
	}
	if max := st.plan().maxHosts(); n > max {
		return configErrorf("--hosts %d: at most %d fit in %s", n, max, st.Subnet)
	}
	if err := l.checkFree(ctx, len(st.Hosts)+1, n); err != nil {
		return err
	}
	for i := len(st.Hosts) + 1; i <= n; i++ {
		// A disk left by a host that was once added and removed again
		// is not this host's.
		if err := removeTree(l.hostDir(i)); err != nil {
			return err
		}
		h := &hostState{Index: i, Name: hostName(i), Addr: st.plan().host(i), Status: hostCreated}
		st.Hosts = append(st.Hosts, h)
		added = append(added, h)
	}
	if err := l.save(); err != nil {
		return err
	}

	if err := addBlackhole(ctx, st.Subnet); err != nil {
		return err
	}
	if err := ensureBridge(ctx, st.Bridge, netip.PrefixFrom(st.plan().gateway(), st.Subnet.Bits())); err != nil {
		return err
	}
	clientPub, err := ensureClientKey(l.KeyPath())
	if err != nil {
		return err
	}
	started, err = l.startHosts(ctx, st.Hosts, im, clientPub)
	if err != nil {
		return err
	}
	if err := l.writeClientFiles(); err != nil {
		return err
	}
	return nil
}

// create checks that the network is free, makes sure the image exists,
// and records a new lab in the state file.
func (l *Lab) create(ctx context.Context, n int) error {
	c, err := l.cfg.withNetDefaults()
	if err != nil {
		return err
	}
	plan := addrPlan{c.Subnet}
	if n < 1 || n > plan.maxHosts() {
		return configErrorf("--hosts %d: expected 1 to %d for %s", n, plan.maxHosts(), c.Subnet)
	}
	st := &state{Version: stateVersion, Name: c.Name, Bridge: c.Bridge, Subnet: c.Subnet, Packages: c.Packages}
	l.st = st
	err = l.checkFree(ctx, 1, n)
	l.st = nil
	if err != nil {
		return err
	}
	if st.Cgroups, err = cgroupRoots(); err != nil {
		return err
	}
	if _, ok := readImage(filepath.Join(c.ImageDir, imageKey(c.Packages))); !ok {
		if err := CheckMachine(true); err != nil {
			return err
		}
	}
	im, err := ensureImage(ctx, c, false)
	if err != nil {
		return err
	}
	st.Image = im.Dir
	st.Created = time.Now().UTC().Truncate(time.Second)
	l.st = st
	l.logf("lab %s: subnet %s on bridge %s, image %s", l.cfg.Dir, st.Subnet, st.Bridge, filepath.Base(st.Image))
	return l.save()
}

// checkFree refuses a subnet, bridge, or host namespaces and cgroups
// (hosts from..to) that something other than this lab already uses.
func (l *Lab) checkFree(ctx context.Context, from, to int) error {
	st := l.st
	own := st.Created != time.Time{} // an existing lab owns its bridge and blackhole
	if !own && linkExists(st.Bridge) {
		return configErrorf("bridge %s already exists and is not this lab's (another lab? give this one another --name and --subnet)", st.Bridge)
	}
	used, err := subnetConflicts(ctx, st.Subnet, st.Bridge, own)
	if err != nil {
		return err
	}
	if len(used) > 0 {
		return configErrorf("subnet %s is already in use on this machine (%s); choose another with --subnet", st.Subnet, strings.Join(used, "; "))
	}
	for i := from; i <= to; i++ {
		if netnsExists(st.netns(i)) || linkExists(st.veth(i)) {
			return configErrorf("network namespace %s or link %s already exists and is not this lab's (another lab? give this one another --name)", st.netns(i), st.veth(i))
		}
	}
	roots, err := cgroupRoots()
	if err != nil {
		return err
	}
	for _, root := range roots {
		for i := from; i <= to; i++ {
			d := filepath.Join(root, st.cgroupParent(), "host"+strconv.Itoa(i))
			if len(cgroupPIDs(d)) > 0 {
				return configErrorf("cgroup %s has processes and is not this lab's (another lab? give this one another --name)", d)
			}
		}
	}
	return nil
}

// startHosts starts the hosts that are not running and waits for all of
// them to be ready; it returns the ones it started.
func (l *Lab) startHosts(ctx context.Context, hosts []*hostState, im Image, clientPub string) ([]*hostState, error) {
	var (
		started []*hostState
		errs    = make([]error, len(hosts))
		wg      sync.WaitGroup
		begin   = time.Now()
	)
	for k, h := range hosts {
		l.mu.Lock()
		running := isProc(h.PID, h.PIDStart)
		l.mu.Unlock()
		if running {
			continue
		}
		started = append(started, h)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = l.startHost(ctx, h, im, clientPub)
		}()
	}
	wg.Wait()
	if err := l.save(); err != nil {
		return started, err
	}
	if err := errors.Join(errs...); err != nil {
		return started, err
	}
	signer, err := l.clientSigner()
	if err != nil {
		return started, err
	}
	deadline := time.Now().Add(l.cfg.BootTimeout)
	failed := make([]string, len(hosts))
	for k, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.waitReady(ctx, h, signer, deadline)
			if err != nil {
				failed[k] = h.Name
				if ctx.Err() == nil {
					l.logf("%s", l.diagnose(h, err))
				}
				return
			}
			l.logf("%s %s: up after %s", h.Name, h.Addr, time.Since(begin).Round(10*time.Millisecond))
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return started, err
	}
	var names []string
	for _, n := range failed {
		if n != "" {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		return started, fmt.Errorf("%s did not come up (see above)", strings.Join(names, ", "))
	}
	return started, nil
}

// writeClientFiles writes the inventory and known_hosts.
func (l *Lab) writeClientFiles() error {
	l.mu.Lock()
	inv := inventoryText(l.st, l.KeyPath(), l.KnownHostsPath(), l.cfg.Dir)
	kh := knownHostsText(l.st)
	l.mu.Unlock()
	if err := etcd.WriteFileAtomic(l.KnownHostsPath(), []byte(kh), 0o644); err != nil {
		return err
	}
	return etcd.WriteFileAtomic(l.InventoryPath(), []byte(inv), 0o644)
}

// Start boots the named hosts (none: every host not running) and waits
// until they are ready. A host that does not come up is stopped again.
func (l *Lab) Start(ctx context.Context, names ...string) (err error) {
	unlock, err := l.begin(false)
	if err != nil {
		return err
	}
	defer unlock()
	hosts, err := l.hostsByName(names)
	if err != nil {
		return err
	}
	im, ok := readImage(l.st.Image)
	if !ok {
		return fmt.Errorf("the lab's base image %s is missing; destroy the lab and create it again", l.st.Image)
	}
	if err := addBlackhole(ctx, l.st.Subnet); err != nil {
		return err
	}
	if err := ensureBridge(ctx, l.st.Bridge, netip.PrefixFrom(l.st.plan().gateway(), l.st.Subnet.Bits())); err != nil {
		return err
	}
	clientPub, err := ensureClientKey(l.KeyPath())
	if err != nil {
		return err
	}
	started, err := l.startHosts(ctx, hosts, im, clientPub)
	if err != nil {
		for _, h := range started {
			l.stopHost(h, 30*time.Second)
		}
		l.save()
		return err
	}
	return l.writeClientFiles()
}

// Stop powers the named hosts off cleanly (none: every host), keeping
// their disks.
func (l *Lab) Stop(ctx context.Context, names ...string) error {
	return l.eachHost(names, func(h *hostState) error { return l.stopHost(h, 30*time.Second) })
}

// Down stops every host, keeping the lab; Up resumes it.
func (l *Lab) Down(ctx context.Context) error { return l.Stop(ctx) }

// Kill ends the named hosts abruptly, as a power cut would: their
// systemd and every process in them are killed, and their address stops
// answering. Start boots them again from their disks.
func (l *Lab) Kill(names ...string) error {
	return l.eachHost(names, l.killHost)
}

func (l *Lab) eachHost(names []string, f func(*hostState) error) error {
	unlock, err := l.begin(false)
	if err != nil {
		return err
	}
	defer unlock()
	hosts, err := l.hostsByName(names)
	if err != nil {
		return err
	}
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for k, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = f(h)
		}()
	}
	wg.Wait()
	return errors.Join(append(errs, l.save())...)
}

// OffersEtcd is what the lab's inventory offers playbooks as the etcd to
// install ("etcd_src=DIR" or "etcd_version=VERSION"), "" when nothing or
// there is no lab.
func (l *Lab) OffersEtcd() string {
	if l.st == nil {
		return ""
	}
	return l.st.etcdOffer()
}

// OfferEtcd sets the etcd the next Up records in the inventory, as
// Config's EtcdSrc and EtcdVersion do (one of them).
func (l *Lab) OfferEtcd(src, version string) { l.cfg.EtcdSrc, l.cfg.EtcdVersion = src, version }

// Destroy removes everything the lab created: its processes, mounts,
// network namespaces, veths, bridge, blackhole route, cgroups, host disks,
// keys, inventory and state. With removeImages it also empties the image
// cache, except images that hosts of other labs are running on.
func (l *Lab) Destroy(ctx context.Context, removeImages bool) error {
	unlock, err := l.begin(false)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	if l.st == nil {
		l.logf("no lab in %s", l.cfg.Dir)
	} else {
		errs = append(errs, l.destroy(ctx, true))
	}
	if removeImages {
		errs = append(errs, l.removeImages())
	}
	err = errors.Join(errs...)
	l.destroyed = err == nil
	return err
}

// destroy tears the lab down; the state file goes last, and only when
// everything it records is gone, so a failed destroy can be repeated.
func (l *Lab) destroy(ctx context.Context, verbose bool) error {
	st := l.st
	var (
		errs = make([]error, len(st.Hosts))
		wg   sync.WaitGroup
	)
	for k, h := range st.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = l.removeHost(ctx, h)
		}()
	}
	wg.Wait()
	if linkExists(st.Bridge) {
		errs = append(errs, ipCmd(ctx, "link", "delete", st.Bridge))
	}
	// The blackhole route goes only when no host or bridge is left.
	if err := errors.Join(errs...); err != nil {
		l.save()
		return err
	}
	if err := removeBlackhole(ctx, st.Subnet); err != nil {
		return err
	}
	for _, root := range st.Cgroups {
		if err := removeCgroup(filepath.Join(root, st.cgroupParent())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeTree(filepath.Join(l.cfg.Dir, "hosts")); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []string{l.InventoryPath(), l.KnownHostsPath(), l.KeyPath(), l.KeyPath() + ".pub"} {
		if err := os.Remove(f); err != nil && !notExist(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(l.statePath()); err != nil {
		return err
	}
	if verbose {
		l.logf("destroyed the lab in %s (%d host(s), subnet %s)", l.cfg.Dir, len(st.Hosts), st.Subnet)
	}
	l.mu.Lock()
	l.st = nil
	l.mu.Unlock()
	return nil
}

// removeImages empties the image cache of images no running host uses.
func (l *Lab) removeImages() error {
	entries, err := os.ReadDir(l.cfg.ImageDir)
	if notExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(l.cfg.ImageDir, ".lock"), l.cfg.Log)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(l.cfg.ImageDir, e.Name())
		if users := overlaysOver(filepath.Join(dir, "rootfs")); len(users) > 0 {
			l.logf("keeping image %s: in use by %s", dir, strings.Join(users, ", "))
			continue
		}
		if err := removeTree(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		l.logf("removed image %s", dir)
	}
	return errors.Join(errs...)
}

// HostStatus is one host as Status sees it.
type HostStatus struct {
	Host
	// State is running, stopped, killed, created (never started) or dead
	// (it was running and its process is gone).
	State string
	PID   int
	// Since is when the running host was started.
	Since time.Time
	// Memory is the proportional set size of the host's processes.
	Memory int64
}

// Status is the lab as it is now.
type Status struct {
	Dir     string
	Name    string
	Bridge  string
	Subnet  netip.Prefix
	Image   string
	Created time.Time
	Hosts   []HostStatus
}

// Status reports each host's state, without changing anything.
func (l *Lab) Status() (*Status, error) {
	if err := l.load(); err != nil {
		return nil, err
	}
	st := l.st
	if st == nil {
		return nil, nil
	}
	s := &Status{Dir: l.cfg.Dir, Name: st.Name, Bridge: st.Bridge, Subnet: st.Subnet, Image: st.Image, Created: st.Created}
	for _, h := range st.Hosts {
		hs := HostStatus{Host: Host{Index: h.Index, Name: h.Name, Addr: h.Addr}, State: h.Status}
		if isProc(h.PID, h.PIDStart) {
			hs.State, hs.PID, hs.Since = hostRunning, h.PID, h.Started
			if dirs := st.cgroupDirs(h.Index); len(dirs) > 0 {
				hs.Memory = pssBytes(cgroupPIDs(dirs[0]))
			}
		} else if h.Status == hostRunning {
			hs.State = hostDead
		}
		s.Hosts = append(s.Hosts, hs)
	}
	sort.Slice(s.Hosts, func(i, j int) bool { return s.Hosts[i].Index < s.Hosts[j].Index })
	return s, nil
}
