package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/lab"
)

// labOptions are the flags of the lab subcommands; each subcommand has
// its own, binding the flags it takes.
type labOptions struct {
	Dir      string
	ImageDir string
	Packages cli.StringSlice
	Hosts    int // 0: the lab's hosts, or lab.DefaultHosts for a new lab
	Subnet   string
	Name     string
	Bridge   string
	EtcdSrc  string
	Timeout  time.Duration // 0: the lab's default
	Rebuild  bool
	Image    bool
}

func (o *labOptions) dirFlag() cli.Flag {
	return &cli.StringFlag{Name: "dir", Value: lab.DefaultDir, EnvVars: []string{lab.EnvDir}, Destination: &o.Dir, Usage: "the lab's state, keys, inventory and host disks are in `DIR`"}
}

func (o *labOptions) packagesFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "packages", Destination: &o.Packages, Usage: "extra Debian `PACKAGES` in the base image, comma-separated (e.g. etcd-server,etcd-client)"}
}

func (o *labOptions) imageDirFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "image-dir", EnvVars: []string{lab.EnvImageDir}, Destination: &o.ImageDir, Usage: usage}
}

func (o *labOptions) timeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Destination: &o.Timeout, Usage: "wait at most `DURATION` for hosts to be up"}
}

// labSub is a lab subcommand: its flags, bound to its own labOptions, and
// what it does with them, its arguments and the lab they open.
type labSub struct {
	name, usage, args string
	// hosts, when set, says the subcommand takes host names and what to
	// say when none is given; without it, it takes no arguments.
	hosts string
	flags func(o *labOptions) []cli.Flag
	run   func(ctx context.Context, ci invocation, o labOptions, l *lab.Lab, args []string) error
}

func (s labSub) command() *cli.Command {
	var o labOptions
	return &cli.Command{
		Name: s.name, Usage: s.usage, ArgsUsage: s.args, Flags: s.flags(&o),
		Action: func(c *cli.Context) error {
			ci, args := invocationOf(c), c.Args().Slice()
			switch {
			case s.hosts != "" && len(args) == 0:
				return badInput("lab %s: %s", s.name, s.hosts)
			case s.hosts == "" && len(args) > 0:
				return badInput("lab %s takes no arguments (got %q)", s.name, args[0])
			}
			l, err := openLab(ci, o)
			if err != nil {
				return err
			}
			return labErr(s.run(c.Context, ci, o, l, args))
		},
	}
}

