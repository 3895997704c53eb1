package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// imageRecipe changes whenever prepareImage changes, so images prepared
// the old way are rebuilt.
const imageRecipe = 1

// Image is a base root filesystem, shared read-only by the hosts of any
// lab that uses its package set.
type Image struct {
	// Dir is the image's directory; the root filesystem is Dir/rootfs.
	Dir      string        `json:"-"`
	Suite    string        `json:"suite"`
	Packages []string      `json:"packages"`
	Mirror   string        `json:"mirror"`
	Recipe   int           `json:"recipe"`
	Built    time.Time     `json:"built"`
	BuildFor time.Duration `json:"build_time"`
}

// Rootfs is the root filesystem the hosts' overlays are over.
func (im Image) Rootfs() string { return filepath.Join(im.Dir, "rootfs") }

// imageKey names an image by what is in it: a different package set is a
// different image, and the two can be used side by side.
func imageKey(extra []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "recipe=%d\nsuite=%s\narch=%s\nbase=%s\nextra=%s\n",
		imageRecipe, Suite, runtime.GOARCH, strings.Join(BasePackages, ","), strings.Join(extra, ","))
	return Suite + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

func readImage(dir string) (Image, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "stamp.json"))
	if err != nil {
		return Image{}, false
	}
	var im Image
	if json.Unmarshal(b, &im) != nil || im.Recipe != imageRecipe {
		return Image{}, false
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs", "usr", "lib", "systemd", "systemd")); err != nil {
		return Image{}, false
	}
	im.Dir = dir
	return im, true
}

// ensureImage returns the cached image for the package set, building it
// first when there is none. The build happens in a temporary directory
// renamed into place when complete, so an interrupted build is never used.
func ensureImage(ctx context.Context, c Config, rebuild bool) (Image, error) {
	key := imageKey(c.Packages)
	dir := filepath.Join(c.ImageDir, key)
	if im, ok := readImage(dir); ok && !rebuild {
		return im, nil
	}
	if err := os.MkdirAll(c.ImageDir, 0o755); err != nil {
		return Image{}, err
	}
	unlock, err := lockFile(filepath.Join(c.ImageDir, ".lock"), c.Log)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	if im, ok := readImage(dir); ok {
		if !rebuild {
			return im, nil // built by whoever held the lock
		}
		if users := overlaysOver(im.Rootfs()); len(users) > 0 {
			return Image{}, configErrorf("image %s is in use by running lab hosts (%s); destroy those labs first", dir, strings.Join(users, ", "))
		}
	}
	if err := checkTools("debootstrap"); err != nil {
		return Image{}, err
	}
	mirror := c.Mirror
	if mirror == "" {
		if mirror, err = aptMirror(Suite); err != nil {
			return Image{}, err
		}
	}
	build := filepath.Join(c.ImageDir, ".build-"+key)
	if err := removeTree(build); err != nil {
		return Image{}, err
	}
	if err := os.MkdirAll(build, 0o755); err != nil {
		return Image{}, err
	}
	ok := false
	defer func() {
		if !ok {
			removeTree(build)
		}
	}()
	start := time.Now()
	pkgs := append(append([]string{}, BasePackages...), c.Packages...)
	fmt.Fprintf(c.Log, "building base image %s: debootstrap %s from %s with %s (about a minute, once)\n",
		key, Suite, mirror, strings.Join(pkgs, ","))
	rootfs := filepath.Join(build, "rootfs")
	logPath := filepath.Join(build, "debootstrap.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return Image{}, err
	}
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--components=main",
		"--include="+strings.Join(pkgs, ","), Suite, rootfs, mirror)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	ownGroup(cmd)
	err = cmd.Run()
	logf.Close()
	if err != nil {
		if ctx.Err() != nil {
			return Image{}, ctx.Err()
		}
		return Image{}, fmt.Errorf("debootstrap %s from %s: %v; its last lines:\n%s", Suite, mirror, err, tail(logPath, 15))
	}
	if err := prepareImage(rootfs, c.Packages); err != nil {
		return Image{}, fmt.Errorf("prepare image: %w", err)
	}
	im := Image{Suite: Suite, Packages: c.Packages, Mirror: mirror, Recipe: imageRecipe,
		Built: time.Now().UTC().Truncate(time.Second), BuildFor: time.Since(start).Round(time.Second)}
	b, _ := json.MarshalIndent(im, "", "  ")
	if err := os.WriteFile(filepath.Join(build, "stamp.json"), append(b, '\n'), 0o644); err != nil {
		return Image{}, err
	}
	if _, err := os.Stat(dir); err == nil {
		old := filepath.Join(c.ImageDir, ".old-"+key)
		if err := removeTree(old); err != nil {
			return Image{}, err
		}
		if err := os.Rename(dir, old); err != nil {
			return Image{}, err
		}
		defer removeTree(old)
	}
	if err := os.Rename(build, dir); err != nil {
		return Image{}, err
	}
	ok = true
	im.Dir = dir
	fmt.Fprintf(c.Log, "built base image %s in %s\n", dir, im.BuildFor)
	return im, nil
}

