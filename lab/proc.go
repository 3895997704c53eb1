package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	Point  string // mount point
	FSType string
	Source string
	Super  string // super block options
}

func readMounts() ([]mountInfo, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return parseMountInfo(b), nil
}

func parseMountInfo(b []byte) []mountInfo {
	var out []mountInfo
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent major:minor root point options [optional...] - fstype source super
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+3 >= len(f) {
			continue
		}
		out = append(out, mountInfo{
			Point:  unescapeMount(f[4]),
			FSType: f[sep+1],
			Source: unescapeMount(f[sep+2]),
			Super:  f[sep+3],
		})
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

func isMounted(dir string) bool {
	ms, _ := readMounts()
	for _, m := range ms {
		if m.Point == dir {
			return true
		}
	}
	return false
}

// overlaysOver lists the mount points of overlays whose lower layer is
// lower: the hosts, of any lab, running on an image.
func overlaysOver(lower string) []string {
	ms, _ := readMounts()
	var out []string
	for _, m := range ms {
		if m.FSType != "overlay" {
			continue
		}
		for _, o := range strings.Split(m.Super, ",") {
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok && (v == lower || strings.HasPrefix(v, lower+":")) {
				out = append(out, m.Point)
			}
		}
	}
	return out
}

// removeTree removes dir and everything in it, after unmounting whatever
// is mounted below it (debootstrap mounts /proc and /sys in its target).
// It refuses when a mount remains, rather than deleting through it.
func removeTree(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := unmount(m); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	if mounts, _ = mountsUnder(dir); len(mounts) > 0 {
		return fmt.Errorf("remove %s: still mounted: %s", dir, strings.Join(mounts, ", "))
	}
	return os.RemoveAll(dir)
}

// cgroupRoots finds the cgroup hierarchies a lab host gets a directory
// in: the cgroup2 one and, on a mixed v1/v2 machine, the named systemd
// one. nspawn needs its own cgroup in both.
func cgroupRoots() ([]string, error) {
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	var v2, named []string
	for _, m := range ms {
		if !strings.HasPrefix(m.Point, "/sys/fs/cgroup") {
			continue
		}
		switch {
		case m.FSType == "cgroup2":
			v2 = append(v2, m.Point)
		case m.FSType == "cgroup" && strings.Contains(","+m.Super+",", ",name=systemd,"):
			named = append(named, m.Point)
		}
	}
	var roots []string
	if len(v2) > 0 {
		roots = append(roots, v2[0])
	}
	if len(named) > 0 {
		roots = append(roots, named[0])
	}
	if len(roots) == 0 {
		return nil, errors.New("no cgroup2 or name=systemd cgroup hierarchy mounted under /sys/fs/cgroup")
	}
	return roots, nil
}

// cgroupPIDs lists the processes in dir and its descendants.
func cgroupPIDs(dir string) []int {
	var pids []int
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// removeCgroup removes dir and its descendants, which must hold no process.
func removeCgroup(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !notExist(err) {
			return fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}

// containerInit finds, among pids, the PID 1 of a PID namespace below
// ours: the host's systemd.
func containerInit(pids []int) (int, uint64) {
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(line, "NSpid:")
			if !ok {
				continue
			}
			f := strings.Fields(v)
			if len(f) >= 2 && f[len(f)-1] == "1" {
				if start, alive := procStart(pid); alive {
					return pid, start
				}
			}
		}
	}
	return 0, 0
}

// pssBytes sums the proportional set size of pids: the memory they use,
// with shared pages split among their users.
func pssBytes(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				total += kb * 1024
			}
		}
	}
	return total
}
