package etcd

import (
	"errors"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// knownEtcdError is a failure message etcd gives for a mistake an operator
// can fix, with what causes it and what to do.
type knownEtcdError struct {
	// match is a substring of the message etcd returns or logs.
	match string
	cause string
	fix   string
	// repair is the shipped playbook that repairs a member in this state:
	// "recreate" (replace with old = new = the member's host) or "add"
	// (the host is no member any more); "" when none.
	repair string
}

// knownEtcdErrors are matched in order against the text of an error from
// the etcd client or from etcd's own log (journalctl); the first match
// explains it. Messages are those of etcd v3.4 to v3.6.
var knownEtcdErrors = []knownEtcdError{
	{
		// raft's panic when a member's log is shorter than the leader
		// knows it to be: "tocommit(9) is out of range [lastIndex(0)].
		// Was the raft log corrupted, truncated, or lost?"
		match:  "is out of range [lastIndex(",
		cause:  "the member's raft log is shorter than the cluster knows it to be: its data dir was lost, emptied or restored from an older copy while the cluster still lists it, and etcd stops rather than serve old data",
		fix:    "re-create the member on its host, which removes it, moves its data dir aside (kept) and adds it again as a learner: etcdplay run replace -i INVENTORY -e old=HOST -e new=HOST",
		repair: "recreate",
	},
	{
		match:  "cluster ID mismatch",
		cause:  "this member and the cluster it talks to belong to different clusters: its data dir was created by another cluster (an earlier bootstrap, or a bootstrap run twice with state \"new\"), or its initial cluster lists peer URLs of another cluster",
		fix:    "re-create the member on its host, which removes it, moves its data dir aside (kept) and adds it again as a learner: etcdplay run replace -i INVENTORY -e old=HOST -e new=HOST",
		repair: "recreate",
	},
	{
		match: "member count is unequal",
		cause: "the joining member's ETCD_INITIAL_CLUSTER does not list the same members as the running cluster (a member was added or removed since the string was built, or it was written by hand)",
		fix:   "start the member with exactly the initial_cluster string member_add returned (it lists every current member), with ETCD_INITIAL_CLUSTER_STATE=\"existing\"",
	},
	{
		match: "unmatched member while checking PeerURLs",
		cause: "a peer URL in the joining member's ETCD_INITIAL_CLUSTER does not match the peer URLs the cluster has for that member",
		fix:   "use the initial_cluster string member_add returned; if a member's peer URL really changed, change it in the cluster first with member_update",
	},
	{
		match: "PeerURLs: no match found for existing member",
		cause: "a peer URL in the joining member's ETCD_INITIAL_CLUSTER does not match the peer URLs the cluster has for that member",
		fix:   "use the initial_cluster string member_add returned; if a member's peer URL really changed, change it in the cluster first with member_update",
	},
	{
		match:  "permanently removed",
		cause:  "this member was removed from the cluster (member_remove) and its data dir still holds the old member's identity; a removed member can never rejoin under its old ID",
		fix:    "add it again as a new member, which moves its old data dir aside: etcdplay run add -i INVENTORY -e new=HOST",
		repair: "add",
	},
	{
		match: "too many learner members in cluster",
		cause: "the cluster already has as many learners as it allows (--max-learners, 1 by default)",
		fix:   "start and promote the existing learner first (member_promote), or remove it if it is a leftover (member_remove)",
	},
	{
		match: "can only promote a learner member which is in sync with leader",
		cause: "the learner has not caught up with the leader's log yet (or is not running, or cannot reach the other members on its peer URL)",
		fix:   "make sure the learner is started and its peer URL is reachable from the leader, then promote again with a longer timeout (member_promote retries until the timeout)",
	},
	{
		match: "can only promote a learner member",
		cause: "the member is already a voting member",
		fix:   "nothing to promote; check the member table (member_list)",
	},
	{
		match: "Peer URLs already exists",
		cause: "another member already has this peer URL",
		fix:   "if that member is a leftover of an earlier attempt, remove it (member_remove) or reuse it; to move a member to a new address use member_update",
	},
	{
		match: "member ID already exist",
		cause: "a member with this ID is already in the cluster",
		fix:   "list the members (member_list) and reuse or remove the existing one",
	},
	{
		match: "re-configuration failed due to not enough started members",
		cause: "etcd's own quorum check (--strict-reconfig-check) refused the membership change: after it, too few started members would be left to keep quorum (etcd counts a member as started once it has been connected for 5 seconds)",
		fix:   "bring the stopped members back first (wait_healthy shows which), then retry",
	},
	{
		match: "member not found",
		cause: "the member ID is not in the cluster's member list (already removed, or an ID from another cluster)",
		fix:   "check the member table with member_list",
	},
	{
		match:  "has already been bootstrapped",
		cause:  "this member started with ETCD_INITIAL_CLUSTER_STATE=\"new\" but the cluster it names is already running with it as a member; its data dir was lost or wiped",
		fix:    "re-create the member on its host, which removes it, moves its data dir aside (kept) and adds it again as a learner: etcdplay run replace -i INVENTORY -e old=HOST -e new=HOST",
		repair: "recreate",
	},
	{
		match: "couldn't find local name",
		cause: "ETCD_NAME is not one of the names in ETCD_INITIAL_CLUSTER",
		fix:   "make ETCD_INITIAL_CLUSTER contain NAME=PEER_URL for this member, with ETCD_NAME spelled the same (render_conf checks this)",
	},
	{
		match: "database space exceeded",
		cause: "the backend database reached its quota (--quota-backend-bytes) and the cluster raised the NOSPACE alarm: it accepts only reads and deletes",
		fix:   "compact and defragment (etcdctl compact, etcdctl defrag), then disarm the alarm (etcdctl alarm disarm); raise the quota if the data really needs the room",
	},
	{
		match: "user name is empty",
		cause: "the cluster has authentication enabled and etcdplay gave no user",
		fix:   "set etcd_user and its password: etcd_password_file (a file on the control machine), the environment variable ETCDPLAY_ETCD_PASSWORD, or etcd_password",
	},
	{
		match: "authentication failed, invalid user ID or password",
		cause: "etcd does not know this user, or the password is not its",
		fix:   "check etcd_user and its password (etcd_password_file, ETCDPLAY_ETCD_PASSWORD or etcd_password)",
	},
	{
		match: "etcdserver: permission denied",
		cause: "the cluster has authentication enabled and the user etcdplay asked as may not do this: etcd_user, or without it the common name of etcdplay's client certificate, or nobody",
		fix:   "set etcd_user to root, or to a user with a role that may read and write /etcdplay/ (etcdplay's lock and change record) and do what the playbook changes (member changes need root), and its password: etcd_password_file (a file on the control machine), the environment variable ETCDPLAY_ETCD_PASSWORD, or etcd_password",
	},
	{
		match: "etcdserver: no leader",
		cause: "the member answering has no leader: the cluster has lost quorum or is electing one",
		fix:   "check which members are down (wait_healthy, member_list) and bring enough of them back to regain quorum",
	},
	{
		match: "etcdserver: request timed out",
		cause: "the request was not committed in time: the cluster may have lost quorum, or its disks or network are too slow",
		fix:   "check the members' health (wait_healthy) and etcd's log (journalctl -u etcd)",
	},
	{
		match: "etcdserver: unhealthy cluster",
		cause: "etcd accepts a membership change only when the member handling it has been connected to the voting members for the last 5 seconds; it was not (a member is down, or one started moments ago)",
		fix:   "bring every member back to health (wait_healthy), wait a few seconds, then retry; the member modules retry this by themselves for a while",
	},
}

// IsAuthError says whether err is etcd refusing the request's user: no
// user, an unknown one, a wrong password, or no permission. Waiting does
// not change it.
func IsAuthError(err error) bool {
	for _, e := range []error{rpctypes.ErrPermissionDenied, rpctypes.ErrUserEmpty, rpctypes.ErrAuthFailed, rpctypes.ErrUserNotFound, rpctypes.ErrInvalidAuthToken, rpctypes.ErrInvalidAuthMgmt} {
		if errors.Is(err, e) || err != nil && strings.Contains(err.Error(), e.Error()) {
			return true
		}
	}
	return false
}

// ExplainedError is an error from etcd that the modules recognise, explained.
type ExplainedError struct {
	Err   error
	Cause string
	Fix   string
}

func (e *ExplainedError) Error() string {
	return e.Err.Error() + " (cause: " + e.Cause + "; fix: " + e.Fix + ")"
}

func (e *ExplainedError) Unwrap() error { return e.Err }

// Explain returns err with the cause and fix of the first known etcd
// failure its text contains, or err unchanged. It is applied to errors from
// the etcd client and to etcd log lines shown after a failed start.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var already *ExplainedError
	if errors.As(err, &already) {
		return err
	}
	if k, ok := matchEtcdError(err.Error()); ok {
		return &ExplainedError{Err: err, Cause: k.cause, Fix: k.fix}
	}
	return err
}

// ExplainLog returns the explanation of the first known etcd failure
// found in a log excerpt, or "".
func ExplainLog(log string) string {
	if k, ok := matchEtcdError(log); ok {
		return "cause: " + k.cause + "; fix: " + k.fix
	}
	return ""
}

// Diagnosis is what a known failure in a member's log says.
type Diagnosis struct {
	Cause, Fix string
	// Repair names the shipped playbook that repairs it: "recreate"
	// (replace with old = new), "add", or "".
	Repair string
	// Line is the log line that shows it.
	Line string
}

// Diagnose finds the known failure a member's log shows, the last one
// logged when there are several.
func Diagnose(log string) (Diagnosis, bool) {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if k, ok := matchEtcdError(lines[i]); ok {
			return Diagnosis{Cause: k.cause, Fix: k.fix, Repair: k.repair, Line: strings.TrimSpace(lines[i])}, true
		}
	}
	return Diagnosis{}, false
}

func matchEtcdError(msg string) (knownEtcdError, bool) {
	for _, k := range knownEtcdErrors {
		if strings.Contains(msg, k.match) {
			return k, true
		}
	}
	return knownEtcdError{}, false
}
