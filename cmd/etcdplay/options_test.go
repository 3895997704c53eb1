package main

import (
	"slices"
	"testing"
)

// TestReorderArgs: flags typed after positional arguments reach the
// command's options, in order, with their values; what follows "--" is
// the remote command's, flags and all; lab's subcommands reorder their own.
func TestReorderArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"run", "replace", "-i", "inv.ini", "-e", "old=etcd-2", "--check"},
			[]string{"run", "-i", "inv.ini", "-e", "old=etcd-2", "--check", "replace"}},
		{[]string{"exec", "etcd", "-l", "etcd-1", "-b", "--forks=5", "--", "ls", "-l", "/"},
			[]string{"exec", "-l", "etcd-1", "-b", "--forks=5", "etcd", "--", "ls", "-l", "/"}},
		{[]string{"lab", "ssh", "etcd-1", "--dir", "/tmp/lab", "--", "uptime"},
			[]string{"lab", "ssh", "--dir", "/tmp/lab", "etcd-1", "--", "uptime"}},
		{[]string{"--help"}, []string{"--help"}},
	} {
		got := reorderArgs(newApp(), append([]string{"etcdplay"}, tc.in...))
		if want := append([]string{"etcdplay"}, tc.want...); !slices.Equal(got, want) {
			t.Errorf("reorderArgs(%q):\n got %q\nwant %q", tc.in, got, want)
		}
	}
}
