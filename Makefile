# nacre: build, demo, tests, benchmarks. See README.md.
GO      ?= go
BIN     := bin/nacre
GOFLAGS_BUILD := -trimpath

.PHONY: all build demo test unit e2e check bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/nacre

# Build nacre and run the built-in example under the shield.
demo: build
	$(MAKE) -s -C examples/helloworld clean
	$(MAKE) -s -C examples/helloworld all
	@echo "--- signed manifest ---"
	@$(BIN) inspect examples/helloworld/helloworld.manifest.sgx
	@echo "--- running under the shield ---"
	@cd examples/helloworld && ../../$(BIN) run helloworld.manifest.sgx

# Install every test dependency (Debian packages, a test user) and run all tests.
test:
	./scripts/install-test-deps.sh
	$(MAKE) check
	$(GO) test -count=1 -timeout 25m ./...

# Static checks that gate CI.
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

bench: build
	./bench/run.sh

clean:
	rm -rf bin
	for d in examples/*/; do $(MAKE) -s -C $$d clean || true; done
