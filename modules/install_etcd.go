package modules

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

type installEtcdArgs struct {
	Src         string
	Tarball     string
	SHA256      string
	Package     bool
	Checksums   *starlark.Dict
	BinDir      string
	User        string
	Group       string
	DataDir     string
	ConfDir     string
	ConfFile    string
	Unit        string
	UnitContent string
	UnitDir     string
}

// install_etcd puts etcd and etcdctl on each host, with the etcd user, its
// directories and a systemd unit that reads the environment file.
//
// The binaries come from one of:
//   - src=: a directory on the control machine holding etcd and etcdctl
//     (and etcdutl, if there), e.g. what make etcd builds; checksums= may
//     pin their SHA-256;
//   - tarball=: an official release archive (etcd-vX-linux-ARCH.tar.gz)
//     on the control machine, checked against sha256= or a SHA256SUMS file
//     beside it (the release's own), before anything is unpacked;
//   - package=True: the distribution's package (Debian etcd-server and
//     etcd-client, or etcd with dnf/yum), installed without letting it
//     start its own default instance.
//
// Uploaded binaries must match the host's architecture (uname -m). Each
// is written atomically, only when its SHA-256 differs, mode 0755.
//
// Then, each only when missing or different: the system group and user
// (no login shell, home the data dir), the data dir (owner etcd, mode
// 0700: etcd refuses looser modes), the configuration dir (0755), and the
// unit file, written like a file of the copy module and followed by
// daemon-reload when systemd runs. The unit is Type=notify, runs as the
// etcd user, reads EnvironmentFile=CONF_FILE (what render_conf writes)
// and restarts on failure. It is not enabled or started: that is the
// systemd module's job.
//
// Arguments:
//
//	src       directory of binaries on the control machine; or
//	tarball   release archive on the control machine, with
//	sha256    its SHA-256 (or a SHA256SUMS file beside it); or
//	package   install the distribution's package
//	checksums dict of binary name to SHA-256, checked for src=
//	bin_dir   where binaries go (default /usr/local/bin)
//	user      the service user (default etcd)
//	group     its group (default the user's name)
//	data_dir  default /var/lib/etcd
//	conf_dir  default /etc/etcd
//	conf_file the environment file (default CONF_DIR/etcd.conf)
//	unit      the unit's name (default etcd)
//	unit_content   the unit file's text, instead of the default
//	unit_dir  default /etc/systemd/system
//
// The result has bin_dir, binaries (name to SHA-256), conf_file, data_dir
// and unit_file.
//
// Check mode: reads the host, verifies the local files and reports what it
// would install.
//
// Example:
//
//	install_etcd(ctx.hosts("etcd"), src = ".cache/etcd/v3.6.16", become = True)
var installEtcdModule = &engine.HostModule[installEtcdArgs]{
	Name: "install_etcd",
	Args: func(a *installEtcdArgs) []any {
		return []any{"src?", &a.Src, "tarball?", &a.Tarball, "sha256?", &a.SHA256, "package?", &a.Package,
			"checksums?", &a.Checksums, "bin_dir?", &a.BinDir, "user?", &a.User, "group?", &a.Group,
			"data_dir?", &a.DataDir, "conf_dir?", &a.ConfDir, "conf_file?", &a.ConfFile, "unit?", &a.Unit,
			"unit_content?", &a.UnitContent, "unit_dir?", &a.UnitDir}
	},
	Validate: func(a *installEtcdArgs) error {
		n := 0
		for _, set := range []bool{a.Src != "", a.Tarball != "", a.Package} {
			if set {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("install_etcd: give exactly one of src= (a directory of binaries), tarball= (a release archive) or package=True")
		}
		a.defaults()
		for name, p := range map[string]string{"bin_dir": a.BinDir, "data_dir": a.DataDir, "conf_dir": a.ConfDir, "conf_file": a.ConfFile, "unit_dir": a.UnitDir} {
			if !path.IsAbs(p) {
				return fmt.Errorf("install_etcd: %s: %q is not an absolute path", name, p)
			}
		}
		if why := unsafeWipePath(a.DataDir); why != "" && !strings.HasPrefix(why, "under /etc") {
			return fmt.Errorf("install_etcd: data_dir %s: %s", a.DataDir, why)
		}
		return nil
	},
	Plan: planInstallEtcd,
}

func (a *installEtcdArgs) defaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&a.BinDir, "/usr/local/bin")
	def(&a.User, "etcd")
	def(&a.Group, a.User)
	def(&a.DataDir, "/var/lib/etcd")
	def(&a.ConfDir, "/etc/etcd")
	def(&a.ConfFile, path.Join(a.ConfDir, "etcd.conf"))
	def(&a.Unit, "etcd")
	def(&a.UnitDir, "/etc/systemd/system")
}

