# The commands a developer and CI run. `make test` is the test command README names.
GO        ?= go
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
BENCHCOUNT ?= 6

.PHONY: all build test lint bench fuzz clean proto

all: lint test build

build:
	$(GO) build -o bin/lorafuota ./cmd/lorafuota

test:
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -count=$(BENCHCOUNT) ./...

# Runs every fuzz target in the module for FUZZTIME each, one after another.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list='^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin

# Regenerates the API's Go code; needs protoc, protoc-gen-go v1.36.12 and
# protoc-gen-go-grpc v1.5.1 on PATH. CI uses the committed output.
proto:
	protoc --proto_path=api/lorafuotapb --go_out=paths=source_relative:api/lorafuotapb \
		--go-grpc_out=paths=source_relative:api/lorafuotapb api/lorafuotapb/lorafuota.proto