// prepareImage makes a debootstrapped tree a lab base: no host identity
// (each host gets its own SSH keys, machine-id and hostname in its
// overlay), sshd with key login only, no DNS, and no units that would
// reach out or that make no sense in a container.
func prepareImage(rootfs string, extra []string) error {
	p := func(rel string) string { return filepath.Join(rootfs, rel) }
	keys, _ := filepath.Glob(p("etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	// An empty /etc/machine-id is not enough: dbus keeps its own copy,
	// and every host would share it.
	for _, rel := range []string{"var/lib/dbus/machine-id", "etc/hostname"} {
		if err := os.Remove(p(rel)); err != nil && !notExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/machine-id":  "",
		"etc/resolv.conf": "# etcdplay lab: no DNS; the lab's hosts are in /etc/hosts.\n",
		"etc/ssh/sshd_config.d/etcdplay-lab.conf": "# etcdplay lab: each host has its own ed25519 key, written before its first boot.\n" +
			"HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n",
	}
	for rel, text := range files {
		if err := os.WriteFile(p(rel), []byte(text), 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(p("root/.ssh"), 0o700); err != nil {
		return err
	}
	// apt timers would try the network (there is none); e2scrub and
	// fstrim have nothing to do in a container.
	for _, unit := range []string{"timers.target.wants/apt-daily.timer", "timers.target.wants/apt-daily-upgrade.timer",
		"timers.target.wants/e2scrub_all.timer", "timers.target.wants/fstrim.timer",
		"multi-user.target.wants/e2scrub_reap.service"} {
		if err := os.Remove(p("etc/systemd/system/" + unit)); err != nil && !notExist(err) {
			return err
		}
	}
	// Debian's etcd-server enables its own etcd.service; the lab's etcd
	// is configured and started by playbooks.
	err := filepath.WalkDir(p("etc/systemd/system"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (d.Name() == "etcd.service" || d.Name() == "etcd2.service") && d.Type()&os.ModeSymlink != 0 {
			return os.Remove(path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	debs, _ := filepath.Glob(p("var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		os.Remove(d)
	}
	return nil
}

// aptMirror finds the Debian archive for suite in this machine's apt
// sources (one-line .list and deb822 .sources).
func aptMirror(suite string) (string, error) {
	files := []string{"/etc/apt/sources.list"}
	for _, pat := range []string{"/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var uri string
		if strings.HasSuffix(f, ".sources") {
			uri = mirrorFromDeb822(b, suite)
		} else {
			uri = mirrorFromList(b, suite)
		}
		if uri != "" {
			return uri, nil
		}
	}
	return "", fmt.Errorf("no Debian archive for %q with component main in /etc/apt/sources.list or /etc/apt/sources.list.d; name one with $%s", suite, EnvMirror)
}

func mirrorFromList(b []byte, suite string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			f = f[1:]
		}
		if len(f) >= 3 && f[1] == suite && contains(f[2:], "main") && usableURI(f[0]) {
			return f[0]
		}
	}
	return ""
}

func mirrorFromDeb822(b []byte, suite string) string {
	for _, stanza := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		key := ""
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if line[0] == ' ' || line[0] == '\t' {
				if key != "" {
					fields[key] += " " + strings.TrimSpace(line)
				}
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			key = strings.ToLower(strings.TrimSpace(k))
			fields[key] = strings.TrimSpace(v)
		}
		if strings.EqualFold(fields["enabled"], "no") || !contains(strings.Fields(fields["types"]), "deb") ||
			!contains(strings.Fields(fields["suites"]), suite) || !contains(strings.Fields(fields["components"]), "main") {
			continue
		}
		for _, u := range strings.Fields(fields["uris"]) {
			if usableURI(u) {
				return u
			}
		}
	}
	return ""
}

func usableURI(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "file:/")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// toolPackages names the Debian package of each tool the lab runs.
var toolPackages = map[string]string{
	"debootstrap":    "debootstrap",
	"systemd-nspawn": "systemd-container",
	"ip":             "iproute2",
	"ssh":            "openssh-client",
}

// checkTools says which tools are missing and which packages bring them.
func checkTools(tools ...string) error {
	var missing, pkgs []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
			pkgs = append(pkgs, toolPackages[t])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not found: install with apt-get install %s (or make deps)", strings.Join(missing, ", "), strings.Join(pkgs, " "))
	}
	return nil
}

// CheckMachine says why this machine cannot run the lab, or nil: it must
// be Linux, the caller root, and debootstrap (for a new image),
// systemd-nspawn and ip installed.
func CheckMachine(needImageBuild bool) error {
	if !supported || runtime.GOOS != "linux" {
		return fmt.Errorf("the lab needs Linux (this is %s)", runtime.GOOS)
	}
	if !isRoot() {
		return errors.New("the lab needs root (it mounts overlays, creates network namespaces and boots containers); run it with sudo")
	}
	tools := []string{"systemd-nspawn", "ip"}
	if needImageBuild {
		tools = append([]string{"debootstrap"}, tools...)
	}
	if err := checkTools(tools...); err != nil {
		return err
	}
	if _, err := cgroupRoots(); err != nil {
		return err
	}
	return nil
}
