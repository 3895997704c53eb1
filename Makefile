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

# Debian packages the tests and the lab need; installed when missing and root.
DEB_PACKAGES := openssh-server openssh-client sudo debootstrap systemd-container iproute2

.PHONY: all build test test-short bench demo deps etcd fuzz vet clean

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

etcd: $(ETCD_DIR)/etcd

# etcd's own modules carry replace directives, so "go install pkg@version"
# refuses them; a throwaway module that requires both builds them as a
# user of the proxy would, at the pinned version.
$(ETCD_DIR)/etcd:
	@mkdir -p $(ETCD_DIR)/build
	cd $(ETCD_DIR)/build && rm -f go.mod go.sum && \
	  $(GO) mod init etcdplay-etcd-build >/dev/null 2>&1 && \
	  $(GO) get go.etcd.io/etcd/server/v3@$(ETCD_VERSION) go.etcd.io/etcd/etcdctl/v3@$(ETCD_VERSION) >/dev/null 2>&1 && \
	  $(GO) build -trimpath -ldflags '-s -w' -o ../etcdctl go.etcd.io/etcd/etcdctl/v3 && \
	  $(GO) build -trimpath -ldflags '-s -w' -o ../etcd.tmp go.etcd.io/etcd/server/v3
	mv $(ETCD_DIR)/etcd.tmp $(ETCD_DIR)/etcd
	@$(ETCD_DIR)/etcd --version | head -1

vet:
	$(GO) vet ./...

test-short:
	$(GO) test -short ./...

# The lab tests share the base image cache of the default lab, so CI and
# make demo on one machine build it (about 45 s) once.
LAB_IMAGE_DIR ?= /var/lib/etcdplay/lab/image

test: deps build etcd vet
	ETCDPLAY_ETCD_DIR=$(CURDIR)/$(ETCD_DIR) ETCDPLAY_LAB_IMAGE_DIR=$(LAB_IMAGE_DIR) ETCDPLAY_BIN=$(CURDIR)/$(BIN) \
	  $(GO) test -count=1 -timeout 25m ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./inventory

bench: deps build etcd
	ETCDPLAY_BIN=$(CURDIR)/$(BIN) ETCDPLAY_ETCD_DIR=$(CURDIR)/$(ETCD_DIR) ETCDPLAY_LAB_IMAGE_DIR=$(LAB_IMAGE_DIR) \
	  $(GO) test -run '^$$' -bench . -benchtime 5x -timeout 20m ./...

# demo boots the local lab and runs etcdplay across it. The lab stays up
# for you to explore; "bin/etcdplay lab destroy" removes every trace.
demo: deps build etcd
	@set -e; \
	echo "== etcdplay lab up --hosts 4"; \
	inv=$$($(BIN) lab up --hosts 4 | tail -1); \
	echo; echo "== etcdplay inventory -i $$inv --graph"; \
	$(BIN) inventory -i $$inv --graph; \
	echo; echo "== etcdplay exec -i $$inv all -- 'hostname; systemctl is-system-running'"; \
	$(BIN) exec -i $$inv all -- 'hostname; systemctl is-system-running'; \
	echo; echo "The lab is up: $(BIN) lab status; $(BIN) lab destroy removes it."

clean:
	rm -rf bin
