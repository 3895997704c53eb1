// Package playbooks holds the playbooks shipped in the etcdplay binary and
// their shared library (lib/), run by name: etcdplay run NAME. Each
// playbook documents itself in its module docstring or leading comment;
// etcdplay playbooks lists them with its first line.
package playbooks

import "embed"

// FS holds the shipped files: NAME.star playbooks at the top, their shared
// library under lib/. Other files here (this one) are not playbooks.
//
//go:embed *
var FS embed.FS
