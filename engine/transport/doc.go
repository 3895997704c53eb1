// Package transport reaches hosts: a Conn runs commands and moves files,
// and a Pool (NewPool) opens Conns over golang.org/x/crypto/ssh and
// github.com/pkg/sftp, one connection per host for a whole run, with
// known_hosts checking, agent and key-file authentication, ~/.ssh/config,
// jump hosts and sudo.
package transport
