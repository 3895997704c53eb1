package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/etcdplay/etcdplay/inventory"
)

var sprintf = fmt.Sprintf

// Flags shared by every command that reaches hosts. They are declared on each
// such command (not on the app) so they may follow the command name, as in
// "etcdplay exec -i inv.ini etcd -- uptime".
func inventoryFlags() []cli.Flag {
	return []cli.Flag{
		inventoryFlag("inventory `FILE` (Ansible INI or YAML); repeat to merge several"),
		vaultFlag(),
		&cli.StringFlag{Name: "limit", Aliases: []string{"l"}, Usage: "further limit the hosts to `PATTERN` (e.g. 'etcd:!etcd-3')"},
	}
}

func connectionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "forks", Aliases: []string{"f"}, Value: 20, Usage: "at most `N` hosts worked on at once"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "connect as `USER` (default: inventory, ~/.ssh/config, then the local user)"},
		&cli.StringFlag{Name: "private-key", Usage: "authenticate with the key in `FILE` (default: ssh-agent and ~/.ssh/id_*)"},
		&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "SSH connect `TIMEOUT` per host"},
		&cli.BoolFlag{DisableDefaultText: true, Name: "become", Aliases: []string{"b"}, Usage: "run commands with sudo"},
		&cli.StringFlag{Name: "become-user", Usage: "sudo to `USER` (default root)"},
		&cli.BoolFlag{DisableDefaultText: true, Name: "ask-become-pass", Aliases: []string{"K"}, Usage: "ask for the sudo password"},
		&cli.BoolFlag{DisableDefaultText: true, Name: "accept-new-host-keys", Usage: "accept and record keys of hosts not yet in known_hosts (changed keys are still refused)"},
		&cli.StringFlag{Name: "known-hosts", Usage: "known_hosts `FILE` (default: ~/.ssh/known_hosts or UserKnownHostsFile of ~/.ssh/config)"},
		&cli.StringFlag{Name: "ssh-config", Usage: "ssh client config `FILE` (default ~/.ssh/config; 'none' to ignore it)"},
	}
}

func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "output `FORMAT`: text or json (one object per line)"},
		&cli.BoolFlag{DisableDefaultText: true, Name: "verbose", Aliases: []string{"v"}, Count: new(int), Usage: "more detail: timings, backtraces (repeat for more)"},
	}
}

// vaultFlag is the password for what the inventory encrypts with
// Ansible Vault, named as ansible-playbook names it.
func vaultFlag() cli.Flag {
	return &cli.StringFlag{Name: "vault-password-file", Aliases: []string{"vault-pass-file"}, Usage: "decrypt Ansible Vault values and files of the inventory with the password in `FILE`", EnvVars: []string{"ANSIBLE_VAULT_PASSWORD_FILE"}}
}

// openInventory reads the inventory files paths with the vault password
// the flags give.
func openInventory(c *cli.Context, paths []string) (*inventory.Inventory, error) {
	var opts inventory.Options
	if f := c.String("vault-password-file"); f != "" {
		pw, err := inventory.ReadVaultPasswordFile(f)
		if err != nil {
			return nil, badInput("--vault-password-file %s: %v", f, err)
		}
		opts.VaultPassword = pw
	}
	return opts.Load(paths...)
}

// inventoryFlag is -i, shared by the commands that read an inventory.
func inventoryFlag(usage string) cli.Flag {
	return listFlag("inventory", "i", usage, "ETCDPLAY_INVENTORY")
}

// listFlag is a repeatable flag whose every value is taken whole, commas
// and all. urfave/cli's StringSliceFlag splits each value at commas,
// which turns -i 'inventories/a,b/hosts' into two paths and
// -e peer_urls=http://a:2380,http://b:2380 into a key=value and a stray
// "http://b:2380"; Ansible takes both whole. (cli.App's
// DisableSliceFlagSeparator would do it for every flag, but lab
// --packages is documented as comma-separated.) An environment variable,
// if given, is one value too. Read it back with listValues.
func listFlag(name, alias, usage string, env ...string) cli.Flag {
	f := &cli.GenericFlag{Name: name, Usage: usage, Value: &wholeValues{}, EnvVars: env}
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

// listValues returns the values given to the listFlag called name.
func listValues(c *cli.Context, name string) []string {
	if w, ok := c.Generic(name).(*wholeValues); ok {
		return append([]string(nil), (*w)...)
	}
	return nil
}

func flags(groups ...[]cli.Flag) []cli.Flag {
	var all []cli.Flag
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

// loadInventory reads the inventories named with -i and applies --limit.
func loadInventory(c *cli.Context) (*inventory.Inventory, error) {
	var paths []string
	for _, p := range listValues(c, "inventory") {
		if p != "" { // an empty $ETCDPLAY_INVENTORY is no inventory
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil, badInput("no inventory: give one with -i FILE (Ansible INI or YAML)")
	}
	inv, err := openInventory(c, paths)
	if err != nil {
		return nil, err
	}
	if c.IsSet("limit") {
		l := c.String("limit")
		if strings.Trim(l, " \t,:") == "" {
			// Ansible runs on every host then (ansible#83264, #85278): a
			// --limit "$HOSTS" whose variable came out empty must not.
			return nil, badInput("--limit %q: expected a host pattern; leave --limit out to work on every host", l)
		}
		if err := inv.SetLimit(l); err != nil {
			return nil, badInput("--limit %q: %v", l, err)
		}
	}
	return inv, nil
}

func outputFormat(c *cli.Context) (string, error) {
	switch o := c.String("output"); o {
	case "text", "json":
		return o, nil
	default:
		return "", badInput("--output %q: expected text or json", o)
	}
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

// reorderArgs moves a command's flags ahead of its positional arguments, up
// to "--", because urfave/cli (like the flag package) stops at the first
// positional one and operators type flags anywhere:
// "etcdplay run replace -i inv.ini -e old=etcd-2".
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmdAt := -1
	for i := 1; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			cmdAt = i
			break
		}
	}
	if cmdAt < 0 {
		return args
	}
	cmd := findCommand(app.Commands, args[cmdAt])
	if cmd == nil {
		return args
	}
	// Nested subcommands (lab up) reorder within the innermost command.
	start := cmdAt + 1
	for start < len(args) && len(cmd.Subcommands) > 0 {
		sub := findCommand(cmd.Subcommands, args[start])
		if sub == nil {
			break
		}
		cmd, start = sub, start+1
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var fl, pos []string
	rest := args[start:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		fl = append(fl, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue[name] && i+1 < len(rest) {
			i++
			fl = append(fl, rest[i])
		}
	}
	out := append([]string{}, args[:start]...)
	out = append(out, fl...)
	return append(out, pos...)
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
