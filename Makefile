# Entry points. Every target installs what it needs first (Debian 12, root).
#   make demo   - the main job: a 3-node encrypted overlay in network namespaces
#   make demo-cluster - cluster mode: 3 nodes find each other through a 3-member etcd cluster
#   make demo-nat - NAT traversal: two nodes behind NAT routers punch through with STUN candidates;
#                   a symmetric NAT relayed through the built-in TURN relay, then upgraded
#   make check  - a short run of every fuzz harness, then every test: build + unit +
#                 integration + namespace tests, then the same again under
#                 AddressSanitizer + UndefinedBehaviorSanitizer (its summary line last)
#   make test   - every test, plain build only
#   make bench  - the side-by-side benchmarks
#   make fuzz-smoke - every libFuzzer harness over its seed corpus + 15 s (part of check)
#   make deb    - the Debian packages (lintian-checked) in build-deb/
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build test test-asan check demo demo-cluster demo-nat bench fuzz fuzz-smoke deb clean

all: build

deps:
	scripts/install-deps.sh all

build:
	scripts/install-deps.sh build
	[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)

test:
	scripts/install-deps.sh test
	scripts/run-tests.sh $(BUILD)

test-asan:
	scripts/install-deps.sh test
	SANITIZE=1 scripts/run-tests.sh $(ASAN_BUILD)

check: fuzz-smoke test test-asan

demo:
	scripts/install-deps.sh test
	[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)
	scripts/demo.sh $(BUILD)

demo-cluster:
	scripts/install-deps.sh test
	[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)
	scripts/demo-cluster.sh $(BUILD)

demo-nat:
	scripts/install-deps.sh test
	[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)
	scripts/demo-nat.sh $(BUILD)

bench:
	scripts/install-deps.sh all
	[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)
	bench/run-all.sh $(BUILD)

fuzz:
	scripts/install-deps.sh all
	[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Db_lundef=false
	ninja -C build-fuzz

fuzz-smoke:
	scripts/install-deps.sh all
	scripts/fuzz-smoke.sh

deb:
	scripts/install-deps.sh deb
	scripts/build-deb.sh build-deb

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-deb
