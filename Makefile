# sia-agent: `make demo` runs the agent against the dev ZTS; `make test`
# runs every test. Both work on a fresh clone with Go installed.

GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/sia-agent/sia-agent/agent/cli.Version=$(VERSION) \
           -X github.com/sia-agent/sia-agent/agent/cli.Commit=$(COMMIT) \
           -X github.com/sia-agent/sia-agent/plugins/internal/ztsclient.Version=$(VERSION)
# grpcnotrace keeps golang.org/x/net/trace (and html/template) out of every binary.
TAGS    := grpcnotrace
BUILDFLAGS := -trimpath -tags $(TAGS)
CMDS    := $(notdir $(wildcard cmd/*))
# The repository's modules: the agent, the SDK (a module of its own, which
# providers require by version) and the example provider. go.work joins
# them for development, so one command reaches the packages of all three.
PKGS    := ./... ./sdk/... ./examples/hello-provider/...

.PHONY: all build build-test demo test vet lint bench stress clean generate check-generate check-tidy check-example \
	dist image packages test-release FORCE

all: build

# Release binaries: no fault points, no test plugin; static (no cgo), so
# that they run on any Linux, in a scratch image or on Alpine too.
build:
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

# For trying the lifecycle by hand (configs/lifecycle.yaml): an agent with
# fault points (SIA_FAULTS) and the test plugin, in bin/test, apart from
# the release binaries.
build-test:
	$(GO) build -trimpath -tags $(TAGS),siafaults -ldflags '$(LDFLAGS)' -o $(BIN)/test/ ./cmd/sia-agent ./internal/cmd/sia-plugin-test

# Builds everything, starts zts-dev and the agent with configs/demo.yaml and
# prints how to fetch a token; Ctrl-C stops both.
demo: build
	@scripts/demo.sh

# Every test of every module, race detector on, once lint passes; the end-to-end tests build
# their own binaries (with -race and fault points) into temporary
# directories, and sdktest.RunPlugin runs plugins under the test build of
# the agent ($$SIA_AGENT). The fault package's own tests run with and
# without its build tag. Then the example must build as a third party's
# module would.
test: lint vet check-tidy build-test
	SIA_AGENT=$(abspath $(BIN)/test/sia-agent) $(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(GO) test -race -count=1 -tags siafaults ./sdk/fault/
	@scripts/check-example.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)
	$(GO) vet -tags siafaults ./sdk/fault/

# golangci-lint over the three modules, with .golangci.yml (which says
# what each linter is for). It is pinned in tools/go.mod, not in the
# agent's: its two hundred modules would otherwise sit in the graph that
# the agent's users download and audit. The binary is rebuilt when the pin
# changes; the first build takes a few minutes, later ones come from the
# build cache.
GOLANGCI_LINT := $(BIN)/tools/golangci-lint

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run $(PKGS)

$(GOLANGCI_LINT): tools/go.mod tools/go.sum
	$(TOOLS) build -o $(abspath $@) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

# go.mod and go.sum of the agent and the SDK say what their code needs, no
# more; check-example checks the example's, which only a proxy serving the
# SDK by version can tidy.
check-tidy:
	@for m in . sdk; do (cd $$m && GOWORK=off $(GO) mod tidy -diff) || { echo "$$m/go.mod is not tidy: run GOWORK=off go mod tidy in $$m"; exit 1; }; done

# Builds and vets examples/hello-provider outside the workspace, against
# the SDK by version, from a local proxy made of ./sdk.
check-example:
	@scripts/check-example.sh

# Every case of the specification (100-121) with the real providers, 20
# times in a row; slow, so not part of `make test`.
stress:
	$(GO) test -race -count=20 -timeout 90m -run 'TestSpecificationWithRealProviders' ./e2e/

# Benchmarks; figures and how to read them are in docs/benchmarks.md.
bench:
	@command -v wrk >/dev/null || apt-get install -y wrk
	$(GO) test -run '^$$' -bench 'Lifecycle|Startup$$|StartShutdown' -benchtime 20x ./bench/
	$(GO) test -run '^$$' -bench 'StartupZTSDown' -benchtime 5x ./bench/
	$(GO) test -run '^$$' -bench 'Memory' -benchtime 5x ./bench/
	$(GO) test -run '^$$' -bench 'TokenServerUnderLoad' -benchtime 1x ./bench/
	$(GO) test -run '^$$' -bench TokenServer -benchtime 1x ./plugins/token/
	$(GO) test -run '^$$' -bench BenchmarkIssuance -benchtime 3s ./ztsdev/
	$(GO) test -timeout 30m -run TestFleetSimulation -v ./bench/ -args -fleet -fleet.out=$(abspath $(BIN))/fleet

# Regenerates the plugin protocol with the generators pinned in go.mod
# (tool block) and protoc from Debian's protobuf-compiler 3.21.12.
generate:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler"; exit 1; }
	$(GO) build -o $(BIN)/tools/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	GOTOOLBIN=$(abspath $(BIN)/tools) $(GO) generate ./sdk/pluginpb/

# Fails when the checked-in generated code is not what `make generate` makes.
check-generate: generate
	@git diff --exit-code -- sdk/pluginpb/ || { echo "generated code is stale: run make generate and commit"; exit 1; }

clean:
	rm -rf $(BIN) $(DIST)

# Release artifacts (docs/releasing.md). Every binary is static and
# reproducible: the same commit built anywhere gives the same bytes
# (-trimpath, no VCS stamp, no build ID, archive times from the commit).
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
DIST      ?= dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
RELEASE_BUILDFLAGS := -trimpath -buildvcs=false -tags $(TAGS)
RELEASE_LDFLAGS    := $(LDFLAGS) -buildid=
# The release tooling is a module of its own (tools/go.mod), so that what
# it needs (nfpm, go-containerregistry, CycloneDX) stays out of the
# agent's module graph.
TOOLS   := cd tools && GOWORK=off $(GO)
RELEASE := $(abspath $(BIN)/tools/sia-release)
os_arch  = $(subst /,_,$(1))
# zts-dev ships only in the darwin archives, for developers trying the
# agent on a laptop. The k8s-secret provider's plugin binary ships in the
# Linux archives and the image, for Kubernetes; the deb and rpm packages,
# for hosts, hold sia-agent alone.
LINUX     := $(filter linux/%,$(PLATFORMS))
IMAGE_BINS := $(foreach p,$(LINUX),$(BIN)/release/$(call os_arch,$(p))/sia-agent \
	$(BIN)/release/$(call os_arch,$(p))/sia-plugin-k8s-secret)
DIST_BINS := $(IMAGE_BINS) $(foreach p,$(filter-out linux/%,$(PLATFORMS)),$(BIN)/release/$(call os_arch,$(p))/sia-agent \
	$(BIN)/release/$(call os_arch,$(p))/zts-dev)
RELEASE_ARGS = --version $(VERSION) --commit $(COMMIT) --epoch $(SOURCE_DATE_EPOCH) \
	--bin $(abspath $(BIN)/release) --out $(abspath $(DIST)) --root $(CURDIR)

# bin/release/<os>_<arch>/<command>, e.g. bin/release/linux_arm64/sia-agent.
$(BIN)/release/%: FORCE
	CGO_ENABLED=0 GOOS=$(word 1,$(subst _, ,$(*D))) GOARCH=$(word 2,$(subst _, ,$(*D))) \
		$(GO) build $(RELEASE_BUILDFLAGS) -ldflags '$(RELEASE_LDFLAGS)' -o $@ ./cmd/$(*F)

$(RELEASE): FORCE
	$(TOOLS) build -o $@ ./release

$(BIN)/tools/cyclonedx-gomod: FORCE
	$(TOOLS) build -o $(abspath $@) github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod

# Everything a release publishes, in dist/: an archive per platform, the
# container image, deb and rpm packages, a CycloneDX SBOM of each
# platform's sia-agent and Linux sia-plugin-k8s-secret (the modules linked
# into them) and SHA256SUMS.
dist: $(DIST_BINS) $(RELEASE) $(BIN)/tools/cyclonedx-gomod
	$(RELEASE) archives $(RELEASE_ARGS) $(PLATFORMS)
	$(if $(LINUX),$(RELEASE) image $(RELEASE_ARGS) $(LINUX))
	$(if $(LINUX),$(RELEASE) packages $(RELEASE_ARGS) $(LINUX))
	$(foreach p,$(PLATFORMS),$(BIN)/tools/cyclonedx-gomod bin -json -std -noserial -notimestamp -version $(VERSION) \
		-output $(DIST)/sia-agent_$(VERSION)_$(call os_arch,$(p)).cdx.json $(BIN)/release/$(call os_arch,$(p))/sia-agent &&) true
	$(foreach p,$(LINUX),$(BIN)/tools/cyclonedx-gomod bin -json -std -noserial -notimestamp -version $(VERSION) \
		-output $(DIST)/sia-plugin-k8s-secret_$(VERSION)_$(call os_arch,$(p)).cdx.json \
		$(BIN)/release/$(call os_arch,$(p))/sia-plugin-k8s-secret &&) true
	$(RELEASE) sums --out $(abspath $(DIST))

# The container image, assembled without a container engine: an OCI
# archive with every Linux platform, and a `docker load` archive per one.
image: $(IMAGE_BINS) $(RELEASE)
	$(RELEASE) image $(RELEASE_ARGS) $(LINUX)

# deb and rpm packages for every Linux platform.
packages: $(foreach p,$(LINUX),$(BIN)/release/$(call os_arch,$(p))/sia-agent) $(RELEASE)
	$(RELEASE) packages $(RELEASE_ARGS) $(LINUX)

# The release artifacts' tests: they build linux/amd64 into a temporary
# directory (a reproducibility check builds it twice more) and check the
# archive, the image and the packages. Slow, so apart from `make test`;
# CI runs both.
test-release:
	@test -z "$$(gofmt -l tools)" || { echo "gofmt needed:"; gofmt -l tools; exit 1; }
	$(TOOLS) mod tidy -diff || { echo "tools/go.mod is not tidy: run GOWORK=off go mod tidy in tools"; exit 1; }
	$(TOOLS) vet ./...
	$(TOOLS) test -count=1 -timeout 30m ./...
