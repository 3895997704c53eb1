//go:build linux

package playbooks_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/lab/labtest"
)

// TestInterrupts kills etcdplay with SIGKILL at each task of a replace
// (old member alive, and dead), an add and a remove in turn, runs the
// same command again, and checks that the change is then complete: the
// intended member set, every started voter, no learner or unstarted
// member left, no change record, every key written before readable with
// a linearizable read. Then once each: Ctrl-C, the new host rebooting,
// and the control machine's network dropping, in the middle of a
// replace. The figures are logged (grep "interruption points").
func TestInterrupts(t *testing.T) {
	t.Parallel()
	e := setupLab(t, faultLab)
	e.MustPlay(t, "bootstrap")
	kv := labtest.PutKeys(t, e.Client(t, "etcd-1", "etcd-2", "etcd-3"), "interrupts", 100)
	c := &cluster{e: e, members: []string{"etcd-1", "etcd-2", "etcd-3"}, spare: []string{"etcd-4", "etcd-5", "etcd-6"}, kv: kv}

	procedures := []struct {
		name string
		// next is the next change: its playbook arguments, the member
		// set it ends with, and what to do before it runs.
		next func() (args []string, want []string, before func())
		// after undoes it for the next point, when the change does not
		// undo itself by alternating.
		after func()
	}{
		{"replace, old alive", func() ([]string, []string, func()) {
			old, new := c.members[len(c.members)-1], c.spare[0]
			return []string{"replace", "-e", "old=" + old, "-e", "new=" + new}, c.swap(old, new), nil
		}, nil},
		{"replace, old dead", func() ([]string, []string, func()) {
			old, new := c.members[len(c.members)-1], c.spare[0]
			return []string{"replace", "-e", "old=" + old, "-e", "new=" + new}, c.swap(old, new), func() {
				if err := e.Lab.Kill(old); err != nil {
					t.Fatal(err)
				}
				c.dead = old
			}
		}, func() {
			if err := e.Lab.Start(context.Background(), c.dead); err != nil {
				t.Fatal(err)
			}
		}},
		{"add and remove", func() ([]string, []string, func()) {
			// They alternate: an add of a spare host, then its remove.
			if len(c.members) == 3 {
				new := c.spare[0]
				return []string{"add", "-e", "new=" + new}, append(slices.Clone(c.members), new), nil
			}
			h := c.members[len(c.members)-1]
			return []string{"remove", "-e", "member=" + h}, c.members[:len(c.members)-1], nil
		}, nil},
	}
	tried, passed := 0, 0
	for _, p := range procedures {
		t.Run(p.name, func(t *testing.T) {
			// An uninterrupted run first: how many tasks it has.
			args, want, before := p.next()
			if before != nil {
				before()
			}
			r := e.MustPlay(t, args[0], append(args[1:], "-e", "group=all")...)
			c.done(want)
			c.check(t, "uninterrupted "+strings.Join(args, " "))
			if p.after != nil {
				p.after()
			}
			tasks := 0
			for _, ev := range r.Events {
				if ev.Type == "task_start" {
					tasks++
				}
			}
			t.Logf("%s: %d tasks", strings.Join(args, " "), tasks)
			// point kills the next change at its task k, runs it again and
			// checks; false when the change ended before task k.
			point := func(k int) bool {
				args, want, before := p.next()
				if before != nil {
					before()
				}
				n := 0
				r, hit := e.PlayUntil(t, func(ev labtest.Event) bool {
					if ev.Type == "task_start" {
						n++
					}
					return n == k
				}, func(p *os.Process) { p.Signal(syscall.SIGKILL) }, args[0], append(args[1:], "-e", "group=all")...)
				if hit {
					tried++
					killedIn := "?"
					for _, ev := range r.Events {
						if ev.Type == "task_start" {
							killedIn = ev.Module + " at " + ev.Pos
						}
					}
					again := e.Play(t, args[0], append(args[1:], "-e", "group=all")...)
					if again.Code != 0 {
						t.Fatalf("killed in task %d (%s), then the same command: exit %d\n%s", k, killedIn, again.Code, again.Out)
					}
					c.done(want)
					c.check(t, fmt.Sprintf("killed in task %d of %s (%s), run again", k, strings.Join(args, " "), killedIn))
					if !t.Failed() {
						passed++
					}
				} else {
					c.done(want)
					c.check(t, fmt.Sprintf("%s (ran to its end before task %d)", strings.Join(args, " "), k))
				}
				if p.after != nil {
					p.after()
				}
				return hit
			}
			// Each point is tried on each change of an alternation that
			// does not undo itself (an add, then a remove).
			reps := 1
			if p.name == "add and remove" {
				reps = 2
			}
			for k := 1; ; k++ {
				reached := false
				for range reps {
					reached = point(k) || reached
				}
				if !reached {
					break
				}
			}
		})
	}
	t.Logf("interruption points: %d tried, %d passed", tried, passed)

	t.Run("ctrl-c", func(t *testing.T) {
		old, new := c.members[len(c.members)-1], c.spare[0]
		r, hit := e.PlayPaused(t, "member_promote", func(p *os.Process) { p.Signal(os.Interrupt) }, "replace", "-e", "old="+old, "-e", "new="+new, "-e", "group=all")
		if !hit || r.Code != 130 {
			t.Fatalf("Ctrl-C during member_promote: exit %d (reached: %v), want 130\n%s", r.Code, hit, r.Out)
		}
		cont := r.Remedy(t, "to continue: ")
		if x := e.RunCommand(t, cont); x.Code != 0 {
			t.Fatalf("%s: exit %d\n%s", cont, x.Code, x.Out)
		}
		c.done(c.swap(old, new))
		c.check(t, "after Ctrl-C and the continue command")
	})
	t.Run("new-host-reboots", func(t *testing.T) {
		old, new := c.members[len(c.members)-1], c.spare[0]
		r, hit := e.PlayUntil(t, func(ev labtest.Event) bool { return ev.Type == "task_end" && ev.Module == "member_add" },
			func(*os.Process) {
				if err := e.Lab.Stop(context.Background(), new); err != nil {
					t.Error(err)
				}
				if err := e.Lab.Start(context.Background(), new); err != nil {
					t.Error(err)
				}
			}, "replace", "-e", "old="+old, "-e", "new="+new, "-e", "group=all")
		if !hit {
			t.Fatalf("replace did not reach member_add\n%s", r.Out)
		}
		t.Logf("replace while %s rebooted: exit %d", new, r.Code)
		e.MustPlay(t, "replace", "-e", "old="+old, "-e", "new="+new, "-e", "group=all")
		c.done(c.swap(old, new))
		c.check(t, "after the new host rebooted half way")
	})
	t.Run("network-drops", func(t *testing.T) {
		old, new := c.members[len(c.members)-1], c.spare[0]
		stay := c.members[:len(c.members)-1]
		bridge := faultLab.bridge
		r, hit := e.PlayUntil(t, func(ev labtest.Event) bool { return ev.Type == "task_end" && ev.Module == "member_add" },
			func(*os.Process) {
				if out, err := exec.Command("ip", "link", "set", bridge, "down").CombinedOutput(); err != nil {
					t.Errorf("ip link set %s down: %v %s", bridge, err, out)
				}
				time.AfterFunc(3*time.Second, func() { exec.Command("ip", "link", "set", bridge, "up").Run() })
			}, "replace", "-e", "old="+old, "-e", "new="+new, "-e", "group=all")
		exec.Command("ip", "link", "set", bridge, "up").Run()
		if !hit {
			t.Fatalf("replace did not reach member_add\n%s", r.Out)
		}
		t.Logf("replace while the network dropped for 3s: exit %d", r.Code)
		e.WaitHealthy(t, stay...)
		e.MustPlay(t, "replace", "-e", "old="+old, "-e", "new="+new, "-e", "group=all")
		c.done(c.swap(old, new))
		c.check(t, "after the network dropped half way")
	})
}

