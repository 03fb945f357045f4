# xcloud build, run and test. `make run` installs what the host needs and
# starts a development daemon; `make test` runs every test, acceptance included.

GO       ?= go
# The Podman bindings need the first five tags. The n* tags leave out the
# database drivers of the CA library behind `tls internal`, which Caddy's
# embedded CA never opens: 6 MB of binary, and of resident memory when the
# page cache maps the binary in large folios (see bench/README.md).
TAGS     := remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp nobadger nobbolt nomysql nopgx
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN      := bin/xcloud
DEV      := $(CURDIR)/.dev
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export CGO_ENABLED := 0
# go.mod's toolchain line pins the Go release the binary is built with (its
# standard library serves TLS, HTTP/2 and SSH to the internet, so its security
# fixes matter). auto, not go1.26.N+auto: an older local go downloads the
# pinned release through the module proxy, a newer one is used as is, and the
# version lives in go.mod only. It overrides a GOTOOLCHAIN=local from go.env or
# the environment, which would silently build with the older release;
# `make GOTOOLCHAIN=local ...` still can.
export GOTOOLCHAIN := auto

.PHONY: all build deps run test test-rootless unit race acceptance fuzz lint staticcheck vulncheck clean bench

all: build

build:
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/xcloud

# Podman, runc, uidmap, slirp4netns, debootstrap; containers.conf; /dev/net/tun;
# a Podman API service; the stack images (debootstrap, several minutes the
# first time). Idempotent: a second run takes a few seconds. The images go to
# root's Podman, which the tests use, whatever socket an installed
# /etc/xcloud/xcloud.toml names (contrib/install.sh copies them to its user).
deps: build
	$(SUDO) contrib/podman-setup.sh --service
	$(SUDO) env XCLOUD_PODMAN_SOCKET=/run/podman/podman.sock $(BIN) stack build

# A development daemon: data in .dev/, SSH on :2222, HTTP on :8080, TLS off.
# Your ~/.ssh/*.pub keys become admin keys.
run: deps build
	@mkdir -p $(DEV)
	@[ -s $(DEV)/admin_keys ] || cat $$HOME/.ssh/*.pub > $(DEV)/admin_keys 2>/dev/null || true
	@[ -s $(DEV)/admin_keys ] || echo "note: put your public key in $(DEV)/admin_keys to push"
	XCLOUD_DATA_DIR=$(DEV)/data XCLOUD_ADMIN_KEYS=$(DEV)/admin_keys $(BIN) daemon -config contrib/dev.toml

# Everything: vet, unit tests, fuzz seeds, acceptance tests on real Podman.
# It sets Podman up first (make deps, a few seconds once done): on a fresh
# machine the acceptance tests run, they are not skipped.
test: deps lint
	$(GO) test -tags '$(TAGS)' -count=1 -timeout 75m ./...

# The push-and-serve acceptance test and a build with RUN steps, with the
# daemon as the unprivileged `xcloud` user on rootless Podman, set up by
# contrib/install.sh (--no-start). See .ci/test-rootless.
# sudo resets the environment: pass the toolchain choice on to its go test -c.
test-rootless: build
	$(SUDO) env GOTOOLCHAIN=$(GOTOOLCHAIN) .ci/test-rootless

unit:
	$(GO) test -tags '$(TAGS)' -count=1 $$($(GO) list ./... | grep -v /cmd/xcloud)

# The unit packages under the race detector, which needs cgo.
race:
	CGO_ENABLED=1 $(GO) test -tags '$(TAGS)' -race -count=1 $$($(GO) list ./... | grep -v /cmd/xcloud)

acceptance:
	$(GO) test -tags '$(TAGS)' -count=1 -v -timeout 75m ./cmd/xcloud/

# Short fuzzing runs of every parser; findings land in testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./daemon/config/
	$(GO) test -run '^$$' -fuzz FuzzParseCommand -fuzztime $(FUZZTIME) ./gitreceive/
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz FuzzParseAssignments -fuzztime $(FUZZTIME) ./daemon/admin/
	$(GO) test -run '^$$' -fuzz FuzzParseProcfile -fuzztime $(FUZZTIME) ./buildpacks/
	$(GO) test -run '^$$' -fuzz FuzzParseAppJSON -fuzztime $(FUZZTIME) ./buildpacks/
	$(GO) test -run '^$$' -fuzz FuzzParseManifest -fuzztime $(FUZZTIME) ./daemon/backup/
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz FuzzParseDotenv -fuzztime $(FUZZTIME) ./daemon/admin/
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz FuzzQuote -fuzztime $(FUZZTIME) ./cmd/xcloud/internal/client/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet -tags '$(TAGS)' ./...

# xcloud against plain Podman on this machine (needs `make deps`, about 10
# minutes): a table on stdout, bench/results.json and a line in bench/history.jsonl.
# contrib/bench-deps.sh adds wrk, nginx and a throwaway rootless user.
bench: build
	$(SUDO) contrib/bench-deps.sh
	$(GO) run -tags '$(TAGS)' ./cmd/xcloud-bench -xcloud $(BIN) -out bench

# staticcheck is fetched through the module proxy on first use.
staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags '$(TAGS)' ./...

# Known vulnerabilities in the code paths the build reaches, standard library
# included (govulncheck, through the module proxy on first use; it needs the
# Go vulnerability database online, or VULNDB=file:///path to a local copy).
VULNDB ?=
vulncheck:
	$(GO) run golang.org/x/vuln/cmd/govulncheck@v1.9.0 $(if $(VULNDB),-db $(VULNDB)) -tags '$(TAGS)' ./...

clean:
	rm -rf bin
