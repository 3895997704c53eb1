package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	bareMain()
	testscript.Main(m, map[string]func(){
		"etcdplay": func() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) },
	})
}

// TestScript runs the CLI tests in testdata/script/*.txtar. Scripts that need
// real hosts say [!sshd] skip and find them in $INV (see
// script_setup_test.go).
func TestScript(t *testing.T) {
	startScriptHosts(t)
	testscript.Run(t, testscript.Params{
		Condition:           scriptCondition,
		Dir:                 "../../testdata/script",
		Setup:               scriptSetup,
		RequireExplicitExec: true,
		Cmds:                scriptCmds(),
	})
}
