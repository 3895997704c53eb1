package modules

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/etcd"
)

type certsArgs struct {
	User   string
	Renew  bool
	CA     string
	Verify bool
}

// certs puts each host's etcd TLS certificates in place, as its etcd_tls
// says, before its etcd starts with them.
//
// With etcd_tls=auto, etcdplay's own CA on the control machine (the
// directory etcd_pki_dir, default etcd-pki beside the inventory) is made
// on first use, with etcdplay's client certificate; each member's server
// certificate (for clients) and peer certificate are issued from it with
// the member's address, inventory name, member name and the hosts of its
// URLs as subject alternative names (and 127.0.0.1 and localhost for the
// server certificate). A certificate already issued is kept while it
// holds those names and is not within 30 days of its end; renew=True
// issues new ones. Add and replace issue the new member's from the same
// CA.
//
// With etcd_tls=files, the operator's files (etcd_ca_file,
// etcd_cert_file, etcd_key_file, and etcd_peer_cert_file,
// etcd_peer_key_file when the peer certificate is another) are checked
// first, refusing (exit status 5) with the host and the reason: the key
// is the certificate's, the certificate chains to the CA, holds the
// names and addresses the member advertises, may be used as a server
// (a peer certificate as server and client) and is not expired. They are
// files on the control machine, uploaded; with etcd_tls_files_on_host
// they are already on the host and only checked there.
//
// Uploaded files go to etcd_host_pki_dir (default /etc/etcd/pki): ca.crt,
// server.crt, peer.crt (mode 0644) and server.key, peer.key (mode 0600),
// owned by the etcd user, which must exist (install_etcd makes it); a
// file that is the same already is left. --diff never shows a key.
//
// With etcd_tls=none (the default) there is nothing to do.
//
// Arguments:
//
//	user   the user etcd runs as, owner of the files (default etcd)
//	renew  issue new certificates (etcd_tls=auto) even when those there
//	       are good
//	ca     etcd_tls=auto, rotating the CA: "add_new" makes a new CA that
//	       signs from now on, members trusting both it and the old one
//	       (ca.crt becomes a bundle of both); "drop_old" leaves the signing
//	       CA alone in the bundle, once every certificate is its; "keep"
//	       (the default) leaves the CA as it is. Once per run and
//	       directory, whatever the number of hosts.
//	verify only check (etcd_tls=files: the operator's files as above;
//	       auto: that etcdplay's CA can be read), changing nothing: the
//	       shipped playbooks do so before they install anything, so that
//	       a bad certificate stops the run with nothing changed
//
// The result has ca (the CA file on the host), expires (when the member's
// server certificate expires, RFC 3339) and issued (whether new ones were
// issued).
//
// Check mode: reads and checks everything; it says what it would make,
// issue and upload, and makes nothing on the control machine either.
//
// Example:
//
//	certs(ctx.hosts("etcd"), become = True)
var certsModule = &engine.HostModule[certsArgs]{
	Name: "certs",
	Args: func(a *certsArgs) []any {
		return []any{"user?", &a.User, "renew?", &a.Renew, "ca?", &a.CA, "verify?", &a.Verify}
	},
	Validate: func(a *certsArgs) error {
		switch a.CA {
		case "", "keep", "add_new", "drop_old":
			return nil
		}
		return fmt.Errorf("ca: got %q, want \"keep\", \"add_new\" or \"drop_old\"", a.CA)
	},
	Plan: planCerts,
}

// pkiOnce makes etcdplay's CA once per run and directory, whichever host
// of a call gets there first.
type pkiOnce struct {
	mu   sync.Mutex
	made map[string]*etcd.CA
}

var runPKI = engine.RunKey[*pkiOnce]{Name: "etcd CA"}

func (o *pkiOnce) ca(p etcd.LocalPKI) (*etcd.CA, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ca, ok := o.made[p.Dir]; ok {
		return ca, nil
	}
	ca, err := p.CreateCA("etcdplay CA " + time.Now().UTC().Format("2006-01-02"))
	if err != nil {
		return nil, fmt.Errorf("etcdplay's CA in %s: %w", p.Dir, err)
	}
	if err := p.IssueClient(ca); err != nil {
		return nil, fmt.Errorf("etcdplay's client certificate in %s: %w", p.Dir, err)
	}
	o.made[p.Dir] = ca
	return ca, nil
}

