package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/etcdplay/etcdplay/engine/transport/sshdtest"
)

// scriptHosts is the real sshd shared by every script of TestScript, nil
// when it cannot run here (not root, no sshd): scripts that need it say
// [!sshd] skip.
var scriptHosts *sshdtest.Server

// startScriptHosts starts the shared sshd for t's scripts.
func startScriptHosts(t *testing.T) {
	if sshdtest.Skip() != "" {
		return
	}
	scriptHosts = sshdtest.StartWith(t, 3, sshdtest.Options{Offset: 100})
}

// scriptSetup prepares each script: HOME inside its work dir (no user's
// ~/.ssh is read), no colour, and, when sshd runs, $INV: an inventory of
// hosts h1..h3 in group test plus "down", an address where nothing listens,
// with their host keys in ~/.ssh/known_hosts, and $MARK (see below).
func scriptSetup(env *testscript.Env) error {
	home := filepath.Join(env.WorkDir, "home")
	env.Setenv("HOME", home)
	env.Setenv("NO_COLOR", "1")
	env.Setenv("SSH_AUTH_SOCK", "")
	if scriptHosts == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		return err
	}
	kh, err := os.ReadFile(scriptHosts.KnownHosts)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), kh, 0o600); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("[test]\n")
	for _, h := range scriptHosts.Hosts {
		fmt.Fprintf(&b, "%s ansible_host=%s ansible_port=%d\n", h.Name, h.Addr, h.Port)
	}
	b.WriteString("\n[gone]\ndown ansible_host=127.0.10.250 ansible_port=1\n")
	fmt.Fprintf(&b, "\n[all:vars]\nansible_user=%s\nansible_ssh_private_key_file=%s\n", sshdtest.User, scriptHosts.KeyFile)
	inv := filepath.Join(env.WorkDir, "inv.ini")
	if err := os.WriteFile(inv, []byte(b.String()), 0o644); err != nil {
		return err
	}
	env.Setenv("INV", inv)
	env.Setenv("KEY", scriptHosts.KeyFile)
	env.Setenv("H1", scriptHosts.Hosts[0].HostPort())
	// $MARK is a directory the remote test user can write to, for scripts
	// that watch what remote commands do.
	mark, err := os.MkdirTemp("", "etcdplay-mark-")
	if err != nil {
		return err
	}
	os.Chmod(mark, 0o777)
	env.Defer(func() { os.RemoveAll(mark) })
	env.Setenv("MARK", mark)
	return nil
}

// scriptCondition knows [sshd]: the shared sshd hosts are up.
func scriptCondition(cond string) (bool, error) {
	switch cond {
	case "sshd":
		return scriptHosts != nil, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// scriptCmds are extra testscript commands:
//
//	exitcode N PROG [ARG...]  runs PROG and fails unless it exits with N
//	waitfile GLOB [COUNT]     waits up to 10s for COUNT (1) files matching GLOB
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"waitfile": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) < 1 || len(args) > 2 {
				ts.Fatalf("usage: waitfile GLOB [COUNT]")
			}
			want := 1
			if len(args) == 2 {
				want, _ = strconv.Atoi(args[1])
			}
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if m, _ := filepath.Glob(ts.MkAbs(args[0])); len(m) >= want {
					return
				}
			}
			ts.Fatalf("%d file(s) matching %s did not appear within 10s", want, args[0])
		},
		"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) < 2 {
				ts.Fatalf("usage: exitcode N PROG [ARG...]")
			}
			want, err := strconv.Atoi(args[0])
			if err != nil {
				ts.Fatalf("exitcode: %v", err)
			}
			got := 0
			if err := ts.Exec(args[1], args[2:]...); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					ts.Fatalf("exitcode: %v", err)
				}
				got = ee.ExitCode()
			}
			if got != want {
				ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
			}
		},
	}
}
