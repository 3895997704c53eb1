package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/etcdplay/etcdplay/inventory"
)

var sprintf = fmt.Sprintf

// invocation is what a command's run function gets besides its options
// and arguments: where to write, and the command line as typed, from
// which rerun.go builds the commands a run prints as remedies.
type invocation struct {
	stdout, stderr io.Writer
	command        *cli.Command
	argv           []string // as reorderArgs left it: flags first
}

// argvKey is where run keeps the command line for invocationOf.
const argvKey = "argv"

func invocationOf(c *cli.Context) invocation {
	argv, _ := c.App.Metadata[argvKey].([]string)
	return invocation{stdout: c.App.Writer, stderr: c.App.ErrWriter, command: c.Command, argv: argv}
}

// Each command binds its flags to the fields of an options struct (the
// flags' Destination) and its action is a function of that struct and the
// positional arguments, as restic's runX(ctx, opts, gopts, args): no
// action reads a flag by its name. The groups below are shared by the
// commands that read an inventory or reach hosts; their flags are declared
// on each such command (not on the app) so they may follow the command
// name, as in "etcdplay exec -i inv.ini etcd -- uptime".

// inventoryOptions say which inventory and which of its hosts.
type inventoryOptions struct {
	Inventory         []string
	VaultPasswordFile string
	Limit             string // "" is every host: an empty --limit is refused
}

func (o *inventoryOptions) flags() []cli.Flag {
	return []cli.Flag{
		inventoryFlag(&o.Inventory, "inventory `FILE` (Ansible INI or YAML); repeat to merge several"),
		vaultFlag(&o.VaultPasswordFile),
		&cli.StringFlag{Name: "limit", Aliases: []string{"l"}, Destination: &o.Limit, Action: checkLimit, Usage: "further limit the hosts to `PATTERN` (e.g. 'etcd:!etcd-3')"},
	}
}

// checkLimit refuses a --limit that names no host at all. Ansible runs on
// every host then (ansible#83264, #85278): a --limit "$HOSTS" whose
// variable came out empty must not.
func checkLimit(_ *cli.Context, l string) error {
	if strings.Trim(l, " \t,:") == "" {
		return badInput("--limit %q: expected a host pattern; leave --limit out to work on every host", l)
	}
	return nil
}

// connectionOptions say how to reach hosts (see newPool).
type connectionOptions struct {
	Forks             int
	User              string
	PrivateKey        string
	Timeout           time.Duration
	Become            bool
	BecomeUser        string
	AskBecomePass     bool
	AcceptNewHostKeys bool
	KnownHosts        string
	SSHConfig         string
}

func (o *connectionOptions) flags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "forks", Aliases: []string{"f"}, Value: 20, Destination: &o.Forks, Usage: "at most `N` hosts worked on at once"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Destination: &o.User, Usage: "connect as `USER` (default: inventory, ~/.ssh/config, then the local user)"},
		&cli.StringFlag{Name: "private-key", Destination: &o.PrivateKey, Usage: "authenticate with the key in `FILE` (default: ssh-agent and ~/.ssh/id_*)"},
		&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Destination: &o.Timeout, Usage: "SSH connect `TIMEOUT` per host"},
		&cli.BoolFlag{DisableDefaultText: true, Name: "become", Aliases: []string{"b"}, Destination: &o.Become, Usage: "run commands with sudo"},
		&cli.StringFlag{Name: "become-user", Destination: &o.BecomeUser, Usage: "sudo to `USER` (default root)"},
		&cli.BoolFlag{DisableDefaultText: true, Name: "ask-become-pass", Aliases: []string{"K"}, Destination: &o.AskBecomePass, Usage: "ask for the sudo password"},
		&cli.BoolFlag{DisableDefaultText: true, Name: "accept-new-host-keys", Destination: &o.AcceptNewHostKeys, Usage: "accept and record keys of hosts not yet in known_hosts (changed keys are still refused)"},
		&cli.StringFlag{Name: "known-hosts", Destination: &o.KnownHosts, Usage: "known_hosts `FILE` (default: ~/.ssh/known_hosts or UserKnownHostsFile of ~/.ssh/config)"},
		&cli.StringFlag{Name: "ssh-config", Destination: &o.SSHConfig, Usage: "ssh client config `FILE` (default ~/.ssh/config; 'none' to ignore it)"},
	}
}

// outputOptions say how results are shown.
type outputOptions struct {
	Output  string
	Verbose int
}

func (o *outputOptions) flags() []cli.Flag {
	return []cli.Flag{
		outputFlag(&o.Output, "output `FORMAT`: text or json (one object per line)"),
		&cli.BoolFlag{DisableDefaultText: true, Name: "verbose", Aliases: []string{"v"}, Count: &o.Verbose, Usage: "more detail: timings, backtraces (repeat for more)"},
	}
}

// outputFlag is -o; check has its own usage.
func outputFlag(dest *string, usage string) cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Destination: dest, Action: checkOutput, Usage: usage}
}

func checkOutput(_ *cli.Context, o string) error {
	if o != "text" && o != "json" {
		return badInput("--output %q: expected text or json", o)
	}
	return nil
}

// verbosity is how many times -v was given. urfave/cli starts the count
// of a flag with aliases below zero and brings it up as every name of
// the flag is set, so a -v never given can read as -1.
func (o outputOptions) verbosity() int { return max(o.Verbose, 0) }

// vaultFlag is the password for what the inventory encrypts with
// Ansible Vault, named as ansible-playbook names it.
func vaultFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "vault-password-file", Aliases: []string{"vault-pass-file"}, Destination: dest, Usage: "decrypt Ansible Vault values and files of the inventory with the password in `FILE`", EnvVars: []string{"ANSIBLE_VAULT_PASSWORD_FILE"}}
}