// defaultUnit is the unit install_etcd writes unless given one.
func defaultUnit(binDir, user, group, confFile string) string {
	return `[Unit]
Description=etcd key-value store
Documentation=https://etcd.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
User=` + user + `
Group=` + group + `
EnvironmentFile=` + confFile + `
ExecStart=` + path.Join(binDir, "etcd") + `
Restart=on-failure
RestartSec=5s
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`
}

// etcdBinary is a binary to install.
type etcdBinary struct {
	Name    string
	Content []byte
	SHA256  string
	Arch    string // uname -m of the ELF's machine, "" when unknown
}

// binaryCache keeps binaries read from the control machine once per run,
// not once per host: they are tens of megabytes.
var binaryCache = struct {
	sync.Mutex
	m map[string]binaryEntry
}{m: map[string]binaryEntry{}}

type binaryEntry struct {
	mod  time.Time
	size int64
	bins []etcdBinary
	err  error
}

func cachedBinaries(key string, stamp os.FileInfo, load func() ([]etcdBinary, error)) ([]etcdBinary, error) {
	binaryCache.Lock()
	defer binaryCache.Unlock()
	if e, ok := binaryCache.m[key]; ok && stamp != nil && e.mod.Equal(stamp.ModTime()) && e.size == stamp.Size() {
		return e.bins, e.err
	}
	bins, err := load()
	e := binaryEntry{bins: bins, err: err}
	if stamp != nil {
		e.mod, e.size = stamp.ModTime(), stamp.Size()
	}
	binaryCache.m[key] = e
	return bins, err
}

var etcdBinaryNames = []string{"etcd", "etcdctl", "etcdutl"}

// binariesFromDir reads etcd and etcdctl (required) and etcdutl
// (optional) from a local directory.
func binariesFromDir(dir string, sums map[string]string) ([]etcdBinary, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, engine.BadInput("install_etcd: src: %v", err)
	}
	if !st.IsDir() {
		return nil, engine.BadInput("install_etcd: src %s is not a directory (for a release archive use tarball=)", dir)
	}
	stamp, _ := os.Stat(filepath.Join(dir, "etcd"))
	bins, err := cachedBinaries("dir:"+dir, stamp, func() ([]etcdBinary, error) {
		var bins []etcdBinary
		for _, n := range etcdBinaryNames {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				if os.IsNotExist(err) && n == "etcdutl" {
					continue
				}
				return nil, engine.BadInput("install_etcd: src: %v", err)
			}
			bins = append(bins, newBinary(n, b))
		}
		return bins, nil
	})
	if err != nil {
		return nil, err
	}
	for n, want := range sums {
		found := false
		for _, b := range bins {
			if b.Name == n {
				found = true
				if !strings.EqualFold(b.SHA256, want) {
					return nil, engine.BadInput("install_etcd: %s: SHA-256 %s, checksums= says %s", filepath.Join(dir, n), b.SHA256, want)
				}
			}
		}
		if !found {
			return nil, engine.BadInput("install_etcd: checksums= names %s, which is not in %s", n, dir)
		}
	}
	return bins, nil
}

func newBinary(name string, b []byte) etcdBinary {
	return etcdBinary{Name: name, Content: b, SHA256: sha256Hex(b), Arch: elfArch(b)}
}

// elfArch is the uname -m name of an ELF binary's machine.
func elfArch(b []byte) string {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return ""
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_AARCH64:
		return "aarch64"
	case elf.EM_PPC64:
		return "ppc64le"
	case elf.EM_S390:
		return "s390x"
	case elf.EM_RISCV:
		return "riscv64"
	case elf.EM_386:
		return "i686"
	case elf.EM_ARM:
		return "armv7l"
	}
	return ""
}

