package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ipCmd runs ip(8) from iproute2.
func ipCmd(ctx context.Context, args ...string) error {
	_, err := ipOutput(ctx, args...)
	return err
}

func ipOutput(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

func netnsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// route is what the lab needs of "ip -j route" output.
type route struct {
	Type   string `json:"type"`
	Dst    string `json:"dst"`
	Dev    string `json:"dev"`
	Table  string `json:"table"`
	Metric int    `json:"metric"`
}

func (r route) prefix() (netip.Prefix, bool) {
	if r.Dst == "default" || r.Dst == "" {
		return netip.Prefix{}, false
	}
	if p, err := netip.ParsePrefix(r.Dst); err == nil {
		return p, true
	}
	if a, err := netip.ParseAddr(r.Dst); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func (r route) String() string {
	s := r.Dst
	if r.Type != "" && r.Type != "unicast" {
		s = r.Type + " " + s
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Table != "" && r.Table != "main" {
		s += " table " + r.Table
	}
	if r.Metric != 0 {
		s += " metric " + strconv.Itoa(r.Metric)
	}
	return s
}

func isOwnBlackhole(r route, subnet netip.Prefix) bool {
	p, ok := r.prefix()
	return ok && r.Type == "blackhole" && p == subnet && r.Metric == blackholeMetric && (r.Table == "" || r.Table == "main")
}

type addrInfo struct {
	IfName   string `json:"ifname"`
	AddrInfo []struct {
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

// subnetConflicts lists what on this machine already uses subnet, other
// than the lab's own bridge and, when owned, its blackhole route: routes
// (in any table) and addresses that overlap it. Default routes do not count.
func subnetConflicts(ctx context.Context, subnet netip.Prefix, bridge string, ownBlackhole bool) ([]string, error) {
	out, err := ipOutput(ctx, "-j", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, err
	}
	var routes []route
	if err := json.Unmarshal(out, &routes); err != nil {
		return nil, fmt.Errorf("ip -j route: %w", err)
	}
	out, err = ipOutput(ctx, "-j", "-4", "addr", "show")
	if err != nil {
		return nil, err
	}
	var addrs []addrInfo
	if err := json.Unmarshal(out, &addrs); err != nil {
		return nil, fmt.Errorf("ip -j addr: %w", err)
	}
	return conflicts(subnet, bridge, ownBlackhole, routes, addrs), nil
}

func conflicts(subnet netip.Prefix, bridge string, ownBlackhole bool, routes []route, addrs []addrInfo) []string {
	var out []string
	for _, r := range routes {
		p, ok := r.prefix()
		// Local and broadcast routes come with addresses, reported below.
		if !ok || !p.Overlaps(subnet) || r.Dev == bridge || r.Table == "local" {
			continue
		}
		if ownBlackhole && isOwnBlackhole(r, subnet) {
			continue
		}
		out = append(out, "route "+r.String())
	}
	for _, a := range addrs {
		if a.IfName == bridge {
			continue
		}
		for _, ai := range a.AddrInfo {
			if ip, err := netip.ParseAddr(ai.Local); err == nil && subnet.Contains(ip) {
				out = append(out, fmt.Sprintf("address %s/%d on %s", ai.Local, ai.PrefixLen, a.IfName))
			}
		}
	}
	return out
}

// blackholeArgs is the lab's blackhole route for subnet: while the lab
// exists, a packet to a lab address never leaves the machine, even when
// the bridge is down.
func blackholeArgs(subnet netip.Prefix) []string {
	return []string{"blackhole", subnet.String(), "metric", strconv.Itoa(blackholeMetric)}
}

func addBlackhole(ctx context.Context, subnet netip.Prefix) error {
	return ipCmd(ctx, append([]string{"route", "replace"}, blackholeArgs(subnet)...)...)
}

func hasBlackhole(ctx context.Context, subnet netip.Prefix) bool {
	out, err := ipOutput(ctx, "-j", "-4", "route", "show", "table", "main", "type", "blackhole")
	if err != nil {
		return false
	}
	var routes []route
	json.Unmarshal(out, &routes)
	for _, r := range routes {
		r.Type = "blackhole"
		if isOwnBlackhole(r, subnet) {
			return true
		}
	}
	return false
}

func removeBlackhole(ctx context.Context, subnet netip.Prefix) error {
	if !hasBlackhole(ctx, subnet) {
		return nil
	}
	return ipCmd(ctx, append([]string{"route", "del"}, blackholeArgs(subnet)...)...)
}

// disableIPv6 keeps the machine's side of the lab's links quiet on IPv6;
// the lab is IPv4 only. A kernel without IPv6 has nothing to disable.
func disableIPv6(ifname string) {
	os.WriteFile("/proc/sys/net/ipv6/conf/"+ifname+"/disable_ipv6", []byte("1\n"), 0o644)
}

// ensureBridge creates the lab's bridge with the gateway address, or
// brings an existing one (the lab's own) up.
func ensureBridge(ctx context.Context, name string, gw netip.Prefix) error {
	if !linkExists(name) {
		if err := ipCmd(ctx, "link", "add", name, "type", "bridge"); err != nil {
			return err
		}
		disableIPv6(name)
	}
	if err := ipCmd(ctx, "addr", "replace", gw.String(), "dev", name); err != nil {
		return err
	}
	return ipCmd(ctx, "link", "set", name, "up")
}

// ensureHostNet creates host i's network namespace and veth pair and
// addresses its eth0. The namespace has no default route.
func ensureHostNet(ctx context.Context, netns, veth, bridge string, addr netip.Prefix) error {
	if netnsExists(netns) && !isMounted("/run/netns/"+netns) {
		// Left from before a reboot where /run is not a tmpfs.
		ipCmd(ctx, "netns", "delete", netns)
	}
	if !netnsExists(netns) {
		if err := ipCmd(ctx, "netns", "add", netns); err != nil {
			return err
		}
	}
	if !linkExists(veth) {
		if err := ipCmd(ctx, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns); err != nil {
			return err
		}
		disableIPv6(veth)
	}
	steps := [][]string{
		{"link", "set", veth, "master", bridge, "up"},
		{"-n", netns, "addr", "replace", addr.String(), "dev", "eth0"},
		{"-n", netns, "link", "set", "eth0", "up"},
		{"-n", netns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// removeHostNet deletes host i's namespace, which takes its eth0 and so
// the veth pair with it, and the veth if it somehow remains.
func removeHostNet(ctx context.Context, netns, veth string) error {
	if netnsExists(netns) {
		if err := ipCmd(ctx, "netns", "delete", netns); err != nil {
			return err
		}
		// The kernel removes the pair shortly after the namespace.
		for k := 0; k < 50 && linkExists(veth); k++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if linkExists(veth) {
		if err := ipCmd(ctx, "link", "delete", veth); err != nil && linkExists(veth) {
			return err
		}
	}
	return nil
}