// openInventory reads the inventory files paths with the vault password
// in the file vaultFile, if one is named.
func openInventory(paths []string, vaultFile string) (*inventory.Inventory, error) {
	var opts inventory.Options
	if vaultFile != "" {
		pw, err := inventory.ReadVaultPasswordFile(vaultFile)
		if err != nil {
			return nil, badInput("--vault-password-file %s: %v", vaultFile, err)
		}
		opts.VaultPassword = pw
	}
	return opts.Load(paths...)
}

// inventoryFlag is -i, shared by the commands that read an inventory.
func inventoryFlag(dest *[]string, usage string) cli.Flag {
	return listFlag(dest, "inventory", "i", usage, "ETCDPLAY_INVENTORY")
}

// listFlag is a repeatable flag whose every value is taken whole, commas
// and all, appended to dest. urfave/cli's StringSliceFlag splits each
// value at commas, which turns -i 'inventories/a,b/hosts' into two paths
// and -e peer_urls=http://a:2380,http://b:2380 into a key=value and a
// stray "http://b:2380"; Ansible takes both whole. (cli.App's
// DisableSliceFlagSeparator would do it for every flag, but lab
// --packages is documented as comma-separated.) An environment variable,
// if given, is one value too.
func listFlag(dest *[]string, name, alias, usage string, env ...string) cli.Flag {
	f := &cli.GenericFlag{Name: name, Usage: usage, Value: (*wholeValues)(dest), EnvVars: env}
	if alias != "" {
		f.Aliases = []string{alias}
	}
	return f
}

// wholeValues collects the values of a listFlag, in order.
type wholeValues []string

// wholeValuesCopy starts what Serialize returns. urfave/cli copies a
// flag's value between its names (-e and --extra-vars) by giving Set what
// Serialize made, which must then replace the values rather than add one;
// no command-line argument can hold the NUL it starts with.
const wholeValuesCopy = "\x00values:"

func (w *wholeValues) Set(s string) error {
	if list, ok := strings.CutPrefix(s, wholeValuesCopy); ok {
		return json.Unmarshal([]byte(list), w)
	}
	*w = append(*w, s)
	return nil
}

func (w *wholeValues) String() string { return strings.Join(*w, " ") }

// Serialize implements cli.Serializer.
func (w *wholeValues) Serialize() string {
	b, _ := json.Marshal([]string(*w))
	return wholeValuesCopy + string(b)
}

// flags joins groups of flags into one command's list.
func flags(groups ...[]cli.Flag) []cli.Flag {
	var all []cli.Flag
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

// load reads the inventories named with -i and applies --limit.
func (o inventoryOptions) load() (*inventory.Inventory, error) {
	var paths []string
	for _, p := range o.Inventory {
		if p != "" { // an empty $ETCDPLAY_INVENTORY is no inventory
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil, badInput("no inventory: give one with -i FILE (Ansible INI or YAML)")
	}
	inv, err := openInventory(paths, o.VaultPasswordFile)
	if err != nil {
		return nil, err
	}
	if o.Limit != "" {
		if err := inv.SetLimit(o.Limit); err != nil {
			return nil, badInput("--limit %q: %v", o.Limit, err)
		}
	}
	return inv, nil
}

// isTerminal reports whether f is a terminal, deciding colour and progress.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// useColor follows https://no-color.org: colour only on a terminal, never
// when NO_COLOR is set to anything.
func useColor(f *os.File) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	return isTerminal(f) && os.Getenv("TERM") != "dumb"
}

// reorderArgs moves a command's flags ahead of its positional arguments,
// up to "--". urfave/cli v2 parses a command's flags with the flag
// package, which stops at the first positional argument, and has no
// setting to go on past it (v3 has); operators type flags anywhere:
// "etcdplay run replace -i inv.ini -e old=etcd-2". Nested subcommands
// (lab up) reorder within the innermost one.
func reorderArgs(app *cli.App, args []string) []string {
	start := 1
	for start < len(args) && strings.HasPrefix(args[start], "-") {
		start++ // the app's own flags: --help, --generate-bash-completion
	}
	var cmd *cli.Command
	for cmds := app.Commands; start < len(args); start++ {
		c := findCommand(cmds, args[start])
		if c == nil {
			break
		}
		cmd, cmds = c, c.Subcommands
	}
	if cmd == nil {
		return args
	}
	fl, pos := splitArgs(cmd, args[start:])
	out := append([]string{}, args[:start]...)
	for _, f := range fl {
		out = append(out, f.words...)
	}
	return append(out, pos...)
}

// typedFlag is one flag on a command line: its name without dashes, its
// value, and the words it was typed as.
type typedFlag struct {
	name, value string
	words       []string
}

// splitArgs splits the words after a command's name into the flags of
// cmd, each with its value, and the positional arguments (every word from
// "--" on among them). A flag that takes a value and has no "=" takes the
// next word.
func splitArgs(cmd *cli.Command, args []string) (fl []typedFlag, pos []string) {
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return fl, append(pos, args[i:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		f := typedFlag{words: []string{a}}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f.name, f.value = name, value
		if !hasValue && takesValue[name] && i+1 < len(args) {
			i++
			f.value = args[i]
			f.words = append(f.words, args[i])
		}
		fl = append(fl, f)
	}
	return fl, pos
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// readSecret asks for a password on the terminal without echo.
func readSecret(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("%s needs a terminal to ask on: %w", strings.TrimSuffix(prompt, ": "), err)
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	return string(b), err
}
