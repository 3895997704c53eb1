package engine

// Topics are the documentation etcdplay doc prints besides modules.
var Topics = map[string]string{
	"playbook": PlaybookDoc,
	"output":   OutputDoc,
	"plan":     PlanDoc,
}

// PlanDoc documents plans (etcdplay doc plan).
const PlanDoc = `A plan is what a run would do, written down for review, and what that
rests on; etcdplay run --apply runs exactly it.

    etcdplay run replace -i inv.ini -e old=etcd-2 -e new=etcd-4 --check --plan-out replace.plan
    less replace.plan                      # review it; diff it with another plan
    etcdplay run --apply replace.plan      # within the hour

WHAT A PLAN HOLDS
    The playbook and the files it loads, each with its sha256; the
    command (etcdplay run PLAYBOOK and its flags, files made absolute);
    the extra vars; every inventory host with its variables; the etcdplay
    binary (version and sha256); what the modules read of the cluster and
    the hosts: the cluster ID, each member's ID, name, role, peer and
    client URLs, whether it answers and its etcd version, the data dirs
    and etcd installs of the hosts a change is to use, and, only to
    inform, the leader and the revision; and every module call, in order,
    with its targets, its arguments on each host and what it would do
    there: the effect of each action (member added with these peer URLs,
    member removed, file written with this content and diff, unit
    started) or nothing.

    The file is text to read, then the same as JSON between
    -----BEGIN ETCDPLAY PLAN----- and -----END ETCDPLAY PLAN-----, which
    is what --apply reads; etcdplay plan show FILE renders the text from
    it, --json prints it. A file whose text is not its JSON's rendering
    is refused. Secrets are not in it: the run's secrets are masked,
    variables and arguments named for a password, secret or token are
    left out, a private key's content is neither shown nor hashed; give
    such extra vars again to --apply (-e NAME=VALUE).

    Nothing in it depends on when it was made: the same cluster and
    inputs give the same bytes, so two plans can be compared with diff.
    (A cluster that is written to has another revision each time.)

APPLYING
    etcdplay run --apply FILE [-o json] [-v] [--diff] [--break-lock]
    [--plan-max-age D] runs the plan's command, and nothing else:
      1. the file must be a plan whose text is its JSON's, written less
         than --plan-max-age ago (default 1h; its modification time:
         a plan carries no time, so that it is the same bytes for the
         same inputs, and writing it again renews it), made by this very
         etcdplay binary;
      2. the plan is made again, in a check run that shows nothing, and
         compared: any difference in what the modules read (a member gone
         or added, one that stopped answering, a data dir that holds other
         data), in the inventory, the extra vars or the playbook's files,
         and the first step that would do otherwise (another argument, a
         file that changed since, so another diff; the leader counts only
         here, when who leads changes what a step does) is named, and the
         apply is refused (exit status 5), nothing changed;
      3. the command runs for real, with its gates, lock and snapshot, and
         each module call must be the plan's next step (module, position,
         targets, arguments), checked before any host is contacted, and
         each action on a host an effect the plan's step has there,
         checked before it acts; an effect the plan has that a host no
         longer needs (etcd exited by itself) is no deviation. At the first
         deviation the run stops, refused, before it acts, and says, as
         any run that stopped, how to continue. A run that ends before the
         plan's last step is refused too.
    Refusals name the command that makes the plan again.

    Between the re-read of step 2 and the lock the run takes, another
    operator may change the cluster; step 3 catches what that changes.
    Check mode's safety gates count the cluster as it is: a plan whose
    gate would pass only once an earlier step ran (a member the replace
    adds first, with another member down) is refused, as its check run is.
    A change a playbook's on_failure undo makes (-e on_failure=rollback)
    is outside the plan.
`

