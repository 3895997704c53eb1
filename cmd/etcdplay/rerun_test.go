package main

import (
	"testing"

	"github.com/urfave/cli/v2"
)

// rerun parses args as etcdplay does and returns what commandFor and
// execCommandFor print for them.
func rerun(t *testing.T, args []string, playbook string, vars map[string]string) (cmd, exec string) {
	t.Helper()
	app := newApp()
	for _, c := range app.Commands {
		if c.Name == "run" {
			c.Action = func(c *cli.Context) error {
				cmd = commandFor(invocationOf(c), playbook, vars)
				exec = execCommandFor(invocationOf(c), "etcd-1", "wipe_datadir", map[string]string{"force": "true"})
				return nil
			}
		}
	}
	argv := reorderArgs(app, append([]string{"etcdplay"}, args...))
	app.Metadata = map[string]any{argvKey: argv}
	if err := app.Run(argv); err != nil {
		t.Fatal(err)
	}
	return cmd, exec
}

func TestCommandFor(t *testing.T) {
	cmd, exec := rerun(t, []string{"run", "replace", "-i", "inv.ini", "--check", "--diff", "--break-lock", "-l", "etcd", "-e", "old=etcd-1", "-e", "new=etcd-4", "-e", "note=a b"},
		"", map[string]string{"new": "etcd-5", "old": ""})
	if want := `etcdplay run replace -i inv.ini -l etcd -e 'note=a b' -e new=etcd-5`; cmd != want {
		t.Errorf("commandFor:\n got %s\nwant %s", cmd, want)
	}
	if want := `etcdplay exec -i inv.ini -l etcd etcd-1 -m wipe_datadir -a force=true`; exec != want {
		t.Errorf("execCommandFor:\n got %s\nwant %s", exec, want)
	}
}

// A password given with -e is never part of a command etcdplay prints;
// the file that holds one is.
func TestCommandForLeavesSecretsOut(t *testing.T) {
	cmd, _ := rerun(t, []string{"run", "status", "-i", "inv.ini", "-e", "etcd_user=root", "-e", "etcd_password=hunter22", "-e", "etcd_password_file=pw.txt", "-e", "api_token=t0k3n"},
		"remove", map[string]string{"member": "etcd-3"})
	if want := `etcdplay run remove -i inv.ini -e etcd_user=root -e etcd_password_file=pw.txt -e member=etcd-3`; cmd != want {
		t.Errorf("commandFor:\n got %s\nwant %s", cmd, want)
	}
	_, exec := rerun(t, []string{"run", "replace", "-i", "inv.ini", "-e", "old=etcd-1", "-e", "etcd_user=root", "-e", "etcd_password=hunter22", "-e", "@tls.yaml", "-e", "etcd_password_file=pw.txt"},
		"", nil)
	if want := `etcdplay exec -i inv.ini -e etcd_user=root -e @tls.yaml -e etcd_password_file=pw.txt etcd-1 -m wipe_datadir -a force=true`; exec != want {
		t.Errorf("execCommandFor keeps how etcd is reached, not the playbook's parameters or the password:\n got %s\nwant %s", exec, want)
	}
	secrets := secretVars(map[string]any{"etcd_password": "hunter22", "etcd_password_file": "pw.txt", "api_token": "t0k3n", "user": "root"})
	if len(secrets) != 2 {
		t.Errorf("secretVars: %q, want the password and the token", secrets)
	}
}
