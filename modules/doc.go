// Package modules holds the modules playbooks call and All, the one list
// that registers them. A module reads the host first (Plan) and changes
// only the difference through its actions; its doc comment is its user
// documentation, printed by etcdplay doc NAME.
//
// A module is one file, named for it (member_add.go for member_add): its
// argument struct, its declaration with the doc comment, its Plan, and
// what only it uses, facts it alone reads included. No module calls
// another, and no module file holds code another uses: what several
// modules share lives in a file named for it:
//
//   - facts.go: Fact, a host read declared once (the command and the
//     parser of its output), and readFact and readFacts, the one way a
//     module reads a host: readFacts reads any number of facts in one
//     round trip. The facts several modules read are in facts_file.go
//     (statFact, existsFact, mtimesFact), facts_unit.go (systemdFact,
//     unitFact, unitStartFact, journalFact), facts_host.go (userFact,
//     versionFact, hostEtcdFact, ...) and facts_datadir.go (datadirFacts).
//   - write.go: planWrite and planWriteFrom, a file written atomically,
//     only when it differs, with --diff (copy, template, render_conf,
//     systemd, install_etcd, certs).
//   - run.go: planRun (command and shell) and shellOK, a command line
//     that must succeed.
//   - templating.go: templateData and render, for the template module
//     and the template= of systemd and render_conf.
//   - datadir.go: the checks of a data dir's owner before its data goes
//     (wipeLocal, dataOwner), for wipe_datadir and preflight.
//   - etcd_conf.go: the etcd settings render_conf checks and renders;
//     etcd_conf_versions.go: which of them each etcd minor (3.4, 3.5,
//     3.6) knows, for render_conf and upgrade_check.
//   - args.go: hostsArg, a list of hosts as an argument; cluster.go:
//     memberLabels, labelOf and changeData for the cluster modules, and
//     checkRun, what the cluster calls of a check run would have done
//     (the learner member_add adds, the record pending_change writes),
//     so that later calls plan as the run will find the cluster.
//   - modules.go: All, and Doc and Summary, which read the doc comments.
//
// How etcdplay sees a cluster (a member's identity, sessions, quorum, the
// lock, etcd's errors) is package etcd's; modules call it.
//
// Adding a module: write its file with an argument struct and one
// engine.HostModule (runs on every target host, one result per host) or
// engine.ClusterModule (acts once through the first target that answers,
// one result), read the host with facts, and add the declaration to All.
// diagnose.go is a small host module that reads several facts:
//
//	type diagnoseArgs struct {
//		DataDir string
//		Unit    string
//		Lines   int
//	}
//
//	// diagnose reads why the etcd member of each host is not working. ...
//	// (the user documentation: what it does, Arguments:, the result's
//	// data, Check mode:, Example:)
//	var diagnoseModule = &engine.HostModule[diagnoseArgs]{
//		Name: "diagnose",
//		Args: func(a *diagnoseArgs) []any {
//			return []any{"data_dir", &a.DataDir, "unit?", &a.Unit, "lines?", &a.Lines}
//		},
//		Validate: func(a *diagnoseArgs) error { ... }, // bad input, before any host
//		Plan:     planDiagnose,
//	}
//
//	func planDiagnose(ctx context.Context, c *engine.HostCall, a *diagnoseArgs) (engine.Plan, error) {
//		var f unitFacts
//		var journal string
//		err := readFacts(ctx, c, unitFact(unitName(a.Unit)).into(&f).optional(),
//			journalFact(unitName(a.Unit), a.Lines).into(&journal).optional())
//		...
//		c.Set("active", f.Active) // result data, set in Plan so check mode has it
//		return engine.NothingToDo("etcd is %s ...", f.Active), nil
//	}
//
// A module that changes something returns engine.Do(engine.Action{Desc:
// "start etcd.service", Do: func(ctx context.Context) error { ... }}): the
// writes go in Do (c.Put refuses to write outside it), and check mode
// never calls Do. An action whose Desc depends on what was there before
// or on the time (a size it replaces, the quorum's arithmetic, a backup's
// time stamp) also says its Effect, what it leaves, which a plan records
// and etcdplay run --apply compares. What a Plan read that the decision
// rests on is c.Observe(key, value) (the etcd layer observes the member
// list and statuses itself). Plan errors fail the host (an unreachable error marks
// it unreachable); engine.Refuse stops the run with exit status 5,
// engine.BadInput with 4. A cluster module's Plan returns an error
// wrapping engine.ErrTryNext for the engine to try the next target, and
// reaches other targets with c.Connect.
package modules
