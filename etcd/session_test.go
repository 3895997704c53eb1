package etcd

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/peer"

	"github.com/etcdplay/etcdplay/etcd/etcdtest"
)

// TestReachProbesOnlyWithoutAReadyConnection: a member is probed before
// the run's first request to it and whenever its connection is not ready
// (it went down), but not while a ready connection shows the way works;
// over TLS the certificate's expiry is known either way, from the probe's
// handshake or from the connection's.
func TestReachProbesOnlyWithoutAReadyConnection(t *testing.T) {
	c := etcdtest.Start(t, 3, etcdtest.Options{TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := NewSession(ctx, c.ClientTLS())
	u := c.Members[2].ClientURL

	status := func() (bool, error) { return askStatus(ctx, s, u) }
	if probed, err := status(); err != nil || !probed {
		t.Fatalf("first status: probed %v, %v; want a probe and an answer", probed, err)
	}
	if probed, err := status(); err != nil || probed {
		t.Fatalf("second status: probed %v, %v; want no probe over the ready connection", probed, err)
	}

	// The expiry comes from the connection's handshake too, not only the
	// probe's.
	s.pool.expiryMu.Lock()
	clear(s.pool.expiry)
	s.pool.expiryMu.Unlock()
	if probed, err := status(); err != nil || probed {
		t.Fatalf("third status: probed %v, %v", probed, err)
	}
	if exp := s.CertExpiry(u); exp.Before(time.Now()) {
		t.Errorf("certificate expiry from the connection: %v, want a time to come", exp)
	}

	// Down: the connection is not ready any more, so the way is probed,
	// and the probe's reason is the error.
	c.Members[2].Stop()
	deadline := time.Now().Add(5 * time.Second)
	for s.ready(s.clientKey(u)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	probed, err := status()
	if err == nil || !probed || !strings.Contains(ShortErr(err), "connection refused") {
		t.Errorf("status of a stopped member: probed %v, %v; want a probe that says connection refused", probed, err)
	}

	// whyFailed: a request that failed over a connection taken as ready is
	// given the probe's reason.
	if why := s.whyFailed(ctx, u, false, context.DeadlineExceeded); !strings.Contains(ShortErr(why), "connection refused") {
		t.Errorf("whyFailed: %v, want the probe's connection refused", why)
	}
	if why := s.whyFailed(ctx, u, true, context.DeadlineExceeded); why != context.DeadlineExceeded {
		t.Errorf("whyFailed after a probe: %v, want the request's own error", why)
	}
}

// TestReachAMemberDownAtFirstContact: the client reach makes before its
// probe (so that its connection comes up beside the probe) is not kept
// when the probe finds the member down: it would redial it for the rest
// of the run.
func TestReachAMemberDownAtFirstContact(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := c.Members[0].ClientURL
	c.Members[0].Stop()
	s := NewSession(ctx, nil)
	probed, err := askStatus(ctx, s, u)
	if err == nil || !probed || !strings.Contains(ShortErr(err), "connection refused") {
		t.Fatalf("status of a member down before the first contact: probed %v, %v; want the probe's connection refused", probed, err)
	}
	s.pool.mu.Lock()
	n := len(s.pool.clients)
	s.pool.mu.Unlock()
	if n != 0 {
		t.Errorf("%d clients kept after the probe failed, want none", n)
	}
}

// TestStatusUsesTheClientsConnection: clientv3's Status (and HashKV,
// Defragment) would dial a connection of its own for every call; the
// client of a member answers them over the one it has.
func TestStatusUsesTheClientsConnection(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := c.Members[0].ClientURL
	var dials atomic.Int32
	cli, err := newEtcdClient(u, nil, Credentials{}, func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}, func(*peer.Peer) {})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for range 5 {
		if _, err := cli.Status(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.HashKV(ctx, u, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("10 requests dialled %d connections, want 1", n)
	}
}

// TestReachWithAuthOverTLS: a client that authenticates as it is made
// (etcd's auth on) over TLS records the certificate it sees while the
// pool makes it; that must not wait for the pool's own lock.
func TestReachWithAuthOverTLS(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := c.Client()
	if _, err := admin.UserAdd(ctx, "root", "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	s := NewSession(ctx, c.ClientTLS())
	s.Creds = Credentials{User: "root", Password: "secret"}
	u := c.Members[0].ClientURL
	done := make(chan error, 1)
	go func() {
		cl, err := s.Members(ctx, []string{u})
		if err == nil && len(cl.Members) != 1 {
			err = errors.New("want one member")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the member list with auth over TLS did not return: the session is stuck")
	}
	if s.CertExpiry(u).IsZero() {
		t.Error("no certificate expiry recorded")
	}
}

// TestReachAfterAHostDiedSilently: a member whose host dies without
// closing the connection leaves it looking ready; once a request over it
// failed and a probe found why, the next requests probe first, and fail
// at once, instead of each waiting out its deadline on that connection.
func TestReachAfterAHostDiedSilently(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A proxy in front of the member that can go silent: its listener
	// closes (a probe is refused) and its connections stop carrying
	// anything without closing, as a powered-off host's do.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(c.Members[0].ClientURL, "http://")
	silent := make(chan struct{})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					select {
					case <-silent:
						return // holds both open, carries nothing
					default:
					}
					if err != nil {
						dst.Close()
						return
					}
					dst.Write(buf[:n])
				}
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	u := "http://" + ln.Addr().String()
	s := NewSession(ctx, nil)
	status := func() (bool, error) { return askStatus(ctx, s, u) }
	if _, err := status(); err != nil {
		t.Fatal(err)
	}
	close(silent)
	ln.Close()
	// The first request waits out its deadline on the silent connection;
	// the probe then says why.
	if probed, err := status(); err == nil || probed || !strings.Contains(ShortErr(err), "connection refused") {
		t.Fatalf("over the silent connection: probed %v, %v; want the probe's connection refused", probed, err)
	}
	// The next one probes first.
	if probed, err := status(); err == nil || !probed || !strings.Contains(ShortErr(err), "connection refused") {
		t.Errorf("next request: probed %v, %v; want a probe first, refused", probed, err)
	}
}

// askStatus asks the member at u for its status the way the session's
// callers do: reach, the request, whyFailed. It says whether it probed.
func askStatus(ctx context.Context, s *Session, u string) (bool, error) {
	cli, probed, err := s.reach(ctx, u)
	if err != nil {
		return probed, err
	}
	rctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	_, err = cli.Status(rctx, u)
	return probed, s.whyFailed(ctx, u, probed, err)
}
