package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadAnsibleCfg(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ansible.cfg")
	os.WriteFile(path, []byte(`# a comment
; another
[defaults]
Inventory = a.ini,
    b.ini
remote_user: deploy ; inline comment
host_key_checking = False # not a comment to configparser

[ssh_connection]
ssh_args = -C -o ControlPersist=60s
`), 0o644)
	cfg, err := readAnsibleCfg(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, v := range cfg {
		got[k] = v.value
	}
	want := map[string]string{
		"defaults.inventory":         "a.ini,\nb.ini",
		"defaults.remote_user":       "deploy",
		"defaults.host_key_checking": "False # not a comment to configparser",
		"ssh_connection.ssh_args":    "-C -o ControlPersist=60s",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if cfg["defaults.remote_user"].line != 6 {
		t.Errorf("remote_user at line %d", cfg["defaults.remote_user"].line)
	}
}

func TestSSHArgsFlags(t *testing.T) {
	got, err := sshArgsFlags(`-C -o ControlMaster=auto -o ControlPersist=60s -o "UserKnownHostsFile=/k1 /k2" -oStrictHostKeyChecking=accept-new -l deploy -i ~/.ssh/id`)
	if err != nil {
		t.Fatal(err)
	}
	want := []flagValue{{"user", "deploy"}, {"private-key", "~/.ssh/id"}, {"known-hosts", "/k1"}, {"accept-new-host-keys", "true"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if got, _ := sshArgsFlags(`-o 'User admin' -o StrictHostKeyChecking=yes`); !reflect.DeepEqual(got, []flagValue{{"user", "admin"}}) {
		t.Errorf("got %v", got)
	}
	for _, args := range []string{"-o ProxyJump=b", "-J b", "-o ProxyCommand='nc %h %p'", "-p 2222", "-o Port=2222"} {
		if _, err := sshArgsFlags(args); err == nil || !strings.Contains(err.Error(), "not applied by etcdplay") {
			t.Errorf("%s: %v", args, err)
		}
	}
}
