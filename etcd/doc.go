// Package etcd is how etcdplay sees an etcd cluster: a member's identity
// from its inventory host (name, peer and client URLs), the TLS files and
// the paths that reach its client port, sessions of clients, member lists
// and statuses, quorum verdicts with their arithmetic, the lock that keeps
// two operators apart, and the explanations of etcd's known errors. The
// modules call it; they do not compute any of this themselves. What a
// session reads of the cluster (the member list, each member's status)
// it observes for a plan (engine.HostCall.Observe).
package etcd