// binariesFromTarball checks a release archive's SHA-256 and takes the
// binaries out of it.
func binariesFromTarball(file, want string) ([]etcdBinary, error) {
	stamp, err := os.Stat(file)
	if err != nil {
		return nil, engine.BadInput("install_etcd: tarball: %v", err)
	}
	return cachedBinaries("tar:"+file+":"+want, stamp, func() ([]etcdBinary, error) {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, engine.BadInput("install_etcd: tarball: %v", err)
		}
		got := sha256Hex(raw)
		if want == "" {
			want, err = sumFromFile(filepath.Join(filepath.Dir(file), "SHA256SUMS"), filepath.Base(file))
			if err != nil {
				return nil, engine.BadInput("install_etcd: tarball %s: give sha256= (the release's checksum), or put the release's SHA256SUMS beside it: %v", file, err)
			}
		}
		if !strings.EqualFold(got, strings.TrimSpace(want)) {
			return nil, engine.BadInput("install_etcd: tarball %s: SHA-256 %s, want %s: the file is damaged or not the release you meant", file, got, want)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, engine.BadInput("install_etcd: tarball %s: %v", file, err)
		}
		tr := tar.NewReader(zr)
		found := map[string][]byte{}
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, engine.BadInput("install_etcd: tarball %s: %v", file, err)
			}
			base := path.Base(h.Name)
			if h.Typeflag == tar.TypeReg && strings.Count(strings.Trim(h.Name, "/"), "/") <= 1 {
				for _, n := range etcdBinaryNames {
					if base == n {
						b, err := io.ReadAll(io.LimitReader(tr, 512<<20))
						if err != nil {
							return nil, engine.BadInput("install_etcd: tarball %s: %s: %v", file, h.Name, err)
						}
						found[n] = b
					}
				}
			}
		}
		var bins []etcdBinary
		for _, n := range etcdBinaryNames {
			b, ok := found[n]
			if !ok {
				if n == "etcdutl" {
					continue
				}
				return nil, engine.BadInput("install_etcd: tarball %s has no %s binary", file, n)
			}
			bins = append(bins, newBinary(n, b))
		}
		return bins, nil
	})
}

// sumFromFile finds name's SHA-256 in a sha256sum-format file.
func sumFromFile(sums, name string) (string, error) {
	f, err := os.Open(sums)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 2 && strings.TrimPrefix(fs[1], "*") == name {
			return fs[0], nil
		}
	}
	return "", fmt.Errorf("%s does not list %s", sums, name)
}

// hostInstallFacts is what install_etcd reads on a host.
type hostInstallFacts struct {
	Arch       string
	Systemd    bool
	UserOK     bool
	GroupOK    bool
	NoLogin    string
	Sums       map[string]string // installed binary -> sha256
	DataDir    fileFacts
	ConfDir    fileFacts
	PkgManager string // apt-get, dnf, yum, ""
	PkgOK      bool
}

func installScript(a *installEtcdArgs) string {
	q := transport.QuoteWord
	var b strings.Builder
	fmt.Fprintf(&b, "echo arch=$(uname -m)\n")
	b.WriteString("if [ -d /run/systemd/system ]; then echo systemd=yes; fi\n")
	fmt.Fprintf(&b, "if getent passwd %s >/dev/null; then echo user=yes; fi\n", q(a.User))
	fmt.Fprintf(&b, "if getent group %s >/dev/null; then echo group=yes; fi\n", q(a.Group))
	b.WriteString("echo nologin=$(command -v nologin || echo /bin/false)\n")
	for _, n := range etcdBinaryNames {
		p := q(path.Join(a.BinDir, n))
		fmt.Fprintf(&b, "if [ -f %s ]; then echo sum.%s=$(sha256sum < %s | cut -d' ' -f1); fi\n", p, n, p)
	}
	for k, d := range map[string]string{"data": a.DataDir, "conf": a.ConfDir} {
		fmt.Fprintf(&b, "if [ -e %[1]s ]; then echo %[2]s=$(LC_ALL=C stat -L -c '%%F|%%a|%%U|%%G|%%s' -- %[1]s); fi\n", q(d), k)
	}
	if a.Package {
		b.WriteString("for m in apt-get dnf yum; do if command -v $m >/dev/null; then echo pkg=$m; break; fi; done\n")
		b.WriteString("if command -v dpkg-query >/dev/null; then dpkg-query -W -f='${Status}\\n' etcd-server 2>/dev/null | grep -q 'install ok installed' && echo pkgok=yes; ")
		b.WriteString("elif command -v rpm >/dev/null; then rpm -q etcd >/dev/null 2>&1 && echo pkgok=yes; fi\n")
	}
	return b.String()
}