// PlaybookDoc documents writing playbooks (etcdplay doc playbook).
const PlaybookDoc = `A playbook is a Starlark file (a small Python dialect) with a main(ctx)
function. etcdplay run calls it; each module call in it runs at once, in
parallel on its target hosts (at most --forks at a time), and returns the
results, so later steps can use what earlier ones found.

    load("lib/hosts.star", "names")

    def main(ctx):
        etcd = ctx.hosts("etcd")
        r = command(etcd, "etcd --version")
        for x in r:
            print(x.host.name, x.stdout.splitlines()[0])
        copy(etcd, dest = "/etc/motd", content = "managed by etcdplay\n", become = True)

CONTEXT
    ctx.hosts(pattern="all")  hosts matching an inventory pattern ("etcd",
                              "etcd:!etcd-3", "etcd-*"), within --limit
    ctx.host(name)            one host by name (also outside --limit; module
                              calls then skip it)
    ctx.vars                  the extra vars (-e key=value, -e @vars.yaml,
                              -e '{"k": "v"}'); every host's h.vars has them
                              too, over its inventory variables
    ctx.check, ctx.diff       true with --check, --diff
    ctx.command               the command line that started the run, to
                              print as the one that continues it
    ctx.command_for(playbook, k=v, ..., drop = [names])
                              that command line with another playbook,
                              these extra vars set and those in drop left
                              out, for a remedy that is another playbook's
                              run
    ctx.exec_command(pattern, module, k=v, ...)
                              the etcdplay exec command that runs module on
                              pattern's hosts, reaching them as this run
                              does, for a remedy that is one module call
    ctx.dropped_hosts         hosts that have left the run (failed, unreachable)
    ctx.connect(hosts)        open the SSH connections to hosts now, in the
                              background (at most -f at a time), so the first
                              call on each does not wait for its handshake;
                              returns at once. A host it cannot reach is
                              reported by the first call on it, as without
                              connect; hosts outside --limit are not dialled

HOSTS
    h.name, h.address, h.port, h.user, h.groups, h.vars (its variables:
    the inventory's, with extra vars winning over every one of them, as in
    Ansible; etcdplay inventory --host NAME -e ... shows which win).
    h.etcd is the etcd member the host is meant to run, computed once from
    its variables (etcdplay doc etcd): name, peer_url, client_url, data_dir,
    conf_file, tls, settings, ...
    Hosts compare by name and can be dict keys and set members.

MODULE CALLS
    module(TARGET, ARGS..., COMMON...)
    TARGET is a host, a list of hosts, or a pattern string ("etcd"); or
    give it as hosts=. ARGS are the module's (etcdplay doc MODULE).

    Per-host values: any argument may be a dict keyed by host, or a
    function of the host; it is resolved for each host before the hosts
    are contacted, so the hosts still run in parallel:
        copy(etcd, dest = "/etc/etcd/name", content = lambda h: h.name + "\n")
        copy(etcd, dest = "/etc/etcd/role", content = {a: "x", b: "y"})

    COMMON arguments, for every module:
        ignore_errors=True       a failed host stays in the run
        ignore_unreachable=True  an unreachable host stays in the run
        timeout="30s"            fail a host whose attempt takes longer
        retries=N, delay="1s"    try again up to N more times, delay apart,
                                 while the host fails
        until=FUNCTION           ... or until FUNCTION(result) is true
                                 (retries default to 3 with until)
        become=True, become_user="etcd"   run through sudo (default:
                                 -b/--become, then the inventory's
                                 ansible_become)
        run_once=True            only the first target host
        serial=N                 N hosts at a time; a failure in a batch
                                 stops the rest of the call and the run
        hosts=TARGET             the target, as a keyword
    A module may take over a common name for its own meaning (wait_healthy's
    timeout= is how long to wait for the cluster).

RESULTS
    A host module returns results: r.ok (no host failed or was unreachable),
    r.changed, r.hosts, r.ok_hosts (ok or changed), r.changed_hosts,
    r.failed_hosts,
    r.unreachable_hosts, r.skipped_hosts, len(r), r[host] or r["name"] for
    one host's result, and iteration over the per-host results. Called on
    one host, r.stdout etc. read that host's result directly.
    A per-host result has host, ok, changed, failed, unreachable, skipped,
    msg, rc, stdout, stderr, attempts, and the module's own data.
    A cluster module (member_add, wait_healthy, ...) acts once through the
    first of its targets that answers and returns one such result.

FAILURES
    A host that fails or is unreachable leaves the run: later calls skip
    it, and the recap shows where it left. A call that no target host
    came through (each failed, was unreachable or had left the run) stops
    the run there, as Ansible's "no hosts left" does: the steps after it
    were written for those hosts. Give ignore_errors=True (or
    ignore_unreachable=True) to go on and decide from r.ok. fail(msg)
    stops the run with msg (exit status 1); refuse(msg) stops it as a
    safety check does, before the step it refuses (exit status 5). A
    refusal by a module's safety check, a bad argument,
    or an error in the playbook stops the run, with the file:line:col of
    the call (-v adds the Starlark backtrace).

    on_failure(fn, undo = None) registers fn(failure), called when the
    run ends badly after it changed something: failure.pos, .module,
    .host, .msg, .refused and .interrupted say where and why it stopped.
    fn runs in check mode (its module calls only read) within 15s; what it
    prints is the recap's TO RECOVER section, which should say where the
    change stands and the one command that continues or undoes it. A run
    that changed nothing prints no recovery advice. undo(failure), when
    given, runs first and for real, within 5 minutes, to take the change
    back (add and replace give it with -e on_failure=rollback): its module
    calls act and are shown, on hosts that left the run too; what it
    prints goes to the recap. It does not run after Ctrl-C.

ROLLING CHANGES
    for batch in serial(ctx.hosts("etcd"), 1):    # or serial(hosts, "30%")
        systemd(batch, unit = "etcd", state = "restarted")
        wait_healthy(ctx.hosts("etcd"))
    A host of a batch leaving the run stops the run before the next batch.

CHECK MODE
    --check runs every module's reading part and reports what it would
    change ("would ..."); no action runs, nothing is written on any host.
    Results of actions that did not run lack their output (rc is None).
    --diff shows file content changes as unified diffs.

LOADING
    load("helpers.star", "f") loads a file relative to the loading file;
    load("lib/etcd.star", ...) finds the shipped library when no such local
    file exists. Local paths of modules (copy src=, fetch dest=) are relative
    to the playbook's directory (for shipped playbooks, the working
    directory).

LANGUAGE
    Starlark (https://github.com/google/starlark-go/blob/master/doc/spec.md)
    with sets, while loops, top-level if/for and global reassignment; no
    recursion. There is no file or network access except through modules.
    Besides Starlark's builtins: fail, refuse, on_failure, serial, truthy,
    struct, json (encode, decode, indent), and the modules. print() writes
    to the run's output.

    truthy(v) reads an extra var or an inventory variable as a boolean by
    Ansible's rule, the one every boolean argument follows: True or
    False, 1 or 0, or yes/no, true/false, on/off, y/n, t/f in any case.
    Any other value stops the run as bad input, naming it, so that a typo
    (-e recreate=ture) does not quietly mean no:
        if truthy(ctx.vars.get("recreate", False)):
            ...
`
