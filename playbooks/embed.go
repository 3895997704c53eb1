// Package playbooks holds the playbooks shipped in the etcdplay binary and
// their shared library (lib/), run by name: etcdplay run NAME. Each
// playbook documents itself in its module docstring or leading comment;
// etcdplay playbooks lists them with its first line.
package playbooks

import "embed"

// FS holds the shipped files: NAME.star playbooks at the top, their shared
// library under lib/. The Go files here (this one, the end-to-end tests)
// are not shipped.
//
//go:embed *.star lib
var FS embed.FS