func parseInstallFacts(out string) (hostInstallFacts, error) {
	f := hostInstallFacts{Sums: map[string]string{}}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch {
		case k == "arch":
			f.Arch = v
		case k == "systemd":
			f.Systemd = true
		case k == "user":
			f.UserOK = true
		case k == "group":
			f.GroupOK = true
		case k == "nologin":
			f.NoLogin = v
		case strings.HasPrefix(k, "sum."):
			f.Sums[strings.TrimPrefix(k, "sum.")] = v
		case k == "data" || k == "conf":
			ff, err := parseStat(k, []byte(v))
			if err != nil {
				return f, err
			}
			if k == "data" {
				f.DataDir = ff
			} else {
				f.ConfDir = ff
			}
		case k == "pkg":
			f.PkgManager = v
		case k == "pkgok":
			f.PkgOK = true
		}
	}
	return f, nil
}

func planInstallEtcd(ctx context.Context, c *engine.HostCall, a *installEtcdArgs) (engine.Plan, error) {
	a.defaults()
	var bins []etcdBinary
	var err error
	switch {
	case a.Src != "":
		sums := map[string]string{}
		if a.Checksums != nil {
			for _, kv := range a.Checksums.Items() {
				k, ok1 := starlark.AsString(kv[0])
				v, ok2 := starlark.AsString(kv[1])
				if !ok1 || !ok2 {
					return engine.Plan{}, engine.BadInput("install_etcd: checksums: want a dict of binary name to SHA-256 string")
				}
				sums[k] = v
			}
		}
		bins, err = binariesFromDir(c.LocalPath(a.Src), sums)
	case a.Tarball != "":
		bins, err = binariesFromTarball(c.LocalPath(a.Tarball), a.SHA256)
	}
	if err != nil {
		return engine.Plan{}, err
	}
	res, err := c.Shell(ctx, installScript(a))
	if err != nil {
		return engine.Plan{}, err
	}
	if res.ExitStatus != 0 {
		return engine.Plan{}, fmt.Errorf("read %s: %w", c.Host.Name, engine.CommandError("sh", res))
	}
	f, err := parseInstallFacts(string(res.Stdout))
	if err != nil {
		return engine.Plan{}, fmt.Errorf("read %s: %w", c.Host.Name, err)
	}
	var actions []engine.Action
	shell := func(desc, line string) engine.Action {
		return engine.Action{Desc: desc, Do: func(ctx context.Context) error {
			_, err := shellOK(ctx, c, line)
			return err
		}}
	}
	q := transport.QuoteWord
	sums := map[string]any{}

	if a.Package {
		if !f.PkgOK {
			switch f.PkgManager {
			case "apt-get":
				// policy-rc.d stops Debian from starting the package's own
				// default single-member instance, whose data dir would
				// otherwise hold another cluster.
				actions = append(actions, shell("install the Debian packages etcd-server and etcd-client (not started)",
					`created=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && created=1; fi; `+
						`DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server etcd-client; rc=$?; if [ -n "$created" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $rc`))
			case "dnf", "yum":
				actions = append(actions, shell("install the package etcd with "+f.PkgManager, f.PkgManager+" install -y etcd"))
			default:
				return engine.Plan{}, fmt.Errorf("install_etcd: %s has neither apt-get, dnf nor yum for package=True: use src= or tarball=", c.Host.Name)
			}
		}
	} else {
		for _, b := range bins {
			if b.Arch != "" && f.Arch != "" && b.Arch != f.Arch && !(b.Arch == "armv7l" && strings.HasPrefix(f.Arch, "arm")) {
				return engine.Plan{}, fmt.Errorf("install_etcd: %s is built for %s, and %s is %s: use the release for %s", b.Name, b.Arch, c.Host.Name, f.Arch, f.Arch)
			}
			sums[b.Name] = b.SHA256
		}
		if !f.GroupOK {
			actions = append(actions, shell("create system group "+a.Group, "groupadd --system -- "+q(a.Group)))
		}
		if !f.UserOK {
			actions = append(actions, shell(fmt.Sprintf("create system user %s (home %s, no login)", a.User, a.DataDir),
				fmt.Sprintf("useradd --system --gid %s --home-dir %s --no-create-home --shell %s -- %s", q(a.Group), q(a.DataDir), q(f.NoLogin), q(a.User))))
		}
		for _, b := range bins {
			dst := path.Join(a.BinDir, b.Name)
			if f.Sums[b.Name] == b.SHA256 {
				continue
			}
			verb := "install"
			if f.Sums[b.Name] != "" {
				verb = "update"
			}
			actions = append(actions, engine.Action{
				Desc: fmt.Sprintf("%s %s (%d MB, sha256 %.12s)", verb, dst, (len(b.Content)+1<<19)>>20, b.SHA256),
				Diff: &engine.FileDiff{Path: dst, Omitted: fmt.Sprintf("binary, sha256 %.12s → %.12s", orWord(f.Sums[b.Name], "none"), b.SHA256)},
				Do: func(ctx context.Context) error {
					if _, err := shellOK(ctx, c, "mkdir -p -- "+q(a.BinDir)); err != nil {
						return err
					}
					return c.Put(ctx, dst, bytes.NewReader(b.Content), transport.PutOptions{Mode: 0o755})
				},
			})
		}
	}
	c.Set("binaries", sums)

	// Directories: the data dir private to the etcd user (etcd warns and
	// fixes a looser mode itself, but a dir it cannot write it cannot fix).
	owner := a.User + ":" + a.Group
	if !f.DataDir.Exists {
		actions = append(actions, shell(fmt.Sprintf("create %s (owner %s, mode 0700)", a.DataDir, owner),
			fmt.Sprintf("mkdir -p -- %[1]s && chown %[2]s -- %[1]s && chmod 0700 -- %[1]s", q(a.DataDir), q(owner))))
	} else {
		if !f.DataDir.Dir {
			return engine.Plan{}, fmt.Errorf("install_etcd: data_dir %s on %s is a %s, not a directory", a.DataDir, c.Host.Name, f.DataDir.Type)
		}
		if f.DataDir.Owner != a.User || f.DataDir.Group != a.Group {
			actions = append(actions, shell(fmt.Sprintf("chown %s %s (was %s:%s)", owner, a.DataDir, f.DataDir.Owner, f.DataDir.Group), "chown "+q(owner)+" -- "+q(a.DataDir)))
		}
		if f.DataDir.Mode&0o077 != 0 {
			actions = append(actions, shell(fmt.Sprintf("chmod 0700 %s (was %04o)", a.DataDir, uint32(f.DataDir.Mode)), "chmod 0700 -- "+q(a.DataDir)))
		}
	}
	if !f.ConfDir.Exists {
		actions = append(actions, shell("create "+a.ConfDir+" (mode 0755)", "mkdir -p -m 0755 -- "+q(a.ConfDir)))
	}
	c.Set("bin_dir", a.BinDir)
	c.Set("data_dir", a.DataDir)
	c.Set("conf_file", a.ConfFile)

	// The unit, for the binary install (a package brings its own).
	if !a.Package || a.UnitContent != "" {
		unit := unitName(a.Unit)
		unitFile := path.Join(a.UnitDir, unit)
		c.Set("unit_file", unitFile)
		content := a.UnitContent
		if content == "" {
			content = defaultUnit(a.BinDir, a.User, a.Group, a.ConfFile)
		}
		p, err := planWrite(ctx, c, wantFile{Path: unitFile, Content: []byte(content), Mode: engine.FileMode{Mode: 0o644, Set: true}})
		if err != nil {
			return engine.Plan{}, fmt.Errorf("install_etcd: unit file: %w", err)
		}
		if len(p.Actions) > 0 {
			// The unit dir exists on a systemd host; a host being prepared
			// (or a container) may lack it.
			actions = append(actions, shell("create "+a.UnitDir+" if missing", "mkdir -p -- "+q(a.UnitDir)))
			actions = append(actions, p.Actions...)
			if f.Systemd {
				actions = append(actions, shell("daemon-reload", "systemctl daemon-reload"))
			}
		}
	}
	if len(actions) == 0 {
		return engine.NothingToDo("etcd installed: binaries in %s up to date, user %s, %s and %s in place", a.BinDir, a.User, a.DataDir, a.ConfDir), nil
	}
	return engine.Do(actions...), nil
}
