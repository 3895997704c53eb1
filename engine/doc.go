// Package engine runs Starlark playbooks against an inventory: it loads a
// playbook and its load()s, turns every module into a Starlark builtin
// through one wrapper (targets, per-host arguments, fan-out within the forks
// limit, retries, check mode, dropping failed hosts), and reports what
// happened as a stream of events that the text and JSON printers render.
//
// The engine knows modules only through the Module interface: HostModule
// runs on every target host and returns one result per host; ClusterModule
// acts once on a cluster through the first target that answers. Both read
// first (Plan) and change only what their actions say; check mode is the
// same code stopping before the actions run.
//
// A module call in a playbook goes through the files named for each step:
// wrapper.go (call: the one wrapper, with the common arguments of
// options.go and the targets of targets.go), then fanout.go for a host
// module (batches and the parallel fan-out, retry.go around each attempt)
// or cluster.go for a cluster module (one call, trying the targets in
// turn), then apply.go (Plan, then the actions' Do outside check mode). A
// module reaches its host through the HostCall of call.go, whose Run and
// Put go to the host's transport.Conn.
//
// A check run can record its plan (Config.Record: every call of main as
// a step, with its arguments and, on each host, the effects and diffs of
// what it would do, and what the modules observed of the cluster and the
// hosts), and a real run can follow one (Config.Follow), refusing a call
// or an action the plan does not have before it acts: planrun.go, with
// the file a plan is written as in planfile.go. Check mode knows what the
// earlier calls of its run would have written (HostCall.WouldHave), so a
// later step plans as the run will find the host.
//
// Besides a playbook's main, the engine runs one call ad hoc: a module with
// key=value arguments (RunModule, etcdplay exec -m) or a shell command line
// (RunCommand, etcdplay exec -- CMD). A command goes through the one module
// the engine has of its own, exec, which playbooks do not see; it runs the
// command while planning, since a command cannot say what it would change.
//
// The engine reaches hosts only through a Connector, and never imports the
// modules package; cmd/etcdplay wires the two together. It says how an
// error ended a run as an ErrorKind; the CLI decides the exit status.
package engine
