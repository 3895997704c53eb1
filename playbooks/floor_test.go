//go:build linux

package playbooks_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/etcdplay/etcdplay/lab/labtest"
)

// The floors: what a procedure needs etcd and the hosts to do, by direct
// calls over SSH connections and etcd clients opened beforehand, with no
// check, no lock, no snapshot and nothing read twice. No tool can take
// less; a benchmark's ratio is etcdplay's time over its floor's, measured
// in one lab, alternating, so both see the same machine.

// conns are SSH connections to the lab's hosts, open before the clock
// starts.
type conns map[string]*ssh.Client

func dialAll(tb testing.TB, e *labtest.Env) conns {
	tb.Helper()
	cs := conns{}
	for name := range e.Addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := e.Lab.Dial(ctx, name)
		cancel()
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		cs[name] = c
	}
	tb.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
	return cs
}

// run runs command on host over its open connection.
func (cs conns) run(host, command string) error {
	s, err := cs[host].NewSession()
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	defer s.Close()
	if out, err := s.CombinedOutput(command); err != nil {
		return fmt.Errorf("%s: %s: %w\n%s", host, command, err, out)
	}
	return nil
}

// each runs command on every host at once.
func (cs conns) each(hosts []string, command func(host string) string) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { errs[i] = cs.run(h, command(h)) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// clients are an etcd client per member, made before the clock starts.
// They dial at once, before a member may be up, and dial again every few
// milliseconds until it is: with gRPC's default backoff (a second, then
// more) the floor would wait on the client, not on etcd.
func clients(tb testing.TB, e *labtest.Env, hosts []string) map[string]*clientv3.Client {
	tb.Helper()
	m := map[string]*clientv3.Client{}
	for _, h := range hosts {
		c, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(h), Logger: zap.NewNop(),
			DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: backoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1.2, MaxDelay: 20 * time.Millisecond}, MinConnectTimeout: time.Second})}})
		if err != nil {
			tb.Fatal(err)
		}
		m[h] = c
	}
	return m
}

// closeClients closes the clients: a floor's, at its end, so that those of
// members it stopped do not dial them again through later rounds.
func closeClients(m map[string]*clientv3.Client) {
	for _, c := range m {
		c.Close()
	}
}

// wipeData empties each member data dir (/var/lib/etcd/NAME.etcd, which
// install_etcd made for the etcd user) of the lab's hosts.
const wipeData = "rm -rf /var/lib/etcd/*/*"

