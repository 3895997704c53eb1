// Package modules holds the modules playbooks call, one file each, and
// All, the one list that registers them. A module reads the host first
// (Plan) and changes only the difference through its actions; its doc
// comment is its user documentation, printed by etcdplay doc NAME.
//
// Helpers shared by several modules (reading file facts, writing a file)
// live in their own files here; no module calls another.
package modules
