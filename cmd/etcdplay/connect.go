package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

// newPool builds the SSH connection pool the options say. The sudo
// password (-K) is asked once, here, before any host is contacted.
// openShell is for playbook runs (see transport.Config.OpenShell).
func newPool(o connectionOptions, openShell bool) (*transport.Pool, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	cfg := transport.Config{
		User:              o.User,
		ConnectTimeout:    o.Timeout,
		KnownHostsFile:    o.KnownHosts,
		AcceptNewHostKeys: o.AcceptNewHostKeys,
		SSHConfigFile:     o.SSHConfig,
		OpenShell:         openShell,
	}
	if o.PrivateKey != "" {
		cfg.KeyFiles = []string{o.PrivateKey}
	}
	if isTerminal(os.Stdin) {
		cfg.Passphrase = func(file string) ([]byte, error) {
			s, err := readSecret(fmt.Sprintf("passphrase for %s: ", file))
			return []byte(s), err
		}
	}
	if o.AskBecomePass {
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
func newConnector(o connectionOptions, openShell bool) (engine.Connector, func(), error) {
	pool, err := newPool(o, openShell)
	if err != nil {
		return nil, nil, err
	}
	return engine.SSHConnector(pool), func() { pool.Close() }, nil
}

// check refuses connection options that cannot work, before any host is
// contacted: a --timeout of zero or less would make every host
// "unreachable: connect timed out", and a --private-key that is a
// directory or missing would be skipped in silence.
func (o connectionOptions) check() error {
	if o.Forks < 1 {
		return badInput("--forks %d: expected at least 1", o.Forks)
	}
	if o.Timeout <= 0 {
		return badInput("--timeout %s: expected a time to wait above zero, such as 10s", o.Timeout)
	}
	if k := o.PrivateKey; k != "" {
		if err := regularFile(k); err != nil {
			return badInput("--private-key %s: %v: expected a private key file", k, err)
		}
	}
	if k := o.KnownHosts; k != "" && isDirectory(k) {
		return badInput("--known-hosts %s: is a directory: expected a known_hosts file (it is created if missing)", k)
	}
	if f := o.SSHConfig; f != "" && f != "none" {
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
