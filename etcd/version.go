package etcd

import (
	"context"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/etcdplay/etcdplay/engine/transport"
)

// Version is an etcd release version, major.minor.patch.
type Version struct {
	Major, Minor, Patch int
}

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?`)

// ParseVersion reads "3.6.16", "v3.6.16" or "3.6" (patch 0).
func ParseVersion(s string) (Version, bool) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Version{}, false
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, true
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// MinorString is "3.6".
func (v Version) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// SameMinor reports whether v and w are one release line (3.6.x).
func (v Version) SameMinor(w Version) bool { return v.Major == w.Major && v.Minor == w.Minor }

// etcdVersionModules are the modules whose version is etcd's in a binary
// built from the module proxy: version.Version lives in the api module.
var etcdVersionModules = []string{"go.etcd.io/etcd/api/v3", "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/etcdctl/v3", "go.etcd.io/etcd/etcdutl/v3"}

// BinaryVersion is the etcd version of an etcd, etcdctl or etcdutl binary
// on the control machine: from its Go build information when it was built
// as a user of the etcd modules (as make etcd builds it), else from
// running it with --version when it is built for this machine (a release
// binary). "" when neither tells.
func BinaryVersion(path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	if info, err := buildinfo.ReadFile(path); err == nil {
		if v := buildVersion(info); v != "" {
			return v, nil
		}
	}
	if !runsHere(path) {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	return versionLine(string(out)), nil
}

// buildVersion is the version of an etcd module in the binary's build
// information, "" when it has none that is a release.
func buildVersion(info *debug.BuildInfo) string {
	mods := []debug.Module{info.Main}
	for _, d := range info.Deps {
		mods = append(mods, *d)
	}
	for _, want := range etcdVersionModules {
		for _, m := range mods {
			if m.Path != want || m.Version == "(devel)" || strings.Contains(m.Version, "-0.") {
				continue
			}
			if v, ok := ParseVersion(m.Version); ok {
				return v.String()
			}
		}
	}
	return ""
}

// runsHere reports whether an ELF binary is for this machine.
func runsHere(path string) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	switch runtime.GOARCH {
	case "amd64":
		return f.Machine == elf.EM_X86_64
	case "arm64":
		return f.Machine == elf.EM_AARCH64
	}
	return false
}

// versionLine finds the version in etcd --version output ("etcd Version:
// 3.6.16"), etcdctl's ("etcdctl version: 3.6.16") or etcdutl's.
func versionLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.Contains(strings.ToLower(k), "version") || strings.Contains(strings.ToLower(k), "api") || strings.Contains(strings.ToLower(k), "go ") {
			continue
		}
		if pv, ok := ParseVersion(v); ok {
			return pv.String()
		}
	}
	return ""
}

// VersionScript prints the version of the etcd binary at path on a host,
// or nothing when there is none: for VersionFromOutput.
func VersionScript(path string) string {
	q := transport.QuoteWord(path)
	return "if [ -x " + q + " ]; then " + q + " --version 2>/dev/null | head -n 3; fi"
}

// VersionFromOutput reads what VersionScript printed.
func VersionFromOutput(out string) string { return versionLine(out) }
