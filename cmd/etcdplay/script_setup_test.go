package main

import (
	"github.com/rogpeppe/go-internal/testscript"
)

// scriptSetup prepares each script's environment. Scripts get HOME inside
// their work dir so no user's ~/.ssh is read.
func scriptSetup(env *testscript.Env) error {
	env.Setenv("HOME", env.WorkDir+"/home")
	env.Setenv("NO_COLOR", "1")
	return nil
}

// scriptCmds are extra testscript commands.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){}
}
