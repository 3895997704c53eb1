package main

import (
	"os"

	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

// newPool builds the SSH connection pool from the connection flags. The
// sudo password (-K) is asked once, here, before any host is contacted.
func newPool(c *cli.Context) (*transport.Pool, error) {
	if f := c.Int("forks"); f < 1 {
		return nil, badInput("--forks %d: must be at least 1", f)
	}
	cfg := transport.Config{
		User:              c.String("user"),
		ConnectTimeout:    c.Duration("timeout"),
		KnownHostsFile:    c.String("known-hosts"),
		AcceptNewHostKeys: c.Bool("accept-new-host-keys"),
		SSHConfigFile:     c.String("ssh-config"),
	}
	if k := c.String("private-key"); k != "" {
		cfg.KeyFiles = []string{k}
	}
	if isTerminal(os.Stdin) {
		cfg.Passphrase = func(file string) ([]byte, error) {
			s, err := readSecret(fmt.Sprintf("passphrase for %s: ", file))
			return []byte(s), err
		}
	}
	if c.Bool("ask-become-pass") {
		pw, err := readSecret("BECOME password: ")
		if err != nil {
			return nil, badInput("-K: %v", err)
		}
		cfg.BecomePassword = pw
	}
	pool, err := transport.NewPool(cfg)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return pool, nil
}

// newConnector is newPool as the engine wants it, with the function that
// closes every connection at the end of the run.
func newConnector(c *cli.Context) (engine.Connector, func(), error) {
	pool, err := newPool(c)
	if err != nil {
		return nil, nil, err
	}
	return engine.SSHConnector(pool), func() { pool.Close() }, nil
}
