// Package modules holds the modules playbooks call, one file each, and
// All, the one list that registers them. A module reads the host first
// (Plan) and changes only the difference through its actions; its doc
// comment is its user documentation, printed by etcdplay doc NAME.
//
// Writing a module: a file declares an argument struct and one
// engine.HostModule (runs on every target host, one result per host) or
// engine.ClusterModule (acts once through the first target that answers,
// one result), and adds it to All:
//
//	type unitArgs struct {
//		Unit  string
//		State string
//	}
//
//	// systemd manages a unit on each host. ... (the user documentation:
//	// what it does, Arguments:, the result's data, Check mode:, Example:)
//	var systemdModule = &engine.HostModule[unitArgs]{
//		Name: "systemd",
//		Args: func(a *unitArgs) []any { return []any{"unit", &a.Unit, "state?", &a.State} },
//		Validate: func(a *unitArgs) error { ... },   // bad input, before any host
//		Plan: func(ctx context.Context, c *engine.HostCall, a *unitArgs) (engine.Plan, error) {
//			// Read only: c.Run, c.Shell, c.Output, c.Get. Record data with c.Set.
//			if active {
//				return engine.NothingToDo("unit %s is active", a.Unit), nil
//			}
//			return engine.Do(engine.Action{
//				Desc: "start " + a.Unit,
//				Do:   func(ctx context.Context) error { ... }, // writes go here (c.Put too)
//			}), nil
//		},
//	}
//
// Plan errors fail the host (an unreachable error marks it unreachable);
// engine.Refuse stops the run with exit status 5, engine.BadInput with 4.
// Check mode never calls Do, and c.Put refuses to write outside Do. A
// cluster module's Plan returns an error wrapping engine.ErrTryNext for the
// engine to try the next target, and reaches other targets with
// c.Connect. Set result data in Plan where possible so playbooks using it
// work in check mode.
//
// Helpers shared by several modules (reading file facts, writing a file)
// live in their own files here; no module calls another.
package modules
