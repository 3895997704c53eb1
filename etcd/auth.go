package etcd

import (
	"os"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// Variables of etcd's authentication: a cluster with auth enabled takes
// requests from a user with a password. The password comes from
// etcd_password_file (a file on the control machine), the environment
// variable ETCDPLAY_ETCD_PASSWORD, or etcd_password, in that order; it is
// never printed: the run's output masks it (engine.HostCall.Secret).
const (
	VarUser         = "etcd_user"
	VarPassword     = "etcd_password"
	VarPasswordFile = "etcd_password_file"
	EnvPassword     = "ETCDPLAY_ETCD_PASSWORD"
)

// Credentials are a user and password for etcd's authentication.
type Credentials struct {
	User, Password string
}

// key tells credentials apart among a run's clients without the password.
func (c Credentials) key() string { return c.User }

// credentialsFor reads the credentials of a call on h; none when h has no
// etcd_user.
func credentialsFor(c *engine.HostCall, h *inventory.Host) (Credentials, error) {
	user := HostVar(h, VarUser)
	if user == "" {
		return Credentials{}, nil
	}
	var pw string
	switch f := HostVar(h, VarPasswordFile); {
	case f != "":
		b, err := os.ReadFile(c.LocalPath(f))
		if err != nil {
			return Credentials{}, engine.BadInput("%s of %s: %v", VarPasswordFile, h.Name, pathErr(err))
		}
		pw = strings.TrimRight(string(b), "\r\n")
	case os.Getenv(EnvPassword) != "":
		pw = os.Getenv(EnvPassword)
	default:
		pw = HostVar(h, VarPassword)
	}
	if pw == "" {
		return Credentials{}, engine.BadInput("host %s: %s=%s, and no password: give %s (a file on the control machine), the environment variable %s, or %s",
			h.Name, VarUser, user, VarPasswordFile, EnvPassword, VarPassword)
	}
	c.Secret(pw)
	return Credentials{User: user, Password: pw}, nil
}
