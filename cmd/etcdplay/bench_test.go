package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine/transport/sshdtest"
)

// buildEtcdplay returns the real binary ($ETCDPLAY_BIN, as make bench
// sets it, or built here), so what is measured is a user's process: its
// start, its connections, its exit.
func buildEtcdplay(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("ETCDPLAY_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(b.TempDir(), "etcdplay")
	out, err := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".").CombinedOutput()
	if err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkExec100Hosts runs "etcdplay exec -f 100 all -- true" on 100
// loopback hosts served by real sshd, with fresh connections every time,
// and reports wall time, etcdplay's own CPU time and peak RSS, and the CPU
// sshd spent: on two cores sshd's share bounds the wall time from below.
func BenchmarkExec100Hosts(b *testing.B) { benchExec(b, 100, 100) }

// BenchmarkExec1000Hosts is BenchmarkExec100Hosts on 1000 hosts, 200 at a
// time: the size at which issue 16 bounds exec's peak RSS.
func BenchmarkExec1000Hosts(b *testing.B) { benchExec(b, 1000, 200) }

func benchExec(b *testing.B, hosts, forks int) {
	srv := sshdtest.Start(b, hosts)
	dir := b.TempDir()
	inv := srv.WriteInventory(b, dir)
	bin := buildEtcdplay(b)
	var wall, cpu, sshdCPU time.Duration
	var maxRSS int64
	b.ResetTimer()
	for range b.N {
		before, err := srv.CPUTime()
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "exec", "-i", inv, "--known-hosts", srv.KnownHosts, "--ssh-config", "none", "-f", strconv.Itoa(forks), "all", "--", "true")
		cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		wall += time.Since(start)
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		maxRSS = max(maxRSS, ru.Maxrss) // KiB on Linux
		// sshd reaps its per-connection children a moment after they end.
		time.Sleep(200 * time.Millisecond)
		after, _ := srv.CPUTime()
		sshdCPU += after - before
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "wall-s/op")
	b.ReportMetric(cpu.Seconds()/n, "cpu-s/op")
	b.ReportMetric(float64(maxRSS)/1024, "peak-rss-MiB")
	b.ReportMetric(sshdCPU.Seconds()/n, "sshd-cpu-s/op")
}
