package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/engine/transport/sshdtest"
)

// A module's scripts run one after the other in a shell the connection
// keeps open; each sees what a session of its own would: its own output,
// status and stderr, nothing left by the one before.
func TestShellRunsScriptsAsSessionsWould(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	c := connect(t, newPool(t, srv.Config()), srv.Hosts[0])
	for _, tc := range []struct {
		line, stdout, stderr string
		rc                   int
	}{
		{"printf abc", "abc", "", 0},
		{"echo abc", "abc\n", "", 0},
		{"printf 'a\\n\\n'; printf 'e\\n\\n' >&2; exit 7", "a\n\n", "e\n\n", 7},
		{"true", "", "", 0},
		{"cd /; x=set; exit 4", "", "", 4},
		{"pwd; echo ${x-unset}", os.Getenv("HOME"), "", 0},
		{"cat", "", "", 0}, // stdin is empty
		{"if then", "", "yntax error", 2},
		{"echo after", "after\n", "", 0},
		{"sh -c 'kill -TERM $$'", "", "*", 143}, // stderr: the shell may say "Terminated"
	} {
		res := run(t, c, tc.line)
		out := string(res.Stdout)
		if tc.line == "pwd; echo ${x-unset}" {
			// The home directory of the test user, whatever it is, and no x.
			if !strings.HasSuffix(out, "\nunset\n") || strings.HasPrefix(out, "/\n") {
				t.Errorf("%q: a cd or variable of the script before leaked: %q", tc.line, out)
			}
		} else if out != tc.stdout {
			t.Errorf("%q: stdout %q, want %q", tc.line, out, tc.stdout)
		}
		if tc.stderr != "*" && (!strings.Contains(string(res.Stderr), tc.stderr) || (tc.stderr == "" && len(res.Stderr) > 0)) {
			t.Errorf("%q: stderr %q, want %q", tc.line, res.Stderr, tc.stderr)
		}
		if res.ExitStatus != tc.rc {
			t.Errorf("%q: exit status %d, want %d", tc.line, res.ExitStatus, tc.rc)
		}
	}

	// Both streams are read as they come: neither fills and blocks.
	res := run(t, c, "head -c 300000 /dev/zero | tr '\\0' a; head -c 300000 /dev/zero | tr '\\0' b >&2; echo")
	if len(res.Stdout) != 300001 || len(res.Stderr) != 300000 || bytes.Count(res.Stdout, []byte("a")) != 300000 {
		t.Errorf("large output: %d bytes of stdout, %d of stderr", len(res.Stdout), len(res.Stderr))
	}

	// One shell serves them all; an operator's command (Login) has a
	// session and login shell of its own.
	shellPID := strings.TrimSpace(string(run(t, c, "echo $$").Stdout))
	if again := strings.TrimSpace(string(run(t, c, "echo $$").Stdout)); again != shellPID {
		t.Errorf("scripts ran in shells %s and %s: one shell expected", shellPID, again)
	}
	login, err := c.Run(context.Background(), transport.Command{Line: "echo $$", Login: true})
	if err != nil || strings.TrimSpace(string(login.Stdout)) == shellPID {
		t.Errorf("a Login command ran in the scripts' shell (%q, %v)", login.Stdout, err)
	}
}

// A script that kills the shell it runs in is reported as a host whose
// state is unknown, and the next script gets a new shell.
func TestShellKilled(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	c := connect(t, newPool(t, srv.Config()), srv.Hosts[0])
	first := strings.TrimSpace(string(run(t, c, "echo $$").Stdout))
	_, err := c.Run(context.Background(), transport.Command{Line: "kill -KILL $$"})
	if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "without an exit status") {
		t.Fatalf("want the command's end unknown (unreachable), got %v", err)
	}
	second := strings.TrimSpace(string(run(t, c, "echo $$").Stdout))
	if second == first || second == "" {
		t.Fatalf("the script after ran in shell %q, the killed one was %s", second, first)
	}

	// An idle shell killed from outside (no script was running in it) is
	// passed over: the next script runs in a new one, and the host is not
	// taken for unreachable.
	if _, err := c.Run(context.Background(), transport.Command{Line: "kill -KILL " + second, Login: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return transport.EndedIdleShells(c) == 1 }, "the killed shell's session to end")
	if third := strings.TrimSpace(string(run(t, c, "echo $$").Stdout)); third == second || third == "" {
		t.Fatalf("the script after ran in shell %q, the killed one was %s", third, second)
	}

	// SIGTERM to the shell (as sshd delivers a signal request) ends the
	// script's processes with it: the run learns at once, and no process
	// of the script is left.
	marker := fmt.Sprintf("%d.%d", 60+os.Getpid()%30, time.Now().Nanosecond()%1000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.Run(ctx, transport.Command{Line: "kill -TERM $$; sleep " + marker})
	if !transport.IsUnreachable(err) {
		t.Fatalf("want the shell's end reported at once (unreachable), got %v", err)
	}
	if out, _ := exec.Command("pgrep", "-f", "sleep "+marker).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("the script's sleep outlived its shell: pid %s", out)
	}
}