// rotate changes the CA once per run and directory (ca= of certs).
func (o *pkiOnce) rotate(p etcd.LocalPKI, how string) (*etcd.CA, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := p.Dir + "|" + how
	if ca, ok := o.made[key]; ok {
		return ca, nil
	}
	var ca *etcd.CA
	var err error
	switch how {
	case "add_new":
		ca, err = p.AddCA("etcdplay CA " + time.Now().UTC().Format("2006-01-02T15:04"))
	case "drop_old":
		ca, err = p.DropOldCAs()
	}
	if err != nil {
		return nil, fmt.Errorf("etcdplay's CA in %s: %w", p.Dir, err)
	}
	o.made[key] = ca
	return ca, nil
}

// pkiFile is one of the files a member reads.
type pkiFile struct {
	dest    string
	content []byte
	secret  bool
}

func planCerts(ctx context.Context, c *engine.HostCall, a *certsArgs) (engine.Plan, error) {
	if a.User == "" {
		a.User = "etcd"
	}
	id, err := etcd.IdentityOf(c.Host)
	if err != nil {
		return engine.Plan{}, err
	}
	switch id.TLS {
	case etcd.TLSAuto:
		return planAutoCerts(ctx, c, a, id)
	case etcd.TLSOwnFiles:
		return planOwnCerts(ctx, c, a, id)
	}
	return engine.NothingToDo("etcd_tls is none: etcdplay puts no certificates"), nil
}

func planAutoCerts(ctx context.Context, c *engine.HostCall, a *certsArgs, id etcd.Identity) (engine.Plan, error) {
	p := etcd.LocalPKI{Dir: c.LocalPath(etcd.LocalPKIDir(c.Host))}
	c.Set("ca", id.HostPKI.CA)
	ca, err := p.LoadCA()
	fresh := err != nil && os.IsNotExist(err)
	if err != nil && !fresh {
		return engine.Plan{}, engine.BadInput("etcd_tls=auto: %v", err)
	}
	if a.Verify {
		if fresh {
			return engine.NothingToDo("etcd_tls=auto: etcdplay's CA will be made in %s", p.Dir), nil
		}
		return engine.NothingToDo("etcd_tls=auto: etcdplay's CA in %s issues the certificates", p.Dir), nil
	}
	if a.CA == "add_new" || a.CA == "drop_old" {
		if fresh {
			return engine.Plan{}, engine.BadInput("ca=%s: there is no CA in %s to rotate", a.CA, p.Dir)
		}
		return engine.Do(engine.Action{
			Desc: map[string]string{"add_new": "make a new CA in " + p.Dir + " that signs from now on; members trust it and the old one",
				"drop_old": "leave only the signing CA in " + p.Dir + "/ca.crt"}[a.CA] + "; put the CA bundle in " + id.HostPKI.CA,
			Do: func(ctx context.Context) error {
				ca, err := runPKI.Get(c, func() *pkiOnce { return &pkiOnce{made: map[string]*etcd.CA{}} }).rotate(p, a.CA)
				if err != nil {
					return err
				}
				return putPKI(ctx, c, a, id, []pkiFile{{dest: id.HostPKI.CA, content: ca.PEM}})
			},
		}), nil
	}
	// What is issued already and good stays; the rest is issued in an
	// action: check mode makes nothing, on the control machine either.
	need := a.Renew || fresh
	var files []pkiFile
	if !need {
		files = []pkiFile{{dest: id.HostPKI.CA, content: ca.PEM}}
		for _, u := range []etcd.Usage{etcd.UsageServer, etcd.UsagePeer} {
			cf, kf := p.MemberFiles(id.Name, u)
			cb, err1 := os.ReadFile(cf)
			kb, err2 := os.ReadFile(kf)
			if err1 != nil || err2 != nil || etcd.CheckCert(cf, cb, kb, ca.PEM, id.SANs(u), u, time.Now().Add(etcd.RenewBefore)) != nil {
				need = true
				break
			}
			files = append(files, hostFile(id, u, cb, kb)...)
		}
	}
	if need {
		what := fmt.Sprintf("issue %s's server and peer certificates from etcdplay's CA in %s", id.Name, p.Dir)
		if fresh {
			what = fmt.Sprintf("make etcdplay's CA and client certificate in %s and issue %s's server and peer certificates", p.Dir, id.Name)
		}
		c.Set("issued", true)
		return engine.Do(engine.Action{
			Desc: what + "; put them in " + id.HostPKI.Dir,
			Do: func(ctx context.Context) error {
				ca, err := runPKI.Get(c, func() *pkiOnce { return &pkiOnce{made: map[string]*etcd.CA{}} }).ca(p)
				if err != nil {
					return err
				}
				if a.Renew {
					// After a CA rotation, etcdplay's own certificate
					// follows the members'.
					if err := p.ClientFromSigner(ca); err != nil {
						return fmt.Errorf("etcdplay's client certificate: %w", err)
					}
				}
				files := []pkiFile{{dest: id.HostPKI.CA, content: ca.PEM}}
				for _, u := range []etcd.Usage{etcd.UsageServer, etcd.UsagePeer} {
					if a.Renew {
						cf, kf := p.MemberFiles(id.Name, u)
						os.Remove(cf)
						os.Remove(kf)
					}
					cb, kb, _, err := p.IssueMember(ca, id, u)
					if err != nil {
						return fmt.Errorf("issue %s's %s certificate: %w", id.Name, u, err)
					}
					files = append(files, hostFile(id, u, cb, kb)...)
					if u == etcd.UsageServer {
						setExpiry(c, cb)
					}
				}
				return putPKI(ctx, c, a, id, files)
			},
		}), nil
	}
	c.Set("issued", false)
	for _, f := range files {
		if f.dest == id.HostPKI.Cert {
			setExpiry(c, f.content)
		}
	}
	return planPKIFiles(ctx, c, a, id, files)
}

