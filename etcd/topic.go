package etcd

// Topic is etcdplay doc etcd: the variables that say what member a host
// runs and how etcdplay reaches it, in one place.
const Topic = `The etcd member each host runs is computed once, from the host's
variables (inventory, group_vars, host_vars, and extra vars over them),
by the modules and the shipped playbooks alike; playbooks read it as
h.etcd (name, address, peer_url, client_url, data_dir, conf_file, tls,
pki, settings). No variable is needed: each has a default.

MEMBER
    etcd_name           member name (default: the inventory name)
    etcd_peer_url       peer URL (default SCHEME://ADDRESS:PORT, with
                        etcd_peer_scheme and etcd_peer_port, default 2380)
    etcd_client_url     client URL (default SCHEME://ADDRESS:PORT, with
                        etcd_client_scheme and etcd_client_port, default
                        2379); an IPv6 address is bracketed
    etcd_data_dir       default /var/lib/etcd/NAME.etcd
    etcd_conf_file      the environment file of the etcd unit (default
                        /etc/etcd/etcd.conf)
    etcd_settings       a dict of more ETCD_* settings for etcd.conf,
                        merged over those computed here
    etcd_start_timeout  how long systemd lets etcd start (default 10m)

WHERE ETCD COMES FROM (the first given; -e over the inventory)
    etcd_version        a release (v3.6.16): the control machine fetches
                        etcd-VERSION-linux-ARCH.tar.gz (ARCH from each
                        host: amd64, arm64, ppc64le, s390x) and the
                        release's SHA256SUMS from etcd_release_url, checks
                        one against the other, keeps both in its cache
                        (ETCDPLAY_CACHE_DIR, default ~/.cache/etcdplay) and
                        uploads the binaries: the hosts need no network. A
                        checksum that differs, an architecture or version
                        the URL does not have, is refused before any host
                        is changed
    etcd_release_url    where releases are, as BASE/VERSION/FILE (default
                        https://github.com/etcd-io/etcd/releases/download;
                        a mirror, an artifact store, file:///DIR)
    etcd_src            directory of etcd binaries on the control machine
                        (make etcd builds .cache/etcd/VERSION; the lab's
                        inventory offers one)
    etcd_package        true: the distribution's package
    A running member's version changes only in etcdplay run upgrade.

TLS (etcd_tls)
    none (default)      no TLS from etcdplay (https from your own
                        etcd_settings is read as such)
    auto                etcdplay's own CA, made on first use in
                        etcd_pki_dir (default etcd-pki beside the
                        inventory), issues each member's server and peer
                        certificates (its addresses and names as SANs) and
                        a client certificate for etcdplay; both schemes
                        become https with client-certificate auth
    files               your own: etcd_ca_file, etcd_cert_file,
                        etcd_key_file (and etcd_peer_cert_file,
                        etcd_peer_key_file when the peer certificate is
                        another), on the control machine and uploaded to
                        etcd_host_pki_dir (default /etc/etcd/pki), or
                        already on the host with etcd_tls_files_on_host.
                        They are checked before anything is changed: the
                        key is the certificate's, it chains to the CA,
                        holds the member's advertised addresses, may serve
                        (a peer certificate: serve and be a client), and is
                        not expired; a bad one is refused (exit status 5)
                        naming the host and what to issue.
    etcdplay's own client files, when etcd_tls does not give them:
    etcd_cacert, etcd_cert, etcd_key (etcd_tls_from_host: on the host).
    Rotation: etcdplay run rotate_certs (etcdplay doc rotate_certs).

AUTHENTICATION
    etcd_user           the etcd user etcdplay asks as (root, or a user
                        whose role may read and write /etcdplay/ and do
                        what the playbook changes)
    its password, first found of:
      etcd_password_file  a file on the control machine
      ETCDPLAY_ETCD_PASSWORD  the environment
      etcd_password       a variable (-e etcd_password=... works, but
                          the shell's history keeps it)
    The password is never printed: text, JSON events, --diff and recaps
    show *** in its place, and commands etcdplay prints leave a password
    given with -e out.

REACHING THE CLIENT URLS (etcd_dial)
    auto (default)      through the SSH connection to the member's host,
                        by port forwarding, or a relay through the host's
                        shell when sshd refuses forwarding
    ssh, relay          only that way
    direct              straight from the control machine (etcd_direct=true)

Show what a host ends up with: etcdplay inventory -i INV --host NAME [-e ...]
`
