//go:build linux

package playbooks_test

import (
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/lab/labtest"
)

// TestUnderWriter runs a replace of a live member (add first), a replace
// of a dead member (remove first) and a rolling restart while a client
// writes a key every 20ms through the members that stay: every write the
// cluster acknowledged reads back afterwards, and none fails beyond a
// client's retries. The figures are logged (grep "writes acknowledged").
func TestUnderWriter(t *testing.T) {
	t.Parallel()
	e := setupLab(t, safetyLab)
	e.MustPlay(t, "bootstrap")
	for _, step := range []struct {
		name    string
		through []string // the members the writer talks to: those that stay
		before  func()
		args    []string
		after   []string
	}{
		{"replace, old alive (add first)", []string{"etcd-1", "etcd-3"}, nil,
			[]string{"replace", "-e", "old=etcd-2", "-e", "new=etcd-4"}, []string{"etcd-1", "etcd-3", "etcd-4"}},
		{"replace, old dead (remove first)", []string{"etcd-1", "etcd-4"}, func() {
			if err := e.Lab.Kill("etcd-3"); err != nil {
				t.Fatal(err)
			}
		}, []string{"replace", "-e", "old=etcd-3", "-e", "new=etcd-5"}, []string{"etcd-1", "etcd-4", "etcd-5"}},
		{"rolling_restart", []string{"etcd-1", "etcd-4", "etcd-5"}, nil,
			[]string{"rolling_restart", "-e", "group=members"}, []string{"etcd-1", "etcd-4", "etcd-5"}},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.before != nil {
				step.before()
			}
			c := e.Client(t, step.through...)
			w := labtest.StartWriter(c, "writer")
			start := time.Now()
			r := e.Play(t, step.args[0], step.args[1:]...)
			st := w.Stop()
			if r.Code != 0 {
				t.Fatalf("%v: exit %d\n%s", step.args, r.Code, r.Out)
			}
			t.Logf("%s in %s: writes acknowledged %d, failed %d, retried %d (%s)", step.name, r.Elapsed.Round(time.Millisecond),
				len(st.KV), len(st.Failed), st.Retried, st.RetryKinds())
			if len(st.Failed) > 0 {
				t.Errorf("writes failed beyond the client's retries: %v", st.Failed)
			}
			if len(st.KV) < int(time.Since(start)/(100*time.Millisecond)) {
				t.Errorf("only %d writes in %s", len(st.KV), time.Since(start))
			}
			e.WantMembers(t, step.after[:1], step.after...)
			labtest.WantKeys(t, e.Client(t, step.after...), st.KV)
		})
	}
}