// healthy polls until every member of cs answers a linearizable read, as
// etcdctl endpoint health asks.
func healthy(cs map[string]*clientv3.Client, deadline time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	left := maps.Clone(cs)
	for len(left) > 0 {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for h, c := range left {
			wg.Go(func() {
				rctx, rcancel := context.WithTimeout(ctx, time.Second)
				defer rcancel()
				if _, err := c.Get(rctx, "health"); err == nil {
					mu.Lock()
					delete(left, h)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			return fmt.Errorf("not healthy after %s: %v", deadline, slices.Sorted(maps.Keys(left)))
		}
		if len(left) > 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// bootstrapFloor starts a new cluster on members whose etcd is installed
// and configured (the etcd.conf etcdplay wrote, its state back at "new")
// with no data: systemctl start etcd on all at once, then polling until
// every member is healthy.
func bootstrapFloor(tb testing.TB, e *labtest.Env, cs conns, members []string) time.Duration {
	tb.Helper()
	for _, h := range members {
		e.Exec(tb, h, "systemctl stop etcd; "+wipeData+"; sed -i 's/^ETCD_INITIAL_CLUSTER_STATE=.*/ETCD_INITIAL_CLUSTER_STATE=new/' /etc/etcd/etcd.conf")
	}
	cli := clients(tb, e, members)
	defer closeClients(cli)
	start := time.Now()
	if err := cs.each(members, func(string) string { return "systemctl start etcd" }); err != nil {
		tb.Fatal(err)
	}
	if err := healthy(cli, 60*time.Second); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// replaceFloor replaces the healthy member old by new (etcd installed, no
// data) as etcd's docs do it by hand: member add --learner, the new
// member's etcd.conf written and etcd started in one command, promote
// until the learner has caught up, leadership moved off old if it leads,
// member remove, and old's etcd stopped.
func replaceFloor(tb testing.TB, e *labtest.Env, cs conns, old, new string, rest []string) time.Duration {
	tb.Helper()
	e.Exec(tb, new, "systemctl stop etcd; "+wipeData)
	conf := newMemberConf(e.Conf(tb, old), e, old, new, append(slices.Clone(rest), old, new))
	cli := clients(tb, e, append(slices.Clone(rest), old))
	defer closeClients(cli)
	via := cli[rest[0]]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	oldID, toID := memberID(tb, via, old), memberID(tb, via, rest[0])

	start := time.Now()
	var added *clientv3.MemberAddResponse
	for {
		// As by hand: again while etcd refuses a change until its members
		// have been connected for 5 s.
		var err error
		added, err = via.MemberAddAsLearner(ctx, []string{e.Peer(new)})
		if err == nil {
			break
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "unhealthy cluster") {
			tb.Fatalf("member add %s: %v", new, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cs.run(new, "cat > /etc/etcd/etcd.conf <<'EOF'\n"+conf+"EOF\nsystemctl start etcd"); err != nil {
		tb.Fatal(err)
	}
	for {
		_, err := via.MemberPromote(ctx, added.Member.ID)
		if err == nil {
			break
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "not in sync") {
			tb.Fatalf("promote %s: %v", new, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	st, err := cli[old].Status(ctx, e.Endpoints(old)[0])
	if err != nil {
		tb.Fatal(err)
	}
	if st.Leader == oldID {
		if _, err := cli[old].MoveLeader(ctx, toID); err != nil {
			tb.Fatal(err)
		}
	}
	for {
		_, err := via.MemberRemove(ctx, oldID)
		if err == nil {
			break
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "unhealthy cluster") {
			tb.Fatalf("member remove %s: %v", old, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cs.run(old, "systemctl stop etcd"); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

func memberID(tb testing.TB, c *clientv3.Client, name string) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := c.MemberList(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range l.Members {
		if m.Name == name {
			return m.ID
		}
	}
	tb.Fatalf("%s is no member", name)
	return 0
}

// newMemberConf is old's etcd.conf made new's: its name and addresses,
// the cluster it joins and state "existing".
func newMemberConf(conf string, e *labtest.Env, old, new string, members []string) string {
	var b strings.Builder
	for line := range strings.Lines(conf) {
		key, _, _ := strings.Cut(line, "=")
		switch key {
		case "ETCD_NAME":
			line = "ETCD_NAME=" + new + "\n"
		case "ETCD_INITIAL_CLUSTER":
			line = "ETCD_INITIAL_CLUSTER=" + e.Cluster(members...) + "\n"
		case "ETCD_INITIAL_CLUSTER_STATE":
			line = "ETCD_INITIAL_CLUSTER_STATE=existing\n"
		default: // the data dir is named after the member
			line = strings.ReplaceAll(line, e.Addrs[old].String()+":", e.Addrs[new].String()+":")
			line = strings.ReplaceAll(line, old, new)
		}
		b.WriteString(line)
	}
	return b.String()
}

// sideBySide is a benchmark's record of rounds: the floor's time and
// etcdplay's, reported as medians and their ratio.
type sideBySide struct{ floor, etcdplay, etcd []time.Duration }

func (s *sideBySide) report(b *testing.B, what string) {
	f, p, w := median(s.floor), median(s.etcdplay), median(s.etcd)
	b.ReportMetric(float64(f.Milliseconds()), "floor-ms")
	b.ReportMetric(float64(p.Milliseconds()), "etcdplay-ms")
	b.ReportMetric(float64(w.Milliseconds()), "etcd-wait-ms")
	// etcdplay's own time, round by round: what is left when its waits
	// on etcd are taken out. Steadier than the ratio when etcd's own
	// time (a bootstrap's election: 0.3 to 2.5 s) varies more than
	// etcdplay's.
	own := make([]time.Duration, len(s.etcdplay))
	for i := range own {
		own[i] = s.etcdplay[i] - s.etcd[i]
	}
	o := median(own)
	b.ReportMetric(float64(o.Milliseconds()), "own-ms")
	b.ReportMetric(float64(p)/float64(f), "ratio")
	fmt.Fprintf(os.Stderr, "%s, %d rounds: floor median %s %v, etcdplay median %s %v (its own time %s %v): ratio %.2f\n", what, len(s.floor),
		f.Round(time.Millisecond), rounded(s.floor), p.Round(time.Millisecond), rounded(s.etcdplay), o.Round(time.Millisecond), rounded(own), float64(p)/float64(f))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

func (s *sideBySide) add(floor time.Duration, r labtest.Run) {
	s.floor = append(s.floor, floor)
	s.etcdplay = append(s.etcdplay, r.Elapsed)
	s.etcd = append(s.etcd, labtest.EtcdWait(r))
}
