# etcdplay: build, test, demo.
#
#   make demo        the main job on the local lab
#   make test        everything CI runs (root: also the sshd, lab and end-to-end tests)
#   make test-short  unit tests only, for a quick loop
#   make bench       the benchmarks (see README)

GO      ?= go
BIN     := bin/etcdplay
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
export CGO_ENABLED ?= 0

# Pinned etcd built for the lab hosts from the Go module proxy.
ETCD_VERSION ?= v3.6.16
ETCD_DIR     := .cache/etcd/$(ETCD_VERSION)
# The release before it, which the upgrade tests upgrade from.
ETCD_PREV_VERSION ?= v3.5.35
ETCD_PREV_DIR     := .cache/etcd/$(ETCD_PREV_VERSION)

# Debian packages the tests and the lab need; installed when missing and root.
DEB_PACKAGES := openssh-server openssh-client sudo debootstrap systemd-container iproute2 openssl

.PHONY: all build test test-short bench demo deps etcd etcd-prev fuzz vet clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/etcdplay

# deps installs what the real-host tests need, only when missing and only as
# root (as another user the tests that need them skip and say why).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "not root: not installing$$missing (tests that need them will skip)"; fi; \
	fi

etcd: $(ETCD_DIR)/etcd $(ETCD_DIR)/etcdutl

# The 3.5 release the upgrade tests start from (3.5.20 or later, as
# etcd's 3.5 -> 3.6 upgrade guide asks), built once and cached the same way.
etcd-prev: $(ETCD_PREV_DIR)/etcd $(ETCD_PREV_DIR)/etcdutl

# etcd's own modules carry replace directives, so "go install pkg@version"
# refuses them; a throwaway module that requires them builds them as a
# user of the proxy would, at the pinned version: etcd and etcdctl, then
# etcdutl (the restore playbook's, and the upgrade's v2 store check).
.cache/etcd/%/etcd:
	@mkdir -p $(@D)/build
	cd $(@D)/build && rm -f go.mod go.sum && \
	  $(GO) mod init etcdplay-etcd-build >/dev/null 2>&1 && \
	  $(GO) get go.etcd.io/etcd/server/v3@$* go.etcd.io/etcd/etcdctl/v3@$* >/dev/null 2>&1 && \
	  $(GO) build -trimpath -ldflags '-s -w' -o ../etcdctl go.etcd.io/etcd/etcdctl/v3 && \
	  $(GO) build -trimpath -ldflags '-s -w' -o ../etcd.tmp go.etcd.io/etcd/server/v3
	mv $(@D)/etcd.tmp $@
	@$@ --version | head -1

.cache/etcd/%/etcdutl: .cache/etcd/%/etcd
	cd $(@D)/build && \
	  $(GO) get go.etcd.io/etcd/etcdutl/v3@$* >/dev/null 2>&1 && \
	  $(GO) build -trimpath -ldflags '-s -w' -o ../etcdutl.tmp go.etcd.io/etcd/etcdutl/v3
	mv $(@D)/etcdutl.tmp $@

vet:
	$(GO) vet ./...

test-short:
	$(GO) test -short ./...

# The lab tests share the base image cache of the default lab, so CI and
# make demo on one machine build it (about 45 s) once.
LAB_IMAGE_DIR ?= /var/lib/etcdplay/lab/image

test: deps build etcd etcd-prev vet
	ETCDPLAY_ETCD_DIR=$(CURDIR)/$(ETCD_DIR) ETCDPLAY_ETCD_PREV_DIR=$(CURDIR)/$(ETCD_PREV_DIR) ETCDPLAY_LAB_IMAGE_DIR=$(LAB_IMAGE_DIR) ETCDPLAY_BIN=$(CURDIR)/$(BIN) \
	  $(GO) test -count=1 -parallel 4 -timeout 25m ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./inventory

bench: deps build etcd
	ETCDPLAY_BIN=$(CURDIR)/$(BIN) ETCDPLAY_ETCD_DIR=$(CURDIR)/$(ETCD_DIR) ETCDPLAY_LAB_IMAGE_DIR=$(LAB_IMAGE_DIR) \
	  $(GO) test -run '^$$' -bench . -benchtime 7x -timeout 30m ./...

# demo shows what etcdplay is for, on the local lab: 4 hosts, a 3-member
# etcd cluster bootstrapped on the first three, a few keys written, a
# member replaced by the fourth host, the keys read back. The lab stays up
# for you to explore; "bin/etcdplay lab destroy" removes every trace.
demo: deps build etcd
	@set -e; \
	if $(BIN) lab status 2>/dev/null | grep -q '^etcd-'; then \
	  echo "A lab is up already ($(BIN) lab status). The demo starts from a new one:"; \
	  echo "remove it with $(BIN) lab destroy, then run make demo again."; exit 1; \
	fi; \
	backups=$(CURDIR)/.cache/demo-backups; \
	echo "== etcdplay lab up --hosts 4: four Debian hosts with systemd and sshd"; \
	inv=$$($(BIN) lab up --hosts 4 --etcd-src $(ETCD_DIR) | tail -1); \
	echo; echo "== etcdplay run bootstrap -i $$inv"; \
	echo "   a new cluster on group etcd (etcd-1..3): install, configure, start together, flip to existing"; \
	$(BIN) run bootstrap -i $$inv; \
	echo; echo "== write a few keys with etcdctl on etcd-1 (etcdplay exec runs commands across hosts)"; \
	$(BIN) exec -i $$inv etcd-1 -- 'for city in paris tokyo lima; do etcdctl put demo/$$city "hello from $$city"; done'; \
	echo; echo "== etcdplay run replace -i $$inv -e old=etcd-2 -e new=etcd-4"; \
	echo "   quorum check, snapshot, stop and remove etcd-2, add etcd-4 as a learner, start it, promote it"; \
	$(BIN) run replace -i $$inv -e old=etcd-2 -e new=etcd-4 -e backup_dir=$$backups; \
	echo; echo "== the keys, read back through the new member etcd-4"; \
	$(BIN) exec -i $$inv etcd-4 -- etcdctl get --prefix demo/; \
	echo; echo "== etcdplay run status -i $$inv"; \
	$(BIN) run status -i $$inv; \
	echo; echo "The lab is up with the cluster on etcd-1, etcd-3 and etcd-4 (snapshot in $$backups)."; \
	echo "Try: $(BIN) run rolling_restart -i $$inv; $(BIN) lab kill etcd-3, then $(BIN) run replace -i $$inv -e old=etcd-3 -e new=etcd-2"; \
	echo "     $(BIN) playbooks lists the playbooks; $(BIN) lab ssh etcd-1 logs in."; \
	echo "$(BIN) lab destroy removes the lab."

clean:
	rm -rf bin
