package inventory

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// addVarsDir records the directory whose group_vars/ and host_vars/ apply
// to an inventory source given to Load: the source itself if it is a
// directory, else the directory it is in (Ansible's host_group_vars).
func (b *builder) addVarsDir(source string, isDir bool) {
	dir := source
	if !isDir {
		dir = filepath.Dir(source)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for _, d := range b.varsDirs {
		if d == dir {
			return
		}
	}
	b.varsDirs = append(b.varsDirs, dir)
}

// loadVarsDirs reads group_vars/NAME and host_vars/NAME for every group and
// host, from each recorded directory in order. Files for groups and hosts
// the inventory does not have are ignored, as in Ansible.
func (b *builder) loadVarsDirs() error {
	for _, dir := range b.varsDirs {
		gv, err := listVarsDir(filepath.Join(dir, "group_vars"))
		if err != nil {
			return err
		}
		for _, g := range b.groups {
			vars, err := b.readVarsFor(gv, g.name)
			if err != nil {
				return err
			}
			g.fileVars = append(g.fileVars, vars...)
		}
		hv, err := listVarsDir(filepath.Join(dir, "host_vars"))
		if err != nil {
			return err
		}
		for _, h := range b.hosts {
			vars, err := b.readVarsFor(hv, h.name)
			if err != nil {
				return err
			}
			h.fileVars = append(h.fileVars, vars...)
		}
	}
	return nil
}

// varsDir is the entries of a group_vars or host_vars directory, read once
// rather than probed with four stats per host.
type varsDir struct {
	path    string
	entries map[string]os.DirEntry
}

func listVarsDir(path string) (*varsDir, error) {
	list, err := os.ReadDir(path)
	if os.IsNotExist(err) || (err != nil && !isDir(path)) {
		return nil, nil
	}
	if err != nil {
		return nil, &ParseError{File: path, Msg: "cannot read variables directory: " + pathErr(err)}
	}
	d := &varsDir{path: path, entries: make(map[string]os.DirEntry, len(list))}
	for _, e := range list {
		d.entries[e.Name()] = e
	}
	return d, nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

var varsExtensions = []string{"", ".yml", ".yaml", ".json"}

// readVarsFor reads the variables for one group or host: NAME (a file, or
// a directory whose files are read in name order), else NAME.yml,
// NAME.yaml or NAME.json, the first that exists.
func (b *builder) readVarsFor(d *varsDir, name string) ([]hostVar, error) {
	// Names that are paths ("/chroot/x", "a/b", "..") are not looked up.
	if d == nil || name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return nil, nil
	}
	for _, ext := range varsExtensions {
		if _, ok := d.entries[name+ext]; !ok {
			continue
		}
		path := filepath.Join(d.path, name+ext)
		if isDir(path) {
			files, err := varsFilesIn(path)
			if err != nil {
				return nil, err
			}
			var out []hostVar
			for _, f := range files {
				vars, err := b.readVarsFile(f)
				if err != nil {
					return nil, err
				}
				out = append(out, vars...)
			}
			return out, nil
		}
		return b.readVarsFile(path)
	}
	return nil, nil
}

// varsFilesIn lists the variable files under dir: in name order, into
// subdirectories, skipping hidden and backup files and other extensions.
func varsFilesIn(dir string) ([]string, error) {
	list, err := os.ReadDir(dir)
	if err != nil {
		return nil, &ParseError{File: dir, Msg: "cannot read variables directory: " + pathErr(err)}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
	var out []string
	for _, e := range list {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			continue
		}
		path := filepath.Join(dir, name)
		ext := filepath.Ext(name)
		switch {
		case isDir(path):
			if ext == "" {
				more, err := varsFilesIn(path)
				if err != nil {
					return nil, err
				}
				out = append(out, more...)
			}
		case ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json":
			out = append(out, path)
		}
	}
	return out, nil
}

// readVarsFile reads one YAML file of variables.
func (b *builder) readVarsFile(path string) ([]hostVar, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ParseError{File: path, Msg: "cannot read variables file: " + pathErr(err)}
	}
	secret := isVaulted(data)
	if secret {
		if data, err = b.openVault(path, data); err != nil {
			return nil, err
		}
	}
	root, err := decodeYAML(path, data)
	if err != nil || root == nil {
		return nil, err
	}
	y := &yamlReader{b: b, file: path, budget: yamlBudget, expanding: map[*yaml.Node]bool{},
		warn: func(w string) { b.warnings = append(b.warnings, w) }}
	root, err = y.deref(root)
	if err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, y.at(root).errorf("expected a mapping of variable names to values, found %s", kindOf(root))
	}
	pairs, err := y.pairs(root)
	if err != nil {
		return nil, err
	}
	out := make([]hostVar, 0, len(pairs))
	for _, p := range pairs {
		key, err := y.varName(p.key)
		if err != nil {
			return nil, err
		}
		v, err := y.value(p.val, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, hostVar{key, value{v, y.at(p.key), secret}})
	}
	return out, nil
}
