// Command etcdplay runs etcd cluster operations as Starlark playbooks over
// SSH against an Ansible-style inventory.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(profiled(func() int { return run(os.Args, os.Stdout, os.Stderr) }))
}

// profiled runs f, writing a CPU profile of it to $ETCDPLAY_CPUPROFILE
// when set: where a run's own time goes (go tool pprof FILE).
func profiled(f func() int) int {
	file := os.Getenv("ETCDPLAY_CPUPROFILE")
	if file == "" {
		return f()
	}
	out, err := os.Create(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdplay: ETCDPLAY_CPUPROFILE:", err)
		return 4
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintln(os.Stderr, "etcdplay: ETCDPLAY_CPUPROFILE:", err)
		return 4
	}
	defer pprof.StopCPUProfile()
	return f()
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "etcdplay",
		Usage: "run etcd cluster operations as playbooks over SSH",
		Description: "etcdplay bootstraps, grows, shrinks and repairs etcd clusters with\n" +
			"Starlark playbooks run over SSH against an Ansible-style inventory,\n" +
			"and runs ad-hoc commands and modules across hosts.",
		Version:              version,
		HideVersion:          true,
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			runCommand(),
			planCommandLine(),
			checkCommand(),
			execCommand(),
			inventoryCommand(),
			playbooksCommand(),
			docCommand(),
			labCommand(),
			versionCommand(),
		},
		CustomAppHelpTemplate: cli.AppHelpTemplate + exitCodesHelp,
		// Errors are printed once, by run, with their exit code.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// run is main without os.Exit: it returns the exit code, so the test
// binary can be the etcdplay command of testscript's scripts (TestMain).
func run(args []string, stdout, stderr *os.File) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	argv := reorderArgs(app, args)
	app.Metadata = map[string]any{argvKey: argv}
	err := app.RunContext(ctx, argv)
	if err == nil {
		return exitCode(nil)
	}
	if !errors.Is(err, errQuiet) {
		fmt.Fprintf(stderr, "etcdplay: %v\n", err)
	}
	return exitCode(err)
}
