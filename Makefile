# X402 — build, test, lint and bench entry points. `make test` is the one
# command that passes all tests; .ci/run calls it under CI=true, where no test
# may skip for a missing system component.
GO       ?= go
BIN      ?= bin/x402
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
# Packages with concurrency run under the race detector.
RACE_PKGS := $(foreach d,meter proxy node sim pay consensus shard internal,$(if $(wildcard $(d)),./$(d)/...))

.PHONY: build test test-race lint bench bench-proxy fuzz clean

build:
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/x402

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

lint:
	$(GO) vet ./...
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./meter/... ./proxy/...
	$(MAKE) bench-proxy

# x402 against dante, microsocks, tinyproxy and a direct connection on
# loopback (see BENCHMARKS.md); PROXYBENCH_FLAGS=--quick for a smoke run.
bench-proxy:
	$(GO) run ./internal/proxybench --go '$(GO)' $(PROXYBENCH_FLAGS)

# Every fuzz target for FUZZTIME each; the corpora live in testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		d=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9]*' $$f | cut -d' ' -f2); do \
			echo "$$d $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./$$d || exit 1; \
		done; \
	done

clean:
	rm -rf bin
