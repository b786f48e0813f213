# UplinkDNS — the two commands: `make run` and `make test`. Both install what is missing first.
SWIFT ?= swift
CONFIG ?= config/uplinkdns.yaml

.PHONY: all deps build release run test unit conformance check lint format bench fuzz clean

all: build

# Debian packages (libldns-dev, dig, kdig, …), installed only when missing.
deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Serves the example zone with the example config on 127.0.0.1:5300 (Ctrl-C stops it).
run: release
	.build/release/uplinkdns check --config $(CONFIG)
	.build/release/uplinkdns serve --config $(CONFIG)

# Everything: unit tests, integration tests (the real binary and dig) and the conformance replay.
test: deps lint
	$(SWIFT) build --build-tests
	bash scripts/conformance.sh
	$(SWIFT) test --skip-build

# Unit and integration tests only.
unit: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

conformance: build
	bash scripts/conformance.sh

# UplinkDNS against NSD, Knot, gdnsd and the socket floor (docs/performance.md); writes bench/results/latest.md,
# then DO=1 answers against Knot and NSD serving the zone pre-signed (bench/results/dnssec.md).
bench: release
	@bash bench/install-deps.sh
	python3 bench/bench.py
	python3 bench/dnssec.py

# libFuzzer over the message parser, the query path, the zone-file and config loaders (docs/security.md):
# FUZZ_SECONDS per target (default 60); CI runs a shorter smoke.
fuzz: deps
	bash scripts/fuzz.sh

# Style: swift-format with .swift-format (4 spaces, 120 columns); `make format` rewrites in place.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift Fuzz/Package.swift Fuzz/Sources

format:
	$(SWIFT) format format -i -r Sources Tests Package.swift Fuzz/Package.swift Fuzz/Sources

# Validates the config and its zones without serving.
check: build
	.build/debug/uplinkdns check --config $(CONFIG)

clean:
	rm -rf .build .build-fuzz
