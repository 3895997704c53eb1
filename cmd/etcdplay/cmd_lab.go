package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/lab"
)

func labCommand() *cli.Command {
	dir := func() cli.Flag {
		return &cli.StringFlag{Name: "dir", Value: lab.DefaultDir, EnvVars: []string{lab.EnvDir}, Usage: "the lab's state, keys, inventory and host disks are in `DIR`"}
	}
	packages := func() cli.Flag {
		return &cli.StringSliceFlag{Name: "packages", Usage: "extra Debian `PACKAGES` in the base image, comma-separated (e.g. etcd-server,etcd-client)"}
	}
	hostArgs := func(verb string) *cli.Command {
		return &cli.Command{Name: verb, ArgsUsage: "HOST...", Flags: []cli.Flag{dir()}}
	}
	stop, start, kill := hostArgs("stop"), hostArgs("start"), hostArgs("kill")
	stop.Usage, stop.Action = "power lab hosts off cleanly, keeping their disks", labHostsAction(func(c *cli.Context, l *lab.Lab, names []string) error {
		return l.Stop(c.Context, names...)
	})
	start.Usage, start.Action = "boot stopped or killed lab hosts and wait until they are up", labHostsAction(func(c *cli.Context, l *lab.Lab, names []string) error {
		return l.Start(c.Context, names...)
	})
	start.Flags = append(start.Flags, bootTimeoutFlag())
	kill.Usage, kill.Action = "end lab hosts abruptly, as a power cut would (for dead-member tests)", labHostsAction(func(c *cli.Context, l *lab.Lab, names []string) error {
		return l.Kill(names...)
	})

	return &cli.Command{
		Name:  "lab",
		Usage: "local test hosts (systemd, sshd) to rehearse playbooks on",
		Description: "The lab boots Debian hosts on this Linux machine with systemd-nspawn, each with\n" +
			"its own address on a private bridge, systemd, sshd and its own disk over a shared\n" +
			"base image, and writes an inventory and known_hosts for them. It needs root.\n\n" +
			"   inv=$(etcdplay lab up | tail -1)\n" +
			"   etcdplay run bootstrap -i \"$inv\"\n" +
			"   etcdplay lab kill etcd-2; etcdplay lab start etcd-2\n" +
			"   etcdplay lab destroy",
		Subcommands: []*cli.Command{
			{
				Name:      "image",
				Usage:     "build the base image (debootstrap, about a minute) unless it is cached",
				ArgsUsage: " ",
				Flags: []cli.Flag{dir(), packages(),
					&cli.BoolFlag{DisableDefaultText: true, Name: "rebuild", Usage: "build it again even if cached"},
					&cli.StringFlag{Name: "image-dir", EnvVars: []string{lab.EnvImageDir}, Usage: "cache images in `DIR` (default DIR/image of --dir)"},
				},
				Action: labImage,
			},
			{
				Name:      "up",
				Usage:     "create the lab, or resume it, and wait until every host is up; prints the inventory path last",
				ArgsUsage: " ",
				Flags: []cli.Flag{dir(), packages(),
					&cli.IntFlag{Name: "hosts", DefaultText: fmt.Sprintf("%d, or the lab's hosts", lab.DefaultHosts), Usage: "`N` hosts, etcd-1..etcd-N; the first 3 are group etcd, the others spare"},
					&cli.StringFlag{Name: "subnet", Usage: "private IPv4 `NETWORK` of a new lab; the bridge is .1, host i .(10+i) (default " + lab.DefaultSubnet + ")"},
					&cli.StringFlag{Name: "name", EnvVars: []string{"ETCDPLAY_LAB_NAME"}, Usage: "`NAME` prefix of a new lab's namespaces and cgroups; two labs on one machine need two (default " + lab.DefaultName + ")"},
					&cli.StringFlag{Name: "bridge", Usage: "bridge `INTERFACE` of a new lab (default NAME0)"},
					&cli.StringFlag{Name: "image-dir", EnvVars: []string{lab.EnvImageDir}, Usage: "cache images in `DIR` (default DIR/image of --dir)"},
					&cli.StringFlag{Name: "etcd-src", EnvVars: []string{"ETCDPLAY_ETCD_DIR"}, Usage: "`DIR` with etcd and etcdctl binaries (make etcd builds them); the inventory offers it to playbooks as etcd_src"},
					bootTimeoutFlag(),
				},
				Action: labUp,
			},
			{
				Name:      "status",
				Usage:     "show each host: state, address, PID, uptime, memory",
				ArgsUsage: " ",
				Flags:     []cli.Flag{dir()},
				Action:    labStatus,
			},
			{
				Name:      "ssh",
				Usage:     "log in to a lab host as root, or run a command there",
				ArgsUsage: "HOST [-- COMMAND...]",
				Flags:     []cli.Flag{dir()},
				Action:    labSSH,
			},
			stop, start, kill,
			{
				Name:      "down",
				Usage:     "power every host off, keeping the lab; up resumes it",
				ArgsUsage: " ",
				Flags:     []cli.Flag{dir()},
				Action: labAction(func(c *cli.Context, l *lab.Lab) error {
					return l.Down(c.Context)
				}),
			},
			{
				Name:      "destroy",
				Usage:     "remove the lab: hosts, disks, network, keys, inventory (the image cache stays unless --image)",
				ArgsUsage: " ",
				Flags: []cli.Flag{dir(),
					&cli.BoolFlag{DisableDefaultText: true, Name: "image", Usage: "also empty the base image cache"},
					&cli.StringFlag{Name: "image-dir", EnvVars: []string{lab.EnvImageDir}, Usage: "the image cache `DIR` (default DIR/image of --dir)"},
				},
				Action: labAction(func(c *cli.Context, l *lab.Lab) error {
					return l.Destroy(c.Context, c.Bool("image"))
				}),
			},
		},
	}
}

func bootTimeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "wait at most `DURATION` for hosts to be up"}
}

// openLab opens the lab the flags name; the lab's errors about what was
// asked become bad input (exit 4).
func openLab(c *cli.Context) (*lab.Lab, error) {
	cfg := lab.Config{
		Dir:      c.String("dir"),
		ImageDir: c.String("image-dir"),
		Name:     c.String("name"),
		Bridge:   c.String("bridge"),
		Packages: c.StringSlice("packages"),
		Log:      c.App.ErrWriter,
	}
	if src := c.String("etcd-src"); src != "" {
		abs, err := filepath.Abs(src)
		if err != nil {
			return nil, badInput("--etcd-src: %v", err)
		}
		if _, err := os.Stat(filepath.Join(abs, "etcd")); err != nil {
			return nil, badInput("--etcd-src %s: no etcd binary there (make etcd builds one into .cache/etcd/VERSION)", src)
		}
		cfg.EtcdSrc = abs
	}
	if c.IsSet("timeout") {
		cfg.BootTimeout = c.Duration("timeout")
	}
	if s := c.String("subnet"); s != "" {
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

func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return badInput("lab %s takes no arguments (got %q)", c.Command.Name, c.Args().First())
	}
	return nil
}

func labAction(f func(*cli.Context, *lab.Lab) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := noArgs(c); err != nil {
			return err
		}
		l, err := openLab(c)
		if err != nil {
			return err
		}
		return labErr(f(c, l))
	}
}

func labHostsAction(f func(*cli.Context, *lab.Lab, []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() == 0 {
			return badInput("lab %s: name the hosts (e.g. etcd-2)", c.Command.Name)
		}
		l, err := openLab(c)
		if err != nil {
			return err
		}
		return labErr(f(c, l, c.Args().Slice()))
	}
}

func labImage(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	l, err := openLab(c)
	if err != nil {
		return err
	}
	im, err := l.BuildImage(c.Context, c.Bool("rebuild"))
	if err != nil {
		return labErr(err)
	}
	fmt.Fprintf(c.App.ErrWriter, "image: %s (built %s in %s; extra packages: %s)\n",
		im.Dir, im.Built.Local().Format(time.DateTime), im.BuildFor, orNone(strings.Join(im.Packages, ",")))
	fmt.Fprintln(c.App.Writer, im.Rootfs())
	return nil
}

func labUp(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if c.IsSet("hosts") && c.Int("hosts") < 1 {
		return badInput("--hosts %d: expected at least 1", c.Int("hosts"))
	}
	l, err := openLab(c)
	if err != nil {
		return err
	}
	begin := time.Now()
	if err := l.Up(c.Context, c.Int("hosts")); err != nil {
		return labErr(err)
	}
	fmt.Fprintf(c.App.ErrWriter, "lab up: %d hosts in %s; ssh: etcdplay lab ssh etcd-1\n", len(l.Hosts()), time.Since(begin).Round(10*time.Millisecond))
	fmt.Fprintf(c.App.Writer, "known_hosts: %s\n%s\n", l.KnownHostsPath(), l.InventoryPath())
	return nil
}

func labStatus(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	l, err := openLab(c)
	if err != nil {
		return err
	}
	s, err := l.Status()
	if err != nil {
		return labErr(err)
	}
	w := c.App.Writer
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

func labSSH(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) == 0 {
		return badInput("lab ssh: name the host (e.g. etcd-1), then optionally -- COMMAND")
	}
	host, rest := args[0], args[1:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	l, err := openLab(c)
	if err != nil {
		return err
	}
	cmd, err := l.SSHCommand(host, rest...)
	if err != nil {
		return labErr(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, writerOf(c.App.Writer, os.Stdout), writerOf(c.App.ErrWriter, os.Stderr)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() >= 0 {
		return &sshExit{code: exit.ExitCode()}
	}
	return err
}

func writerOf(w io.Writer, def io.Writer) io.Writer {
	if w == nil {
		return def
	}
	return w
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
