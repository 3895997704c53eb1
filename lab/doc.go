// Package lab runs the rehearsal lab: a few Debian hosts on this Linux
// machine, each booted by systemd-nspawn with real systemd as PID 1 and
// OpenSSH, its own address on a private bridge, its own hostname, machine-id,
// host keys and a writable overlay over one shared read-only base image.
//
// The shipped playbooks and the end-to-end tests run against it, and
// operators rehearse playbooks on it before production. Lab writes an
// Ansible-format inventory and a known_hosts file so etcdplay connects to the
// hosts with strict host key checking.
//
// Everything the lab creates on the machine (mounts, network namespaces,
// veth pairs, the bridge, a blackhole route for the lab subnet, cgroup
// directories, processes) is recorded in a state file under the lab
// directory, so Destroy removes exactly that and nothing else. Processes are
// only ever signalled by recorded PID, after checking that the PID still
// names the process the lab started.
package lab