func labCommand() *cli.Command {
	dirOnly := func(o *labOptions) []cli.Flag { return []cli.Flag{o.dirFlag()} }
	const nameHosts = "name the hosts (e.g. etcd-2)"
	subs := []labSub{
		{name: "image", usage: "build the base image (debootstrap, about a minute) unless it is cached", args: " ",
			flags: func(o *labOptions) []cli.Flag {
				return []cli.Flag{o.dirFlag(), o.packagesFlag(),
					&cli.BoolFlag{DisableDefaultText: true, Name: "rebuild", Destination: &o.Rebuild, Usage: "build it again even if cached"},
					o.imageDirFlag("cache images in `DIR` (default DIR/image of --dir)"),
				}
			},
			run: labImage},
		{name: "up", usage: "create the lab, or resume it, and wait until every host is up; prints the inventory path last", args: " ",
			flags: func(o *labOptions) []cli.Flag {
				return []cli.Flag{o.dirFlag(), o.packagesFlag(),
					&cli.IntFlag{Name: "hosts", Destination: &o.Hosts, Action: atLeastOneHost, DefaultText: fmt.Sprintf("%d, or the lab's hosts", lab.DefaultHosts), Usage: "`N` hosts, etcd-1..etcd-N; the first 3 are group etcd, the others spare"},
					&cli.StringFlag{Name: "subnet", EnvVars: []string{"ETCDPLAY_LAB_SUBNET"}, Destination: &o.Subnet, Usage: "private IPv4 `NETWORK` of a new lab; the bridge is .1, host i .(10+i) (default " + lab.DefaultSubnet + ")"},
					&cli.StringFlag{Name: "name", EnvVars: []string{"ETCDPLAY_LAB_NAME"}, Destination: &o.Name, Usage: "`NAME` prefix of a new lab's namespaces and cgroups; two labs on one machine need two (default " + lab.DefaultName + ")"},
					&cli.StringFlag{Name: "bridge", EnvVars: []string{"ETCDPLAY_LAB_BRIDGE"}, Destination: &o.Bridge, Usage: "bridge `INTERFACE` of a new lab (default NAME0)"},
					o.imageDirFlag("cache images in `DIR` (default DIR/image of --dir)"),
					&cli.StringFlag{Name: "etcd-src", EnvVars: []string{"ETCDPLAY_ETCD_DIR"}, Destination: &o.EtcdSrc, Usage: "`DIR` with etcd and etcdctl binaries (make etcd builds them); the inventory offers it to playbooks as etcd_src. Without it, a lab that offers none yet offers the project's make etcd build (.cache/etcd/VERSION), else the newest release in this machine's release cache (as etcd_version)"},
					o.timeoutFlag(),
				}
			},
			run: labUp},
		{name: "status", usage: "show each host: state, address, PID, uptime, memory", args: " ", flags: dirOnly, run: labStatus},
		{name: "ssh", usage: "log in to a lab host as root, or run a command there", args: "HOST [-- COMMAND...]", flags: dirOnly, run: labSSH,
			hosts: "name the host (e.g. etcd-1), then optionally -- COMMAND"},
		{name: "stop", usage: "power lab hosts off cleanly, keeping their disks", args: "HOST...", flags: dirOnly, hosts: nameHosts,
			run: func(ctx context.Context, _ invocation, _ labOptions, l *lab.Lab, names []string) error {
				return l.Stop(ctx, names...)
			}},
		{name: "start", usage: "boot stopped or killed lab hosts and wait until they are up", args: "HOST...", hosts: nameHosts,
			flags: func(o *labOptions) []cli.Flag { return []cli.Flag{o.dirFlag(), o.timeoutFlag()} },
			run: func(ctx context.Context, _ invocation, _ labOptions, l *lab.Lab, names []string) error {
				return l.Start(ctx, names...)
			}},
		{name: "kill", usage: "end lab hosts abruptly, as a power cut would (for dead-member tests)", args: "HOST...", flags: dirOnly, hosts: nameHosts,
			run: func(_ context.Context, _ invocation, _ labOptions, l *lab.Lab, names []string) error {
				return l.Kill(names...)
			}},
		{name: "down", usage: "power every host off, keeping the lab; up resumes it", args: " ", flags: dirOnly,
			run: func(ctx context.Context, _ invocation, _ labOptions, l *lab.Lab, _ []string) error {
				return l.Down(ctx)
			}},
		{name: "destroy", usage: "remove the lab: hosts, disks, network, keys, inventory (the image cache stays unless --image)", args: " ",
			flags: func(o *labOptions) []cli.Flag {
				return []cli.Flag{o.dirFlag(),
					&cli.BoolFlag{DisableDefaultText: true, Name: "image", Destination: &o.Image, Usage: "also empty the base image cache"},
					o.imageDirFlag("the image cache `DIR` (default DIR/image of --dir)"),
				}
			},
			run: func(ctx context.Context, _ invocation, o labOptions, l *lab.Lab, _ []string) error {
				return l.Destroy(ctx, o.Image)
			}},
	}
	cmd := &cli.Command{
		Name:  "lab",
		Usage: "local test hosts (systemd, sshd) to rehearse playbooks on",
		Description: "The lab boots Debian hosts on this Linux machine with systemd-nspawn, each with\n" +
			"its own address on a private bridge, systemd, sshd and its own disk over a shared\n" +
			"base image, and writes an inventory and known_hosts for them. It needs root.\n\n" +
			"   inv=$(etcdplay lab up | tail -1)\n" +
			"   etcdplay run bootstrap -i \"$inv\"\n" +
			"   etcdplay lab kill etcd-2; etcdplay lab start etcd-2\n" +
			"   etcdplay lab destroy",
	}
	for _, s := range subs {
		cmd.Subcommands = append(cmd.Subcommands, s.command())
	}
	return cmd
}

func atLeastOneHost(_ *cli.Context, n int) error {
	if n < 1 {
		return badInput("--hosts %d: expected at least 1", n)
	}
	return nil
}

// openLab opens the lab the options name; the lab's errors about what was
// asked become bad input (exit 4).
func openLab(ci invocation, o labOptions) (*lab.Lab, error) {
	cfg := lab.Config{
		Dir:         o.Dir,
		ImageDir:    o.ImageDir,
		Name:        o.Name,
		Bridge:      o.Bridge,
		Packages:    o.Packages.Value(),
		BootTimeout: o.Timeout,
		Log:         ci.stderr,
	}
	if src := o.EtcdSrc; src != "" {
		abs, err := filepath.Abs(src)
		if err != nil {
			return nil, badInput("--etcd-src: %v", err)
		}
		if _, err := os.Stat(filepath.Join(abs, "etcd")); err != nil {
			return nil, badInput("--etcd-src %s: no etcd binary there (make etcd builds one into .cache/etcd/VERSION)", src)
		}
		cfg.EtcdSrc = abs
	}
	if s := o.Subnet; s != "" {
		p, err := lab.ParseSubnet(s)
		if err != nil {
			return nil, labErr(err)
		}
		cfg.Subnet = p
	}
	l, err := lab.Open(cfg)
	return l, labErr(err)
}

