package modules

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/etcd"
)

type installEtcdArgs struct {
	Src          string
	Tarball      string
	SHA256       string
	Release      string
	ReleaseURL   string
	Package      bool
	Checksums    *starlark.Dict
	BinDir       string
	User         string
	Group        string
	DataDir      string
	ConfDir      string
	ConfFile     string
	Unit         string
	UnitContent  string
	UnitDir      string
	StartTimeout engine.Duration
	Upgrade      bool
	Verify       bool
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
//   - release=: a release by version (v3.6.16): the tarball of each
//     host's architecture (uname -m: x86_64 is amd64, aarch64 arm64) and
//     the release's SHA256SUMS, fetched by the control machine from
//     release_url= (BASE/VERSION/FILE; default etcd's release downloads
//     on GitHub; http, https or file URLs), checked against each other
//     and kept in the control machine's cache by version
//     (ETCDPLAY_CACHE_DIR, default ~/.cache/etcdplay): a cached release
//     is not fetched again, and the hosts need no network. A checksum
//     that differs, a version or architecture the release URL does not
//     have, is refused naming what was expected;
//   - package=True: the distribution's package (Debian etcd-server and
//     etcd-client, or etcd with dnf/yum), installed without letting it
//     start its own default instance. When it is installed already
//     nothing is downloaded: the host needs no network.
//
// Uploaded binaries must match the host's architecture (uname -m). Each
// is written atomically, only when its SHA-256 differs, mode 0755,
// checked on the host once written, and stamped in
// /var/cache/etcdplay/sha256 with its sum and (for etcd) the version it
// says, beside the file's identity (device, inode, size, times to the
// nanosecond): while the file is the one stamped, later runs read its sum
// and version from the stamp instead of hashing it and running it. A
// src= directory's binaries are stamped the same way on the control
// machine (~/.cache/etcdplay/sha256).
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
// With package=True the unit is written too, running the package's
// binary (bin_dir defaults to /usr/bin): the package's own etcd.service
// reads its own environment file (Debian: /etc/default/etcd) and, left
// to itself, runs a single-member cluster of its defaults. Debian's
// package enables that default instance and, unless told not to (as
// install_etcd does), starts it; install_etcd stops it if it runs and
// removes its enablement (the symlinks to the package's unit), so it
// never starts at boot. A unit of the default name (etcd) takes its
// place; enabling that unit later is the systemd module's job and a later
// install_etcd leaves it be. When the package's instance is configured
// (its environment file sets anything), it may be a member of a cluster:
// install_etcd refuses to stop or disable it, and says how to do it with
// the quorum gate. The data of a default instance that ran is left where
// it is, with a warning when it lies inside data_dir. The package creates
// the etcd user itself.
//
// Arguments:
//
//	src       directory of binaries on the control machine; or
//	tarball   release archive on the control machine, with
//	sha256    its SHA-256 (or a SHA256SUMS file beside it); or
//	release   a release version, e.g. "v3.6.16", with
//	release_url  where releases are (default
//	          https://github.com/etcd-io/etcd/releases/download); or
//	package   install the distribution's package
//	checksums dict of binary name to SHA-256, checked for src=
//	bin_dir   where binaries go (default /usr/local/bin; /usr/bin, where
//	          the package puts them, with package=True)
//	user      the service user (default etcd)
//	group     its group (default the user's name)
//	data_dir  default /var/lib/etcd
//	conf_dir  default /etc/etcd
//	conf_file the environment file (default CONF_DIR/etcd.conf)
//	unit      the unit's name (default etcd)
//	unit_content   the unit file's text, instead of the default
//	unit_dir  default /etc/systemd/system
//	start_timeout  how long systemd lets etcd start (TimeoutStartSec of
//	          the default unit; default 10m): a member that joins catches
//	          up on the leader's snapshot before it says it is ready, which
//	          takes long for a large database
//	upgrade   allow changing the version of the etcd that runs on the
//	          host (default False): only a playbook that upgrades one
//	          member at a time should (etcdplay run upgrade)
//	verify    only check (default False): read the host, get and verify
//	          the binaries for it (fetching a release), check they may be
//	          installed there, and change nothing: what a playbook calls
//	          on every host before its first change
//
// The version of a running member is never changed silently: when the
// etcd unit runs (or is starting again after a failure) and the binaries
// to install are of another version than the installed etcd, install_etcd
// refuses (exit status 5), naming the upgrade playbook, unless
// upgrade=True.
//
// The result has bin_dir, binaries (name to SHA-256), version (of the
// binaries, "" when it cannot be told), installed (the version on the
// host, "" when none), arch (the host's uname -m), conf_file, data_dir
// and unit_file.
//
// Check mode: reads the host, verifies the local files (fetching a
// release into the control machine's cache) and reports what it would
// install, stop and disable.
//
// Example:
//
//	install_etcd(ctx.hosts("etcd"), src = ".cache/etcd/v3.6.16", become = True)
var installEtcdModule = &engine.HostModule[installEtcdArgs]{
	Name: "install_etcd",
	Args: func(a *installEtcdArgs) []any {
		return []any{"src?", &a.Src, "tarball?", &a.Tarball, "sha256?", &a.SHA256, "release?", &a.Release, "release_url?", &a.ReleaseURL, "package?", &a.Package,
			"checksums?", &a.Checksums, "bin_dir?", &a.BinDir, "user?", &a.User, "group?", &a.Group,
			"data_dir?", &a.DataDir, "conf_dir?", &a.ConfDir, "conf_file?", &a.ConfFile, "unit?", &a.Unit,
			"unit_content?", &a.UnitContent, "unit_dir?", &a.UnitDir, "start_timeout?", &a.StartTimeout, "upgrade?", &a.Upgrade, "verify?", &a.Verify}
	},
	Validate: func(a *installEtcdArgs) error {
		n := 0
		for _, set := range []bool{a.Src != "", a.Tarball != "", a.Release != "", a.Package} {
			if set {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("give exactly one of src= (a directory of binaries), tarball= (a release archive), release= (a release version) or package=True")
		}
		if a.Release != "" {
			v, err := etcd.ReleaseVersion(a.Release)
			if err != nil {
				return fmt.Errorf("release: %v", err)
			}
			a.Release = v
		}
		if a.ReleaseURL != "" && a.Release == "" {
			return fmt.Errorf("release_url= is where release= is fetched from: give release= too")
		}
		a.defaults()
		for name, p := range map[string]string{"bin_dir": a.BinDir, "data_dir": a.DataDir, "conf_dir": a.ConfDir, "conf_file": a.ConfFile, "unit_dir": a.UnitDir} {
			if !path.IsAbs(p) {
				return fmt.Errorf("%s: %q is not an absolute path", name, p)
			}
		}
		if why := unsafeWipePath(a.DataDir); why != "" && !strings.HasPrefix(why, "under /etc") {
			return fmt.Errorf("data_dir %s: %s", a.DataDir, why)
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
	if a.Package {
		def(&a.BinDir, "/usr/bin")
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

// defaultStartTimeout is how long systemd lets etcd start: a member that
// joins a cluster with a large database receives the leader's snapshot
// before it tells systemd it is ready.
const defaultStartTimeout = 10 * time.Minute

// defaultUnit is the unit install_etcd writes unless given one.
func defaultUnit(binDir, user, group, confFile string, startTimeout time.Duration) string {
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
TimeoutStartSec=` + fmt.Sprint(int(startTimeout.Seconds())) + `
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`
}

// etcdBinary is a binary to install.
type etcdBinary struct {
	Name string
	// Content is the binary, or "" when it is read from Path as it is
	// uploaded (a directory's: the upload is checked against SHA256 on
	// the host).
	Content []byte
	Path    string
	Size    int64
	SHA256  string
	Arch    string // uname -m of the ELF's machine, "" when unknown
}

// open is the binary's content, to upload.
func (b etcdBinary) open() (io.ReadCloser, error) {
	if b.Path == "" {
		return io.NopCloser(bytes.NewReader(b.Content)), nil
	}
	return os.Open(b.Path)
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
		return nil, engine.BadInput("src: %v", err)
	}
	if !st.IsDir() {
		return nil, engine.BadInput("src %s is not a directory (for a release archive use tarball=)", dir)
	}
	stamp, _ := os.Stat(filepath.Join(dir, "etcd"))
	bins, err := cachedBinaries("dir:"+dir, stamp, func() ([]etcdBinary, error) {
		var bins []etcdBinary
		for _, n := range etcdBinaryNames {
			b, err := dirBinary(n, filepath.Join(dir, n))
			if err != nil {
				if os.IsNotExist(err) && n == "etcdutl" {
					continue
				}
				return nil, engine.BadInput("src: %v", err)
			}
			bins = append(bins, b)
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
					return nil, engine.BadInput("%s: SHA-256 %s, checksums= says %s", filepath.Join(dir, n), b.SHA256, want)
				}
			}
		}
		if !found {
			return nil, engine.BadInput("checksums= names %s, which is not in %s", n, dir)
		}
	}
	return bins, nil
}

func newBinary(name string, b []byte) etcdBinary {
	return etcdBinary{Name: name, Content: b, Size: int64(len(b)), SHA256: sha256Hex(b), Arch: elfArch(b)}
}

// elfArch is the uname -m name of an ELF binary's machine.
func elfArch(b []byte) string {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return ""
	}
	return elfMachine(f.Machine)
}

// elfMachine is the uname -m name of an ELF machine, "" when unknown.
func elfMachine(m elf.Machine) string {
	switch m {
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
	return tarballBinaries(file, want, func(raw []byte) error {
		got := sha256Hex(raw)
		if want == "" {
			var err error
			want, err = sumFromFile(filepath.Join(filepath.Dir(file), "SHA256SUMS"), filepath.Base(file))
			if err != nil {
				return engine.BadInput("tarball %s: give sha256= (the release's checksum), or put the release's SHA256SUMS beside it: %v", file, err)
			}
		}
		if !strings.EqualFold(got, strings.TrimSpace(want)) {
			return engine.BadInput("tarball %s: SHA-256 %s, want %s: the file is damaged or not the release you meant", file, got, want)
		}
		return nil
	})
}

// releaseBinaries takes the binaries out of a release tarball that
// etcd.FetchRelease has just verified against the release's SHA256SUMS:
// hashing its tens of MB again would only repeat that.
func releaseBinaries(r *etcd.Release) ([]etcdBinary, error) {
	return tarballBinaries(r.Path, r.SHA256, nil)
}

// tarballBinaries reads the archive file once per run while its size and
// time stay (cachedBinaries), checks its content with check (nil: none)
// and takes the binaries out. key tells apart the sums it was read for.
func tarballBinaries(file, key string, check func(raw []byte) error) ([]etcdBinary, error) {
	stamp, err := os.Stat(file)
	if err != nil {
		return nil, engine.BadInput("tarball: %v", err)
	}
	return cachedBinaries("tar:"+file+":"+key, stamp, func() ([]etcdBinary, error) {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, engine.BadInput("tarball: %v", err)
		}
		if check != nil {
			if err := check(raw); err != nil {
				return nil, err
			}
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, engine.BadInput("tarball %s: %v", file, err)
		}
		tr := tar.NewReader(zr)
		found := map[string][]byte{}
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, engine.BadInput("tarball %s: %v", file, err)
			}
			base := path.Base(h.Name)
			if h.Typeflag == tar.TypeReg && strings.Count(strings.Trim(h.Name, "/"), "/") <= 1 {
				for _, n := range etcdBinaryNames {
					if base == n {
						b, err := io.ReadAll(io.LimitReader(tr, 512<<20))
						if err != nil {
							return nil, engine.BadInput("tarball %s: %s: %v", file, h.Name, err)
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
				return nil, engine.BadInput("tarball %s has no %s binary", file, n)
			}
			bins = append(bins, newBinary(n, b))
		}
		return bins, nil
	})
}

// sumFromFile finds name's SHA-256 in a sha256sum-format file.
func sumFromFile(sums, name string) (string, error) {
	b, err := os.ReadFile(sums)
	if err != nil {
		return "", err
	}
	m, err := etcd.ParseSums(string(b))
	if err != nil {
		return "", fmt.Errorf("%s: %v", sums, err)
	}
	if sum, ok := m[name]; ok {
		return sum, nil
	}
	return "", fmt.Errorf("%s does not list %s", sums, name)
}

// hostInstallFacts is what install_etcd reads on a host.
type hostInstallFacts struct {
	Arch     string
	Systemd  bool
	UserOK   bool
	GroupOK  bool
	NoLogin  string
	Sums     map[string]string // installed binary -> sha256
	DataDir  fileFacts
	ConfDir  fileFacts
	UnitFile fileFacts
	Version  string // of the installed etcd, "" when none
	// Running: the etcd unit is active or has a process (running,
	// starting again, stopping).
	Running bool
	packageFacts
}

// queries are the facts install_etcd reads, into f: all of them in one
// round trip.
func (f *hostInstallFacts) queries(a *installEtcdArgs, unitFile string) []query {
	f.Sums = map[string]string{}
	unit := unitName(a.Unit)
	binary := func(n string) query {
		return binaryFact(path.Join(a.BinDir, n)).with(func(s fileFacts) {
			if s.regular() {
				f.Sums[n] = s.SHA256
			}
		})
	}
	qs := []query{
		archFact.into(&f.Arch),
		versionFact(path.Join(a.BinDir, "etcd")).into(&f.Version),
		unitFact(unit).with(func(u unitFacts) {
			f.Running = u.active() || u.running()
			if unit == "etcd.service" {
				f.Svc = u
			}
		}).optional(),
		binary("etcd"),
	}
	if a.Verify && !a.Package {
		// All a verification decides on: the architecture, and whether
		// the version of a running member would change. The rest only
		// shapes the actions, which it does not take: 4 facts, not 13.
		return qs
	}
	qs = append(qs,
		systemdFact.with(func(s systemdState) { f.Systemd = s == systemdRuns }),
		userFact(a.User).with(func(u *userIDs) { f.UserOK = u != nil }),
		groupFact(a.Group).into(&f.GroupOK),
		nologinFact.into(&f.NoLogin),
		statFact(a.DataDir, false).into(&f.DataDir),
		statFact(a.ConfDir, false).into(&f.ConfDir),
		statFact(unitFile, true).into(&f.UnitFile),
	)
	for _, n := range etcdBinaryNames {
		if n != "etcd" { // read above
			qs = append(qs, binary(n))
		}
	}
	if a.Package {
		// The package's facts leave Svc to the unit fact, which may have
		// been read already (unit is etcd.service).
		qs = append(qs, packageFact.with(func(p packageFacts) {
			p.Svc = f.Svc
			f.packageFacts = p
		}))
		if unit != "etcd.service" {
			qs = append(qs, unitFact("etcd.service").into(&f.Svc).optional())
		}
	}
	return qs
}

// packageFacts is what install_etcd reads for package=True: the package
// manager and whether the package is installed; the package's own
// etcd.service, "" when there is none, and what would run it: symlinks
// to it in /etc/systemd/system (its enablement), the unit systemd runs as
// etcd.service, and its environment files that set anything (an instance
// someone configured).
type packageFacts struct {
	PkgManager string // apt-get, dnf, yum, ""
	PkgOK      bool
	PkgUnit    string
	PkgLinks   []string
	Svc        unitFacts // etcd.service, whichever file it is
	PkgConf    []string
	// PkgData is the data dir the package's unit gives its default
	// instance, when it exists (the instance ran).
	PkgData string
}

// pkgActive reports whether the package's instance runs: etcd.service is
// active from the package's unit file. Once a unit of the same name in
// /etc/systemd/system takes its place, what runs is that one.
func (f packageFacts) pkgActive() bool {
	return f.PkgUnit != "" && slices.Contains(pkgUnitPaths, f.Svc.Fragment) && f.Svc.running()
}

// pkgUnitPaths are where a package puts etcd.service (/lib is /usr/lib
// on a merged-/usr system; systemd may name either).
var pkgUnitPaths = []string{"/usr/lib/systemd/system/etcd.service", "/lib/systemd/system/etcd.service"}

// packageFact is the etcd package on the host (packageFacts).
var packageFact = Fact[packageFacts]{
	Name: "the etcd package",
	// Each test in an if: a false one must not become the exit status.
	Command: `for m in apt-get dnf yum; do if command -v $m >/dev/null; then echo pkg=$m; break; fi; done
if command -v dpkg-query >/dev/null; then if [ "$(dpkg-query -W -f='${Status}\n' etcd-server etcd-client 2>/dev/null | grep -c 'install ok installed')" = 2 ]; then echo pkgok=yes; fi
elif command -v rpm >/dev/null; then if rpm -q etcd >/dev/null 2>&1; then echo pkgok=yes; fi; fi
pu=; for p in /usr/lib/systemd/system/etcd.service /lib/systemd/system/etcd.service; do if [ -f "$p" ]; then pu=$p; break; fi; done
if [ -n "$pu" ]; then
  echo "pkgunit=$pu"
  find /etc/systemd/system -maxdepth 2 -type l 2>/dev/null | while IFS= read -r l; do
    case "$(readlink "$l")" in /lib/systemd/system/etcd.service|/usr/lib/systemd/system/etcd.service) echo "pkglink=$l";; esac
  done
  sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$pu" | sed 's/%p/etcd/g; s/%N/etcd/g' | while IFS= read -r e; do
    if [ -f "$e" ] && grep -Eq '^[[:space:]]*[^#[:space:]]' "$e"; then echo "pkgconf=$e"; fi
  done
  d=$(sed -n 's/^Environment="\{0,1\}ETCD_DATA_DIR=\([^"]*\)"\{0,1\}$/\1/p' "$pu" | tail -n 1)
  if [ -n "$d" ] && [ -d "$d" ]; then echo "pkgdata=$d"; fi
fi
true`,
	Parse: parsePackageFacts,
}

func parsePackageFacts(out string) (packageFacts, error) {
	var f packageFacts
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "pkg":
			f.PkgManager = v
		case "pkgok":
			f.PkgOK = true
		case "pkgunit":
			f.PkgUnit = v
		case "pkglink":
			f.PkgLinks = append(f.PkgLinks, v)
		case "pkgconf":
			f.PkgConf = append(f.PkgConf, v)
		case "pkgdata":
			f.PkgData = v
		}
	}
	sort.Strings(f.PkgLinks)
	return f, nil
}

// shellStep is a command of a plan, with what it does in words.
type shellStep struct{ Desc, Line string }

// planPackage is what package=True does besides the files every install
// has: install the package if it is not, and keep the package's default
// instance from running. It also returns warnings for the operator.
func planPackage(host string, a *installEtcdArgs, f hostInstallFacts) ([]shellStep, []string, error) {
	q := transport.QuoteWord
	var steps []shellStep
	var warns []string
	if !f.PkgOK {
		switch f.PkgManager {
		case "apt-get":
			// policy-rc.d stops Debian from starting the package's own
			// default single-member instance, whose data dir would
			// otherwise hold another cluster; the package still enables
			// it, which the next step undoes.
			steps = append(steps, shellStep{"install the Debian packages etcd-server and etcd-client (not started)",
				`created=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && created=1; fi; ` +
					`DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server etcd-client; rc=$?; if [ -n "$created" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $rc`},
				shellStep{"disable the package's etcd.service, which installing it enables (its default single-member instance would start at boot)",
					// Only the links to the package's unit: a unit of the
					// same name in /etc/systemd/system may be enabled on
					// purpose, and systemctl disable would take that too.
					`find /etc/systemd/system -maxdepth 2 -type l | while IFS= read -r l; do case "$(readlink "$l")" in /lib/systemd/system/etcd.service|/usr/lib/systemd/system/etcd.service) rm -f -- "$l";; esac; done`})
		case "dnf", "yum":
			steps = append(steps, shellStep{"install the package etcd with " + f.PkgManager, f.PkgManager + " install -y etcd"})
		default:
			return nil, nil, fmt.Errorf("%s has neither apt-get, dnf nor yum for package=True: use src= or tarball=", host)
		}
		return steps, nil, nil
	}
	if (f.pkgActive() || len(f.PkgLinks) > 0) && len(f.PkgConf) > 0 {
		state, how := "enabled", `systemd(host, unit = "etcd", enabled = False)`
		if f.pkgActive() {
			state, how = "running", `systemd(host, unit = "etcd", state = "stopped", enabled = False) (the quorum gate checks the stop)`
		}
		return nil, nil, engine.Refuse("etcd.service on %s is the package's own unit, %s and configured in %s: it may be a member of a cluster, and install_etcd does not stop or disable it. "+
			"Do it with %s, or empty %s if that instance is not needed; then run install_etcd again",
			host, state, strings.Join(f.PkgConf, ", "), how, strings.Join(f.PkgConf, ", "))
	}
	if f.pkgActive() {
		steps = append(steps, shellStep{"stop etcd.service, the package's default instance (a single-member cluster of its own)", "systemctl stop etcd.service"})
	}
	if len(f.PkgLinks) > 0 {
		var qs []string
		for _, l := range f.PkgLinks {
			qs = append(qs, q(l))
		}
		steps = append(steps, shellStep{fmt.Sprintf("disable the package's etcd.service (remove %s), so that its default instance does not start at boot", strings.Join(f.PkgLinks, ", ")),
			"rm -f -- " + strings.Join(qs, " ")})
	}
	if f.PkgData != "" && len(f.PkgConf) == 0 && strings.HasPrefix(f.PkgData, strings.TrimSuffix(a.DataDir, "/")+"/") {
		warns = append(warns, fmt.Sprintf("the package's default instance left the data of its single-member cluster in %s, inside data_dir %s: etcd ignores it there, but wipe_datadir refuses %s while it holds it. "+
			"Remove %s once you do not need it", f.PkgData, a.DataDir, a.DataDir, f.PkgData))
	}
	return steps, warns, nil
}

func planInstallEtcd(ctx context.Context, c *engine.HostCall, a *installEtcdArgs) (engine.Plan, error) {
	a.defaults()
	unit := unitName(a.Unit)
	unitFile := path.Join(a.UnitDir, unit)
	var f hostInstallFacts
	if err := readFacts(ctx, c, f.queries(a, unitFile)...); err != nil {
		return engine.Plan{}, err
	}
	c.Set("arch", f.Arch)
	c.Set("installed", f.Version)
	bins, version, err := binariesFor(ctx, c, a, f.Arch)
	if err != nil {
		return engine.Plan{}, err
	}
	c.Set("version", version)
	var actions []engine.Action
	shell := func(desc, line string) engine.Action {
		return engine.Action{Desc: desc, Do: func(ctx context.Context) error {
			_, err := shellOK(ctx, c, line)
			return err
		}}
	}
	q := transport.QuoteWord
	sums := map[string]any{}
	// The package creates its etcd user; any other is created here.
	needUser := true
	reload := false

	if a.Package {
		steps, warns, err := planPackage(c.Host.Name, a, f)
		if err != nil {
			return engine.Plan{}, err
		}
		for _, w := range warns {
			c.Warn("%s", w)
		}
		for _, st := range steps {
			actions = append(actions, shell(st.Desc, st.Line))
		}
		reload = len(steps) > 0
		if f.PkgOK {
			for _, n := range etcdBinaryNames {
				if s, ok := f.Sums[n]; ok {
					sums[n] = s
				}
			}
			if sums["etcd"] == nil {
				return engine.Plan{}, fmt.Errorf("the etcd package is installed on %s, but %s is not there: give bin_dir= where the package puts etcd", c.Host.Name, path.Join(a.BinDir, "etcd"))
			}
		} else {
			needUser = a.User != "etcd"
		}
	} else {
		if err := archFits(c.Host.Name, bins, f.Arch); err != nil {
			return engine.Plan{}, err
		}
		for _, b := range bins {
			sums[b.Name] = b.SHA256
		}
	}
	if needUser {
		// Guarded: a package installed by an earlier action of this plan
		// may have created them.
		if !f.GroupOK {
			actions = append(actions, shell("create system group "+a.Group, "getent group "+q(a.Group)+" >/dev/null || groupadd --system -- "+q(a.Group)))
		}
		if !f.UserOK {
			actions = append(actions, shell(fmt.Sprintf("create system user %s (home %s, no login)", a.User, a.DataDir),
				fmt.Sprintf("getent passwd %s >/dev/null || useradd --system --gid %s --home-dir %s --no-create-home --shell %s -- %s", q(a.User), q(a.Group), q(a.DataDir), q(f.NoLogin), q(a.User))))
		}
	}
	if !a.Package && f.Sums["etcd"] != "" && f.Sums["etcd"] != binarySum(bins, "etcd") && f.Running && !a.Upgrade {
		switch {
		case f.Version == "" || version == "":
			// Other binaries of unknown version: whether they change the
			// version cannot be shown.
			return engine.Plan{}, engine.Refuse("etcd runs on %s and the etcd to install is another binary, of a version that cannot be told (installed %q, new %q): the version of a running member changes only in an upgrade (%s); nothing was changed",
				c.Host.Name, f.Version, version, c.CommandFor("upgrade", nil))
		case f.Version != version:
			return engine.Plan{}, engine.Refuse("etcd %s runs on %s and the binaries to install are etcd %s: the version of a running member changes only in an upgrade, one member at a time: %s; nothing was changed",
				f.Version, c.Host.Name, version, c.CommandFor("upgrade", nil))
		}
	}
	if a.Verify {
		c.Set("binaries", sums)
		if a.Package {
			return engine.NothingToDo("the distribution's package, installed by the run itself"), nil
		}
		return engine.NothingToDo("etcd %s verified for %s (%s): %s", cmp.Or(version, "of unknown version"), c.Host.Name, f.Arch, binaryNames(bins)), nil
	}
	if !a.Package {
		var pending []etcdBinary
		for _, b := range bins {
			if f.Sums[b.Name] != b.SHA256 {
				pending = append(pending, b)
			}
		}
		uploads := newBinaryUploads(c, a.BinDir, pending)
		for i, b := range pending {
			dst := path.Join(a.BinDir, b.Name)
			verb := "install"
			if f.Sums[b.Name] != "" {
				verb = "update"
			}
			actions = append(actions, engine.Action{
				Desc:   fmt.Sprintf("%s %s (%d MB, sha256 %.12s)", verb, dst, (b.Size+1<<19)>>20, b.SHA256),
				Effect: fmt.Sprintf("install %s (sha256 %.12s)", dst, b.SHA256),
				Diff:   &engine.FileDiff{Path: dst, Omitted: fmt.Sprintf("binary, sha256 %.12s → %.12s", cmp.Or(f.Sums[b.Name], "none"), b.SHA256)},
				Do:     func(ctx context.Context) error { return uploads.install(ctx, i, dst) },
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
			return engine.Plan{}, fmt.Errorf("data_dir %s on %s is a %s, not a directory", a.DataDir, c.Host.Name, f.DataDir.Type)
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

	// The unit, for a package too: the package's own reads another
	// environment file.
	c.Set("unit_file", unitFile)
	content := a.UnitContent
	if content == "" {
		timeout := time.Duration(a.StartTimeout)
		if timeout <= 0 {
			timeout = defaultStartTimeout
		}
		content = defaultUnit(a.BinDir, a.User, a.Group, a.ConfFile, timeout)
	}
	p, err := planWriteFrom(ctx, c, wantFile{Path: unitFile, Content: []byte(content), Mode: engine.FileMode{Mode: 0o644, Set: true}}, f.UnitFile)
	if err != nil {
		return engine.Plan{}, fmt.Errorf("unit file: %w", err)
	}
	if len(p.Actions) > 0 {
		// The unit dir exists on a systemd host; a host being prepared
		// (or a container) may lack it.
		actions = append(actions, shell("create "+a.UnitDir+" if missing", "mkdir -p -- "+q(a.UnitDir)))
		actions = append(actions, p.Actions...)
		reload = true
	}
	if reload && f.Systemd {
		actions = append(actions, shell("daemon-reload", "systemctl daemon-reload"))
	}
	if len(actions) == 0 {
		from := "binaries in " + a.BinDir + " up to date"
		if a.Package {
			from = "the package's binaries in " + a.BinDir + ", its default instance not running or enabled"
		}
		return engine.NothingToDo("etcd installed: %s, user %s, %s and %s in place", from, a.User, a.DataDir, a.ConfDir), nil
	}
	return engine.Do(actions...), nil
}

// binarySum is the SHA-256 of the binary called name, "" when bins lacks it.
func binarySum(bins []etcdBinary, name string) string {
	for _, b := range bins {
		if b.Name == name {
			return b.SHA256
		}
	}
	return ""
}

// binaryNames lists the binaries with their SHA-256, for messages.
func binaryNames(bins []etcdBinary) string {
	var parts []string
	for _, b := range bins {
		parts = append(parts, fmt.Sprintf("%s sha256 %.12s", b.Name, b.SHA256))
	}
	return strings.Join(parts, ", ")
}

// archFits says whether binaries bins run on a host of architecture arch
// (uname -m), an error naming the first that does not.
func archFits(host string, bins []etcdBinary, arch string) error {
	for _, b := range bins {
		if b.Arch != "" && arch != "" && b.Arch != arch && !(b.Arch == "armv7l" && strings.HasPrefix(arch, "arm")) {
			return fmt.Errorf("%s is built for %s, and %s is %s: use the release for %s", b.Name, b.Arch, host, arch, arch)
		}
	}
	return nil
}

// binariesFor reads the binaries install_etcd puts on a host of
// architecture arch (uname -m) from the source its arguments give, with
// their etcd version ("" when it cannot be told). A package has none.
func binariesFor(ctx context.Context, c *engine.HostCall, a *installEtcdArgs, arch string) ([]etcdBinary, string, error) {
	switch {
	case a.Src != "":
		sums := map[string]string{}
		if a.Checksums != nil {
			for _, kv := range a.Checksums.Items() {
				k, ok1 := starlark.AsString(kv[0])
				v, ok2 := starlark.AsString(kv[1])
				if !ok1 || !ok2 {
					return nil, "", engine.BadInput("checksums: want a dict of binary name to SHA-256 string")
				}
				sums[k] = v
			}
		}
		dir := c.LocalPath(a.Src)
		bins, err := binariesFromDir(dir, sums)
		if err != nil {
			return nil, "", err
		}
		v, _ := etcd.BinaryVersion(filepath.Join(dir, "etcd"))
		return bins, v, nil
	case a.Tarball != "":
		bins, err := binariesFromTarball(c.LocalPath(a.Tarball), a.SHA256)
		if err != nil {
			return nil, "", err
		}
		// A release archive is named etcd-vX.Y.Z-linux-ARCH.tar.gz.
		v := ""
		if rest, ok := strings.CutPrefix(path.Base(a.Tarball), "etcd-"); ok {
			if pv, ok := etcd.ParseVersion(rest); ok {
				v = pv.String()
			}
		}
		return bins, v, nil
	case a.Release != "":
		rarch, ok := etcd.ReleaseArch(arch)
		if !ok {
			return nil, "", engine.Refuse("%s is %s, for which etcd publishes no Linux release (amd64, arm64, ppc64le, s390x): install binaries built for it with etcd_src; nothing was installed", c.Host.Name, arch)
		}
		r, err := etcd.FetchRelease(ctx, a.ReleaseURL, a.Release, rarch, c.Progress)
		if err != nil {
			return nil, "", err
		}
		bins, err := releaseBinaries(r)
		if err != nil {
			return nil, "", err
		}
		v, _ := etcd.ParseVersion(r.Version)
		return bins, v.String(), nil
	}
	return nil, "", nil
}