// cluster is what TestInterrupts expects of the lab's cluster.
type cluster struct {
	e       *labtest.Env
	members []string // the member hosts, in the order changes take them
	spare   []string
	dead    string // a host killed for a replace of a dead member
	kv      map[string]string
}

// swap is the member set with old replaced by new.
func (c *cluster) swap(old, new string) []string {
	out := slices.DeleteFunc(slices.Clone(c.members), func(h string) bool { return h == old })
	return append(out, new)
}

// done records that the cluster now has the members want.
func (c *cluster) done(want []string) {
	var spare []string
	for _, h := range append(slices.Clone(c.spare), c.members...) {
		if !slices.Contains(want, h) && !slices.Contains(spare, h) {
			spare = append(spare, h)
		}
	}
	c.members, c.spare = slices.Clone(want), spare
}

// check fails unless the cluster has exactly the members as started
// voters, no change record, and every key.
func (c *cluster) check(t *testing.T, what string) {
	t.Helper()
	through := c.members[:1]
	got := c.e.Members(t, through...)
	var names []string
	for _, m := range got {
		d := m.Name
		if m.Name == "" || len(m.ClientURLs) == 0 {
			d = "unstarted " + strings.Join(m.PeerURLs, ",")
		} else if m.IsLearner {
			d += " (learner)"
		}
		names = append(names, d)
	}
	want := slices.Sorted(slices.Values(c.members))
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("%s: members %q, want the started voters %q", what, names, want)
	}
	if v := c.e.Key(t, through, etcd.ChangeKey); v != "" {
		t.Errorf("%s: a change is still recorded: %s", what, v)
	}
	c.e.WaitHealthy(t, c.members...)
	labtest.WantKeys(t, c.e.Client(t, c.members...), c.kv)
}