// hostFile are the files of a usage on the host.
func hostFile(id etcd.Identity, u etcd.Usage, cert, key []byte) []pkiFile {
	cf, kf := id.HostPKI.Cert, id.HostPKI.Key
	if u == etcd.UsagePeer {
		cf, kf = id.HostPKI.PeerCert, id.HostPKI.PeerKey
	}
	return []pkiFile{{dest: cf, content: cert}, {dest: kf, content: key, secret: true}}
}

func setExpiry(c *engine.HostCall, cert []byte) {
	if t, err := etcd.CertExpiry(cert); err == nil {
		c.Set("expires", t.UTC().Format(time.RFC3339))
	}
}

func planOwnCerts(ctx context.Context, c *engine.HostCall, a *certsArgs, id etcd.Identity) (engine.Plan, error) {
	h := c.Host
	onHost := etcd.HostBool(h, etcd.VarFilesOnHost)
	read := func(v string) ([]byte, string, error) {
		p := etcd.HostVar(h, v)
		if onHost {
			b, err := c.ReadFile(ctx, p)
			return b, p + " (on " + h.Name + ", " + v + ")", err
		}
		b, err := os.ReadFile(c.LocalPath(p))
		return b, p + " (" + v + ")", err
	}
	caPEM, caName, err := read(etcd.VarCAFile)
	if err != nil {
		return engine.Plan{}, engine.Refuse("the CA file %s: %v; nothing was changed", caName, err)
	}
	c.Set("ca", id.HostPKI.CA)
	files := []pkiFile{{dest: id.HostPKI.CA, content: caPEM}}
	for _, u := range []etcd.Usage{etcd.UsageServer, etcd.UsagePeer} {
		cv, kv := etcd.VarCertFile, etcd.VarKeyFile
		if u == etcd.UsagePeer && etcd.HostVar(h, etcd.VarPeerCertFile) != "" {
			cv, kv = etcd.VarPeerCertFile, etcd.VarPeerKeyFile
		}
		cb, cname, err := read(cv)
		if err != nil {
			return engine.Plan{}, engine.Refuse("the %s certificate %s: %v; nothing was changed", u, cname, err)
		}
		kb, kname, err := read(kv)
		if err != nil {
			return engine.Plan{}, engine.Refuse("the %s key %s: %v; nothing was changed", u, kname, err)
		}
		if err := etcd.CheckCert(u.String()+" certificate "+cname, cb, kb, caPEM, id.Required(u), u, time.Now()); err != nil {
			return engine.Plan{}, engine.Refuse("%v; nothing was changed", err)
		}
		if u == etcd.UsageServer {
			setExpiry(c, cb)
		}
		files = append(files, hostFile(id, u, cb, kb)...)
	}
	if onHost || a.Verify {
		return engine.NothingToDo("the certificates for %s are good: they chain to %s and hold %s", h.Name, caName, strings.Join(id.Required(etcd.UsageServer), ", ")), nil
	}
	return planPKIFiles(ctx, c, a, id, files)
}

