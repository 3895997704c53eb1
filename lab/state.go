package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/etcdplay/etcdplay/etcd"
)

const stateVersion = 1

// state is what the lab has created on the machine. It is written before
// each change it describes, so a lab interrupted at any point can still be
// destroyed.
type state struct {
	Version int          `json:"version"`
	Name    string       `json:"name"`
	Bridge  string       `json:"bridge"`
	Subnet  netip.Prefix `json:"subnet"`
	// Image is the base image directory the hosts' overlays are over.
	Image    string   `json:"image"`
	Packages []string `json:"packages,omitempty"`
	// EtcdSrc is the control machine's directory of etcd binaries that
	// the inventory offers playbooks as etcd_src; EtcdVersion, instead,
	// a release it offers as etcd_version.
	EtcdSrc     string    `json:"etcd_src,omitempty"`
	EtcdVersion string    `json:"etcd_version,omitempty"`
	Created     time.Time `json:"created"`
	// Cgroups are the cgroup hierarchy roots the hosts' cgroups are in.
	Cgroups []string     `json:"cgroups"`
	Hosts   []*hostState `json:"hosts"`
}

// Host states recorded in the state file. A host recorded as running whose
// process is gone is reported as "dead".
const (
	hostCreated = "created"
	hostRunning = "running"
	hostStopped = "stopped"
	hostKilled  = "killed"
	hostDead    = "dead"
)

type hostState struct {
	Index     int        `json:"index"`
	Name      string     `json:"name"`
	Addr      netip.Addr `json:"addr"`
	MachineID string     `json:"machine_id"`
	// HostKey is the host's public SSH key, authorized_keys format.
	HostKey string `json:"host_key"`
	Status  string `json:"status"`
	// PID is the systemd-nspawn process and PIDStart its start time in
	// clock ticks after boot, so a reused PID is never signalled.
	PID      int       `json:"pid,omitempty"`
	PIDStart uint64    `json:"pid_start,omitempty"`
	Started  time.Time `json:"started,omitzero"`
}

func (s *state) host(i int) *hostState {
	for _, h := range s.Hosts {
		if h.Index == i {
			return h
		}
	}
	return nil
}

func (s *state) plan() addrPlan { return addrPlan{s.Subnet} }

// netns is host i's network namespace, /run/netns/NAME.
func (s *state) netns(i int) string { return s.Name + "-host" + strconv.Itoa(i) }

// veth is the bridge side of host i's veth pair; the other side is eth0
// in the host's namespace.
func (s *state) veth(i int) string { return s.Bridge + "-" + strconv.Itoa(i) }

// machine is host i's nspawn machine name, unique on the machine as
// nspawn keeps per-machine files under /run/systemd/nspawn.
func (s *state) machine(i int) string { return s.netns(i) }

// cgroupParent is the lab's directory in each cgroup hierarchy.
func (s *state) cgroupParent() string { return s.Name + "-lab" }

func (s *state) cgroupDirs(i int) []string {
	var dirs []string
	for _, root := range s.Cgroups {
		dirs = append(dirs, filepath.Join(root, s.cgroupParent(), "host"+strconv.Itoa(i)))
	}
	return dirs
}

func readState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab state %s: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("lab state %s: version %d, this etcdplay knows %d", path, s.Version, stateVersion)
	}
	if s.Name == "" || s.Bridge == "" || !s.Subnet.IsValid() {
		return nil, fmt.Errorf("lab state %s: incomplete (no name, bridge or subnet)", path)
	}
	return &s, nil
}

// writeState replaces the state file atomically.
func writeState(path string, s *state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return etcd.WriteFileAtomic(path, append(b, '\n'), 0o644)
}

func notExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
