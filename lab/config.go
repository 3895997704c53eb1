package lab

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults of a Config field left empty.
const (
	DefaultDir    = "/var/lib/etcdplay/lab"
	DefaultName   = "etcdplay"
	DefaultSubnet = "10.77.0.0/24"
	DefaultHosts  = 3
	// MaxHosts bounds --hosts; the subnet may allow fewer.
	MaxHosts = 99
	// Suite is the Debian release of the base image.
	Suite = "bookworm"

	defaultBootTimeout = 2 * time.Minute
	// blackholeMetric marks the lab's blackhole route; the bridge's
	// connected route (metric 0) wins while the bridge is up.
	blackholeMetric = 4242
	// firstHostOffset puts host i at the subnet's address .(10+i).
	firstHostOffset = 10
)

// Environment variables read for Config fields left empty.
const (
	EnvDir      = "ETCDPLAY_LAB_DIR"
	EnvImageDir = "ETCDPLAY_LAB_IMAGE_DIR"
	EnvMirror   = "ETCDPLAY_LAB_MIRROR"
)

// BasePackages are always in the base image.
var BasePackages = []string{"systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "procps", "sudo"}

// Config says where a lab lives and what it is made of. The zero value is
// the default lab. Name, Bridge, Subnet and Packages only matter when the lab
// is created; afterwards its state file decides, and a different explicit
// value is an error.
type Config struct {
	// Dir holds the lab's state, keys, inventory and host disks
	// (default $ETCDPLAY_LAB_DIR, then DefaultDir).
	Dir string
	// ImageDir caches base images, one directory per package set
	// (default $ETCDPLAY_LAB_IMAGE_DIR, then Dir/image).
	ImageDir string
	// Name prefixes what the lab creates on the machine: network
	// namespaces NAME-hostN, cgroups NAME-lab/hostN, machines NAME-hostN
	// (default "etcdplay"). Two labs on one machine need two names.
	Name string
	// Bridge is the lab's bridge interface (default Name+"0"), at most
	// 12 characters so that its veths (BRIDGE-N) fit in an interface name.
	Bridge string
	// Subnet is the lab's private IPv4 network (default 10.77.0.0/24): the
	// bridge is at .1, host i at .(10+i).
	Subnet netip.Prefix
	// Packages are Debian packages added to the base image.
	Packages []string
	// Mirror is the Debian archive debootstrap uses (default
	// $ETCDPLAY_LAB_MIRROR, then the one in this machine's apt sources).
	Mirror string
	// BootTimeout bounds how long Up and Start wait for hosts to be
	// running (default 2 minutes).
	BootTimeout time.Duration
	// EtcdSrc, when set, is a directory on the control machine with etcd
	// and etcdctl binaries; Up records it in the inventory as etcd_src so
	// the shipped playbooks install them with no -e. EtcdVersion, instead,
	// is a release (v3.6.16) Up records as etcd_version: one the control
	// machine's release cache holds needs no network.
	EtcdSrc     string
	EtcdVersion string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// ConfigError is a problem with what the caller asked for (a bad or taken
// subnet, an unknown host, a lab that was created differently), as opposed
// to a failure of the machine.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func configErrorf(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,19}$`)
	bridgeRE  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,11}$`)
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	// pathRE keeps paths safe inside mount options (',' ':') and
	// unquoted in the INI inventory (spaces, '=', '#', quotes).
	pathRE = regexp.MustCompile(`^/[A-Za-z0-9._/+@-]*$`)
)

// withDefaults fills empty fields and checks them.
func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		c.Dir = os.Getenv(EnvDir)
	}
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, err
	}
	c.Dir = filepath.Clean(dir)
	if c.ImageDir == "" {
		c.ImageDir = os.Getenv(EnvImageDir)
	}
	if c.ImageDir == "" {
		c.ImageDir = filepath.Join(c.Dir, "image")
	}
	if c.ImageDir, err = filepath.Abs(c.ImageDir); err != nil {
		return c, err
	}
	for _, p := range []string{c.Dir, c.ImageDir} {
		if !pathRE.MatchString(p) {
			return c, configErrorf("lab directory %q: use only letters, digits and . _ / + @ - (the path goes into mount options and the inventory)", p)
		}
	}
	if c.Mirror == "" {
		c.Mirror = os.Getenv(EnvMirror)
	}
	if c.BootTimeout <= 0 {
		c.BootTimeout = defaultBootTimeout
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Packages, err = cleanPackages(c.Packages); err != nil {
		return c, err
	}
	return c, nil
}

// withNetDefaults fills and checks the fields that only matter when the
// lab is created.
func (c Config) withNetDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if !nameRE.MatchString(c.Name) {
		return c, configErrorf("lab name %q: expected 1 to 20 lowercase letters, digits or '-'", c.Name)
	}
	if c.Bridge == "" {
		c.Bridge = c.Name + "0"
	}
	if !bridgeRE.MatchString(c.Bridge) {
		return c, configErrorf("bridge name %q: expected 1 to 12 letters, digits, '_' or '-' (its veths are named BRIDGE-N)", c.Bridge)
	}
	if !c.Subnet.IsValid() {
		c.Subnet = netip.MustParsePrefix(DefaultSubnet)
	}
	if err := checkSubnet(c.Subnet); err != nil {
		return c, err
	}
	return c, nil
}

// ParseSubnet parses a --subnet value and checks that a lab can use it.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, configErrorf("subnet %q: expected an IPv4 network like %s", s, DefaultSubnet)
	}
	return p, checkSubnet(p)
}

func checkSubnet(p netip.Prefix) error {
	switch {
	case !p.Addr().Is4():
		return configErrorf("subnet %s: the lab needs an IPv4 network like %s", p, DefaultSubnet)
	case p.Masked() != p:
		return configErrorf("subnet %s: host bits are set; did you mean %s?", p, p.Masked())
	case !p.Addr().IsPrivate():
		return configErrorf("subnet %s: not a private network (10/8, 172.16/12, 192.168/16); the lab blackholes its subnet, so it must never be a real one", p)
	case p.Bits() > 28:
		return configErrorf("subnet %s: too small; the lab needs at least a /28", p)
	}
	return nil
}

func cleanPackages(pkgs []string) ([]string, error) {
	seen := map[string]bool{}
	for _, p := range BasePackages {
		seen[p] = true
	}
	var out []string
	for _, p := range pkgs {
		for _, p := range strings.Split(p, ",") {
			p = strings.TrimSpace(p)
			if p == "" || seen[p] {
				continue
			}
			if !packageRE.MatchString(p) {
				return nil, configErrorf("package %q: not a Debian package name", p)
			}
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// addrPlan is where the lab's addresses are.
type addrPlan struct{ subnet netip.Prefix }

// gateway is the bridge's address, the subnet's first host address.
func (p addrPlan) gateway() netip.Addr { return p.subnet.Addr().Next() }

// host is host i's address (i from 1).
func (p addrPlan) host(i int) netip.Addr {
	a := p.subnet.Addr()
	for range firstHostOffset + i {
		a = a.Next()
	}
	return a
}

// maxHosts is how many hosts fit in the subnet, below its broadcast
// address, and at most MaxHosts.
func (p addrPlan) maxHosts() int {
	size := 1 << (32 - p.subnet.Bits())
	n := size - 2 - firstHostOffset
	return max(0, min(n, MaxHosts))
}

// hostName is host i's inventory name and hostname.
func hostName(i int) string { return "etcd-" + strconv.Itoa(i) }

// hostIndex parses a name given by the user: "etcd-2" or "2".
func hostIndex(name string) (int, bool) {
	s := strings.TrimPrefix(name, "etcd-")
	i, err := strconv.Atoi(s)
	if err != nil || i < 1 || strconv.Itoa(i) != s {
		return 0, false
	}
	return i, true
}
