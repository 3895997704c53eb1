//go:build linux

package playbooks_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/lab/labtest"
)

// TestBroughtCerts: a cluster on the operator's own certificates
// (etcd_tls=files), made with openssl as an operator's CA would make them:
// a root CA, an intermediate that signs, RSA member certificates whose
// files carry the intermediate, and a client certificate for etcdplay.
// A member certificate without its member's address is refused before
// anything is changed on any host, naming the host, the address and what
// to issue; once it is reissued, bootstrap forms the cluster, etcdctl with
// the operator's client certificate reads it, status says when the
// certificates expire, and a replace onto a spare host uploads that
// host's certificate and joins it.
func TestBroughtCerts(t *testing.T) {
	t.Parallel()
	e := e2eLab.boot(t, 4, "", true)
	ca := newOpenSSLCA(t, filepath.Join(e.Work, "own-pki"))
	e.CAFile = ca.root
	e.CertFile, e.KeyFile = ca.issue(t, "etcdplay-client", "clientAuth")
	vars := fmt.Sprintf("etcd_tls: files\netcd_ca_file: %s\netcd_cacert: %s\netcd_cert: %s\netcd_key: %s\n", ca.root, ca.root, e.CertFile, e.KeyFile)
	writeVars(t, filepath.Join(e.Work, "group_vars", "all.yml"), vars)
	hosts := []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4"}
	for _, h := range hosts {
		addr := e.Addrs[h].String()
		if h == "etcd-3" {
			addr = e.Addrs["etcd-4"].String() // a certificate issued for the wrong host
		}
		cert, key := ca.issue(t, h, "serverAuth,clientAuth", "IP:"+addr, "IP:127.0.0.1", "DNS:"+h)
		writeVars(t, filepath.Join(e.Work, "host_vars", h+".yml"), fmt.Sprintf("etcd_cert_file: %s\netcd_key_file: %s\n", cert, key))
	}

	before := e.HostStates(t, hosts...)
	r := e.Play(t, "bootstrap")
	wrong := fmt.Sprintf("certs on etcd-3: refused: server certificate %s (etcd_cert_file): it is not for %s, which the member advertises",
		filepath.Join(ca.dir, "etcd-3.crt"), e.Addrs["etcd-3"])
	if r.Code != 5 || !strings.Contains(r.Out, wrong) || !strings.Contains(r.Out, "issue one whose subject alternative names include "+e.Addrs["etcd-3"].String()) {
		t.Fatalf("bootstrap with etcd-3's certificate for %s: exit %d, want 5 and %q\n%s", e.Addrs["etcd-4"], r.Code, wrong, r.Out)
	}
	t.Logf("refused:\n%s", r.Out)
	e.WantUnchanged(t, before)

	// What the refusal says to do: a certificate with etcd-3's address.
	ca.issue(t, "etcd-3", "serverAuth,clientAuth", "IP:"+e.Addrs["etcd-3"].String(), "IP:127.0.0.1", "DNS:etcd-3")
	first := e.MustPlay(t, "bootstrap")
	t.Logf("bootstrap:\n%s", first.Prints())
	members := []string{"etcd-1", "etcd-2", "etcd-3"}
	e.WantMembers(t, members, members...)
	for _, h := range members {
		want, err := os.ReadFile(filepath.Join(ca.dir, h+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Exec(t, h, "cat /etc/etcd/pki/server.crt"); got != string(want) {
			t.Errorf("%s: /etc/etcd/pki/server.crt is not the certificate brought for it (with its intermediate)", h)
		}
		if mode := e.Exec(t, h, "stat -c '%a %U' /etc/etcd/pki/server.key"); strings.TrimSpace(mode) != "600 etcd" {
			t.Errorf("%s: server.key mode and owner %q, want 600 etcd", h, mode)
		}
	}
	if out := string(e.Etcdctl(t, members, "endpoint", "health")); strings.Count(out, "is healthy") != 3 {
		t.Errorf("etcdctl endpoint health with the operator's certificates:\n%s", out)
	}
	if again := e.MustPlay(t, "bootstrap"); again.Changed() != 0 {
		t.Errorf("bootstrap re-run on brought certificates changed %d things:\n%s", again.Changed(), again.Out)
	}

	st := e.MustPlay(t, "status")
	_, rows := labtest.PrintedTable(t, st, "ID")
	expires := ca.notAfter(t, "etcd-1").UTC().Format(time.DateOnly)
	for _, row := range rows {
		if !strings.HasPrefix(row["CERT EXPIRES"], expires) {
			t.Errorf("status: %s's certificate expires %q, want %s (the certificate brought)", row["NAME"], row["CERT EXPIRES"], expires)
		}
	}

	rep := e.MustPlay(t, "replace", "-e", "old=etcd-3", "-e", "new=etcd-4")
	t.Logf("replace etcd-3 by etcd-4:\n%s", rep.Prints())
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-2", "etcd-4")
	e.WaitHealthy(t, "etcd-1", "etcd-2", "etcd-4")
}

// openSSLCA is an operator's CA made with openssl: a root and an
// intermediate that signs the certificates.
type openSSLCA struct {
	dir, root string
}

func newOpenSSLCA(t *testing.T, dir string) *openSSLCA {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl to make the operator's CA with (make deps installs it)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca := &openSSLCA{dir: dir, root: filepath.Join(dir, "root.crt")}
	ca.openssl(t, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out", "root.crt", "-days", "365",
		"-subj", "/O=Ops/CN=Ops Root CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	ca.openssl(t, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "int.key", "-out", "int.csr", "-subj", "/O=Ops/CN=Ops etcd CA")
	writeVars(t, filepath.Join(dir, "int.ext"), "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n")
	ca.openssl(t, "x509", "-req", "-in", "int.csr", "-CA", "root.crt", "-CAkey", "root.key", "-CAcreateserial", "-days", "365", "-extfile", "int.ext", "-out", "int.crt")
	return ca
}

// issue makes (or makes again) the certificate and key of name, signed by
// the intermediate, for the extended key usages eku and subject
// alternative names sans; the certificate file holds the intermediate
// after it, as CAs hand them out.
func (ca *openSSLCA) issue(t *testing.T, name, eku string, sans ...string) (cert, key string) {
	t.Helper()
	ext := "extendedKeyUsage=" + eku + "\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
	if len(sans) > 0 {
		ext += "subjectAltName=" + strings.Join(sans, ",") + "\n"
	}
	writeVars(t, filepath.Join(ca.dir, name+".ext"), ext)
	ca.openssl(t, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", name+".key", "-out", name+".csr", "-subj", "/O=Ops/CN="+name)
	ca.openssl(t, "x509", "-req", "-in", name+".csr", "-CA", "int.crt", "-CAkey", "int.key", "-CAcreateserial", "-days", "90", "-extfile", name+".ext", "-out", name+".leaf")
	leaf, err := os.ReadFile(filepath.Join(ca.dir, name+".leaf"))
	if err != nil {
		t.Fatal(err)
	}
	inter, err := os.ReadFile(filepath.Join(ca.dir, "int.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(ca.dir, name+".crt"), filepath.Join(ca.dir, name+".key")
	writeVars(t, cert, string(leaf)+string(inter))
	return cert, key
}

func (ca *openSSLCA) notAfter(t *testing.T, name string) time.Time {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ca.dir, name+".leaf"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s.leaf: no PEM", name)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.NotAfter
}

func (ca *openSSLCA) openssl(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", args...)
	cmd.Dir = ca.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeVars(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
