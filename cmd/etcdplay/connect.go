package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

// newPool builds the SSH connection pool from the connection flags. The
// sudo password (-K) is asked once, here, before any host is contacted.
func newPool(c *cli.Context) (*transport.Pool, error) {
	if err := checkConnectionFlags(c); err != nil {
		return nil, err
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

// checkConnectionFlags refuses connection flags that cannot work, before
// any host is contacted: a --timeout of zero or less would make every
// host "unreachable: connect timed out", and a --private-key that is a
// directory or missing would be skipped in silence.
func checkConnectionFlags(c *cli.Context) error {
	if f := c.Int("forks"); f < 1 {
		return badInput("--forks %d: expected at least 1", f)
	}
	if t := c.Duration("timeout"); t <= 0 {
		return badInput("--timeout %s: expected a time to wait above zero, such as 10s", t)
	}
	if k := c.String("private-key"); k != "" {
		if err := regularFile(k); err != nil {
			return badInput("--private-key %s: %v: expected a private key file", k, err)
		}
	}
	if k := c.String("known-hosts"); k != "" && isDirectory(k) {
		return badInput("--known-hosts %s: is a directory: expected a known_hosts file (it is created if missing)", k)
	}
	if f := c.String("ssh-config"); f != "" && f != "none" {
		if err := regularFile(f); err != nil {
			return badInput("--ssh-config %s: %v: expected an ssh client config file, or 'none'", f, err)
		}
	}
	return nil
}

// regularFile says why path is not a file that can be read, or nil.
func regularFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return pathError(err)
	case fi.IsDir():
		return fmt.Errorf("is a directory")
	case !fi.Mode().IsRegular():
		return fmt.Errorf("is not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return pathError(err)
	}
	return f.Close()
}

func isDirectory(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// pathError is err without the path, which the message already names.
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
