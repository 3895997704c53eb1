package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/etcdplay/etcdplay/engine/transport/sshdtest"
)

// The floor exec is measured against: a bare x/crypto/ssh client that
// does only what exec -- true must (dial, authenticate with the key,
// check the host key, run the command, close), forks at a time, in a
// process of its own so that its peak RSS is its own. The test binary
// is that process when envBare holds its job.
const envBare = "ETCDPLAY_BARE_SSH"

type bareJob struct {
	Hosts      []string // host:port
	User       string
	KeyFile    string
	KnownHosts string
	Forks      int
	Command    string
}

// bareMain runs the bare client when the environment asks for it (TestMain
// calls it first), and exits.
func bareMain() {
	job := os.Getenv(envBare)
	if job == "" {
		return
	}
	if err := runBare(job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runBare(spec string) error {
	var j bareJob
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		return err
	}
	key, err := os.ReadFile(j.KeyFile)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return err
	}
	hk, err := knownhosts.New(j.KnownHosts)
	if err != nil {
		return err
	}
	cfg := &ssh.ClientConfig{User: j.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk, Timeout: 10 * time.Second}
	sem := make(chan struct{}, j.Forks)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for _, addr := range j.Hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := bareRun(addr, cfg, j.Command); err != nil {
				mu.Lock()
				failed = append(failed, addr+": "+err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		return fmt.Errorf("%d hosts failed, first: %s", len(failed), failed[0])
	}
	return nil
}

func bareRun(addr string, cfg *ssh.ClientConfig, cmd string) error {
	c, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	var out bytes.Buffer
	s.Stdout, s.Stderr = &out, &out
	return s.Run(cmd)
}

// BenchmarkExecVsBare1000Hosts runs, alternating, the bare client and
// etcdplay exec -f 200 all -- true on 1000 loopback hosts of real sshd,
// and reports each one's wall time and peak RSS and the ratio of the
// walls (etcdplay's over the floor's): issue 16 bounds it at 1.05 and
// etcdplay's peak RSS under 60 MiB.
func BenchmarkExecVsBare1000Hosts(b *testing.B) { benchVsBare(b, 1000, 200) }

func benchVsBare(b *testing.B, n, forks int) {
	srv := sshdtest.Start(b, n)
	dir := b.TempDir()
	inv := srv.WriteInventory(b, dir)
	bin := buildEtcdplay(b)
	job := bareJob{User: sshdtest.User, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts, Forks: forks, Command: "true"}
	for _, h := range srv.Hosts {
		job.Hosts = append(job.Hosts, net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)))
	}
	spec, _ := json.Marshal(job)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	run := func(cmd *exec.Cmd) (time.Duration, int64) {
		cmd.Env = append(cmd.Env, "SSH_AUTH_SOCK=")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("%s: %v\n%s", cmd.Args[0], err, out)
		}
		time.Sleep(200 * time.Millisecond) // sshd reaps its children
		return took, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	}
	var bareWall, execWall time.Duration
	var bareRSS, execRSS int64
	b.ResetTimer()
	for range b.N {
		bare := exec.Command(self, "-test.run", "^$")
		bare.Env = append(os.Environ(), envBare+"="+string(spec))
		w, rss := run(bare)
		bareWall += w
		bareRSS = max(bareRSS, rss)
		ex := exec.Command(bin, "exec", "-i", inv, "--known-hosts", srv.KnownHosts, "--ssh-config", "none", "-f", strconv.Itoa(forks), "all", "--", "true")
		ex.Env = os.Environ()
		w, rss = run(ex)
		execWall += w
		execRSS = max(execRSS, rss)
		b.Logf("round: etcdplay exec %s", w.Round(time.Millisecond))
	}
	k := float64(b.N)
	b.ReportMetric(bareWall.Seconds()/k, "bare-wall-s/op")
	b.ReportMetric(execWall.Seconds()/k, "exec-wall-s/op")
	b.ReportMetric(execWall.Seconds()/bareWall.Seconds(), "wall-ratio")
	b.ReportMetric(float64(bareRSS)/1024, "bare-peak-rss-MiB")
	b.ReportMetric(float64(execRSS)/1024, "exec-peak-rss-MiB")
}