func labErr(err error) error {
	var ce *lab.ConfigError
	if errors.As(err, &ce) {
		return badInput("lab: %v", err)
	}
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

func labImage(ctx context.Context, ci invocation, o labOptions, l *lab.Lab, _ []string) error {
	im, err := l.BuildImage(ctx, o.Rebuild)
	if err != nil {
		return err
	}
	fmt.Fprintf(ci.stderr, "image: %s (built %s in %s; extra packages: %s)\n",
		im.Dir, im.Built.Local().Format(time.DateTime), im.BuildFor, orNone(strings.Join(im.Packages, ",")))
	fmt.Fprintln(ci.stdout, im.Rootfs())
	return nil
}

func labUp(ctx context.Context, ci invocation, o labOptions, l *lab.Lab, _ []string) error {
	begin := time.Now()
	if o.EtcdSrc == "" && l.OffersEtcd() == "" {
		src, version := etcdToOffer()
		l.OfferEtcd(src, version)
	}
	if err := l.Up(ctx, o.Hosts); err != nil {
		return err
	}
	fmt.Fprintf(ci.stderr, "lab up: %d hosts in %s; ssh: etcdplay lab ssh etcd-1\n", len(l.Hosts()), time.Since(begin).Round(10*time.Millisecond))
	if offer := l.OffersEtcd(); offer != "" {
		fmt.Fprintf(ci.stderr, "the inventory gives playbooks the etcd to install: %s\n", offer)
	} else {
		fmt.Fprintf(ci.stderr, "no etcd to offer playbooks (no make etcd build, no release in %s): give them -e etcd_version=VERSION, fetched from etcd's releases, or build one with make etcd\n", releaseCacheName())
	}
	fmt.Fprintf(ci.stdout, "known_hosts: %s\n%s\n", l.KnownHostsPath(), l.InventoryPath())
	return nil
}

func labStatus(_ context.Context, ci invocation, _ labOptions, l *lab.Lab, _ []string) error {
	s, err := l.Status()
	if err != nil {
		return err
	}
	w := ci.stdout
	if s == nil {
		fmt.Fprintf(w, "no lab in %s (etcdplay lab up creates one)\n", l.Dir())
		return nil
	}
	fmt.Fprintf(w, "lab %s: subnet %s, bridge %s, image %s\n", s.Dir, s.Subnet, s.Bridge, s.Image)
	fmt.Fprintf(w, "inventory %s\n\n", l.InventoryPath())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tSTATE\tPID\tUPTIME\tMEMORY")
	for _, h := range s.Hosts {
		pid, up, mem := "-", "-", "-"
		if h.PID > 0 {
			pid = fmt.Sprint(h.PID)
			up = time.Since(h.Since).Round(time.Second).String()
			mem = fmt.Sprintf("%.1f MiB", float64(h.Memory)/(1<<20))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Addr, h.State, pid, up, mem)
	}
	return tw.Flush()
}

// sshExit carries ssh's exit status as etcdplay's (exitCode passes it
// through); ssh has said why.
type sshExit struct{ code int }

func (e *sshExit) Error() string { return fmt.Sprintf("ssh exited with %d", e.code) }
func (e *sshExit) Unwrap() error { return errQuiet }

// labSSH runs ssh(1) to the host args[0], with the command after "--"
// if there is one, on this process's terminal.
func labSSH(_ context.Context, ci invocation, _ labOptions, l *lab.Lab, args []string) error {
	host, rest := args[0], args[1:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	cmd, err := l.SSHCommand(host, rest...)
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, ci.stdout, ci.stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() >= 0 {
		return &sshExit{code: exit.ExitCode()}
	}
	return err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// etcdToOffer is the etcd a new lab's inventory offers playbooks when
// none is given: the project's make etcd build (.cache/etcd/VERSION, in
// the working directory or beside the bin/ of this etcdplay), the newest
// version first; else the newest release in the control machine's
// release cache for its architecture, which installs with no network.
func etcdToOffer() (src, version string) {
	var roots []string
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, wd)
	}
	if exe, err := os.Executable(); err == nil {
		roots = append(roots, filepath.Dir(filepath.Dir(exe)))
	}
	var best etcd.Version
	for _, root := range roots {
		found, _ := filepath.Glob(filepath.Join(root, ".cache", "etcd", "*", "etcd"))
		for _, bin := range found {
			dir := filepath.Dir(bin)
			v, ok := etcd.ParseVersion(filepath.Base(dir))
			if _, err := os.Stat(filepath.Join(dir, "etcdctl")); !ok || err != nil {
				continue
			}
			if src == "" || v.Compare(best) > 0 {
				src, best = dir, v
			}
		}
	}
	if src != "" {
		return src, ""
	}
	if arch, ok := etcd.ReleaseArch(runtime.GOARCH); ok {
		if vs := etcd.CachedReleases(arch); len(vs) > 0 {
			return "", vs[0]
		}
	}
	return "", ""
}

// releaseCacheName is the control machine's release cache, for messages.
func releaseCacheName() string {
	if d, err := etcd.ReleaseCacheDir(); err == nil {
		return d
	}
	return "the release cache"
}
