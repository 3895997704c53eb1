// Package transport reaches hosts: Conn runs commands and moves files, and
// SSH implements it over golang.org/x/crypto/ssh and github.com/pkg/sftp with
// one connection per host, known_hosts checking, agent and key-file
// authentication, ~/.ssh/config, jump hosts and sudo.
package transport