// With OpenShell (playbook runs) the shell is opened as the host is
// dialled; without, none is opened until a script needs one, and an
// operator's command needs none.
func TestOpenShell(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	cfg := srv.Config()
	cfg.OpenShell = true
	c := connect(t, newPool(t, cfg), srv.Hosts[0])
	waitFor(t, func() bool { return transport.IdleShells(c) == 1 }, "the shell opened at the dial, before any script")

	c = connect(t, newPool(t, srv.Config()), srv.Hosts[0])
	if _, err := c.Run(context.Background(), transport.Command{Line: "true", Login: true}); err != nil {
		t.Fatal(err)
	}
	if n := transport.IdleShells(c); n != 0 {
		t.Fatalf("%d shells opened without OpenShell, for an operator's command", n)
	}
}

// BenchmarkRun is one command over an open connection to a loopback
// sshd: as a module's script, in the shell the connection keeps, and as
// an operator's command, in a session and login shell of its own.
func BenchmarkRun(b *testing.B) {
	srv := sshdtest.Start(b, 1)
	c := connect(b, newPool(b, srv.Config()), srv.Hosts[0])
	for _, bc := range []struct {
		name  string
		login bool
	}{{"script", false}, {"login", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cmd := transport.Command{Line: "true", Login: bc.login}
			for b.Loop() {
				if res, err := c.Run(context.Background(), cmd); err != nil || res.ExitStatus != 0 {
					b.Fatal(res, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/command")
		})
	}
}

// On a hardened sshd that allows two sessions a connection (MaxSessions
// 2), the kept shell and SFTP hold both: an operator's command closes
// the idle shell for a session of its own, and scripts, files and
// commands go on in turn as they did with a session each.
func TestShellMaxSessions(t *testing.T) {
	srv := sshdtest.StartWith(t, 1, sshdtest.Options{Offset: 90, MaxSessions: 2})
	cfg := srv.Config()
	cfg.OpenShell = true
	c := connect(t, newPool(t, cfg), srv.Hosts[0])
	dir := "/tmp/etcdplay-maxsessions-" + strconv.Itoa(os.Getpid())
	run(t, c, "mkdir -p "+dir)
	t.Cleanup(func() { os.RemoveAll(dir) })
	for i := range 3 {
		run(t, c, "true") // the shell
		if err := c.Put(context.Background(), dir+"/f", strings.NewReader("x"), transport.PutOptions{}); err != nil {
			t.Fatalf("round %d: put: %v", i, err) // SFTP, a session kept too
		}
		res, err := c.Run(context.Background(), transport.Command{Line: "echo login", Login: true})
		if err != nil || string(res.Stdout) != "login\n" {
			t.Fatalf("round %d: an operator's command beside the shell and SFTP: %q %v", i, res.Stdout, err)
		}
	}
}

// Scripts with become run in a shell that sudo started once, as the
// become user: one shell for all of them. A user sudo will not start a
// shell for without a password has each command through sudo in a
// session of its own, which says why (TestBecome); a cancelled script
// with become ends its processes (TestRunCancelEndsRemoteCommand).
func TestShellBecome(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	c := connect(t, newPool(t, srv.Config()), srv.Hosts[0])
	root := transport.Command{Line: "echo $(id -u) $$", Become: true}
	first, err := c.Run(context.Background(), root)
	if err != nil || !strings.HasPrefix(string(first.Stdout), "0 ") {
		t.Fatalf("become: %q %q %v", first.Stdout, first.Stderr, err)
	}
	again, err := c.Run(context.Background(), root)
	if err != nil || string(again.Stdout) != string(first.Stdout) {
		t.Fatalf("become scripts ran in shells %q and %q: one shell expected", first.Stdout, again.Stdout)
	}
	if login := run(t, c, "echo $(id -u) $$"); strings.HasPrefix(string(login.Stdout), "0 ") {
		t.Fatalf("a script without become ran as root: %q", login.Stdout)
	}
}
