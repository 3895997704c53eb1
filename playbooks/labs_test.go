//go:build linux

package playbooks_test

import (
	"testing"

	"github.com/etcdplay/etcdplay/lab/labtest"
)

// The lab tests run in parallel, each group in a lab of its own: a name,
// bridge and subnet that neither a user's lab (10.77.0.0/24), TestLab
// (10.77.1.0/24), the modules' lab tests (10.77.7.0/24) nor another
// group uses, and a fixed directory, so that a run that crashed is
// cleaned up by the next. Tests of one group take turns on its lab.
type labGroup struct {
	name, bridge, subnet string
	env                  string // ETCDPLAY_<env>_DIR and _SUBNET override the directory and subnet
}

var (
	// e2eLab: the shipped playbooks end to end, plain and TLS.
	e2eLab = labGroup{"etcdplay-e2e", "etcdplay-e2", "10.77.2.0/24", "E2E"}
	// drLab: restore, recover and maintenance.
	drLab = labGroup{"etcdplay-dr", "etcdplay-dr", "10.77.3.0/24", "DR"}
	// faultLab: runs interrupted at every step.
	faultLab = labGroup{"etcdplay-ft", "etcdplay-ft", "10.77.4.0/24", "FAULT"}
	// safetyLab: the refusals and procedures under a writer.
	safetyLab = labGroup{"etcdplay-sf", "etcdplay-sf", "10.77.5.0/24", "SAFETY"}
	// upgradeLab: etcd installed by version, upgraded and downgraded.
	upgradeLab = labGroup{"etcdplay-up", "etcdplay-up", "10.77.6.0/24", "UPGRADE"}
	// planLab: plans applied and refused, changes rolled back.
	planLab = labGroup{"etcdplay-pl", "etcdplay-pl", "10.77.9.0/24", "PLAN"}
)

// e2eHosts: etcd-1..3 in group etcd, etcd-4..6 spare.
const e2eHosts = 6

// e2eGroups are the groups the tests use besides etcd and spare.
const e2eGroups = "[stale]\netcd-1\n\n[mixed]\netcd-6\netcd-4\netcd-5\n\n[current]\netcd-2\netcd-4\netcd-5\n\n[members]\netcd-1\netcd-4\netcd-5\n"

// boot boots a fresh lab of group g with hosts hosts and the inventory
// text groups; tls says the harness's clients use etcdplay's CA.
func (g labGroup) boot(tb testing.TB, hosts int, groups string, tls bool) *labtest.Env {
	spec := g.spec()
	spec.Hosts, spec.Groups, spec.TLS = hosts, groups, tls
	return labtest.Setup(tb, spec)
}

// spec is the group's lab, without hosts.
func (g labGroup) spec() labtest.Spec {
	return labtest.Spec{Name: g.name, Bridge: g.bridge, Subnet: g.subnet,
		SubnetEnv: "ETCDPLAY_" + g.env + "_SUBNET", DirEnv: "ETCDPLAY_" + g.env + "_DIR"}
}

// setupLab boots group g's lab for the end-to-end steps: etcd-1..3 in
// group etcd, etcd-4..6 spare, and the groups the tests use.
func setupLab(tb testing.TB, g labGroup) *labtest.Env { return g.boot(tb, e2eHosts, e2eGroups, false) }