// planPKIFiles plans writing the files of the host's PKI that differ.
func planPKIFiles(ctx context.Context, c *engine.HostCall, a *certsArgs, id etcd.Identity, files []pkiFile) (engine.Plan, error) {
	var dir fileFacts
	plans, err := planPKIWrites(ctx, c, a, files, statFact(id.HostPKI.Dir, false).into(&dir).optional())
	if err != nil {
		return engine.Plan{}, err
	}
	var actions []engine.Action
	if !dir.Dir {
		actions = append(actions, engine.Action{Desc: "create " + id.HostPKI.Dir + " (mode 0755)", Do: func(ctx context.Context) error {
			_, err := shellOK(ctx, c, "mkdir -p -m 0755 -- "+transport.QuoteWord(id.HostPKI.Dir))
			return err
		}})
	}
	var reasons []string
	for i, f := range files {
		p := plans[i]
		actions = append(actions, p.Actions...)
		if len(p.Actions) == 0 {
			reasons = append(reasons, path.Base(f.dest))
		}
	}
	if len(actions) == 0 {
		return engine.NothingToDo("certificates in place in %s (%s)", id.HostPKI.Dir, strings.Join(reasons, ", ")), nil
	}
	return engine.Do(actions...), nil
}

// putPKI writes the files from an action (after they were issued).
func putPKI(ctx context.Context, c *engine.HostCall, a *certsArgs, id etcd.Identity, files []pkiFile) error {
	if _, err := shellOK(ctx, c, "mkdir -p -m 0755 -- "+transport.QuoteWord(id.HostPKI.Dir)); err != nil {
		return err
	}
	plans, err := planPKIWrites(ctx, c, a, files)
	if err != nil {
		return err
	}
	for _, p := range plans {
		for _, act := range p.Actions {
			if err := act.Do(ctx); err != nil {
				return fmt.Errorf("%s: %w", act.Desc, err)
			}
		}
	}
	return nil
}

func pkiWant(a *certsArgs, f pkiFile) wantFile {
	mode := engine.FileMode{Mode: 0o644, Set: true}
	if f.secret {
		mode.Mode = 0o600
	}
	return wantFile{Path: f.dest, Content: f.content, Mode: mode, Owner: a.User, Group: a.User, Secret: f.secret}
}

// planPKIWrites plans writing each of files, reading them (and more)
// in one round trip.
func planPKIWrites(ctx context.Context, c *engine.HostCall, a *certsArgs, files []pkiFile, more ...query) ([]engine.Plan, error) {
	stats := make([]fileFacts, len(files))
	for i, f := range files {
		more = append(more, statFact(f.dest, true).into(&stats[i]))
	}
	if err := readFacts(ctx, c, more...); err != nil {
		return nil, err
	}
	plans := make([]engine.Plan, len(files))
	for i, f := range files {
		p, err := planWriteFrom(ctx, c, pkiWant(a, f), stats[i])
		if err != nil {
			return nil, err
		}
		plans[i] = p
	}
	return plans, nil
}
