package transport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// sshConfig reads the keys etcdplay honours from an OpenSSH client config:
// Host, HostName, User, Port, IdentityFile, ProxyJump,
// StrictHostKeyChecking and UserKnownHostsFile. Parsing is
// kevinburke/ssh_config's, which follows ssh_config(5) (first value wins,
// Include, patterns with negation) better than a hand parser would.
type sshConfig struct {
	cfg *ssh_config.Config
}

func loadSSHConfig(file, home string) (*sshConfig, error) {
	explicit := file != ""
	switch file {
	case "none":
		return &sshConfig{}, nil
	case "":
		file = filepath.Join(home, ".ssh", "config")
	}
	f, err := os.Open(file)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return &sshConfig{}, nil
		}
		return nil, fmt.Errorf("ssh config: %w", err)
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w", file, err)
	}
	return &sshConfig{cfg: cfg}, nil
}

func (s *sshConfig) get(alias, key string) string {
	if s.cfg == nil {
		return ""
	}
	v, err := s.cfg.Get(alias, key)
	if err != nil {
		return ""
	}
	return v
}

func (s *sshConfig) getAll(alias, key string) []string {
	if s.cfg == nil {
		return nil
	}
	vs, err := s.cfg.GetAll(alias, key)
	if err != nil {
		return nil
	}
	return vs
}

// knownHostsFiles is UserKnownHostsFile for alias, or ~/.ssh/known_hosts.
func (s *sshConfig) knownHostsFiles(alias, home string) []string {
	var files []string
	for _, v := range s.getAll(alias, "UserKnownHostsFile") {
		for _, f := range strings.Fields(v) {
			if f != "/dev/null" {
				files = append(files, expandHome(f, home))
			}
		}
	}
	if len(files) == 0 {
		files = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	return files
}
