# UplinkDNS — the two commands: `make run` and `make test`. Both install what is missing first.
SWIFT ?= swift
CONFIG ?= config/uplinkdns.yaml

.PHONY: all deps build release run test unit conformance check lint format bench fuzz clean man deb

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

# Everything: unit tests, integration tests (the real binary and dig) and the conformance replay. The packaging test
# packages a binary with the Swift runtime linked in, as `make deb` ships it: built apart in .build-static (switching
# --static-swift-stdlib in one build folder leaves objects of the other kind behind, and tests cannot link statically).
test: deps lint
	$(SWIFT) build --build-tests
	$(MAKE) man MAN_CONFIGURATION=debug
	$(SWIFT) build --static-swift-stdlib --scratch-path .build-static --product uplinkdns
	bash scripts/conformance.sh
	$(SWIFT) test --skip-build

# The man page, generated from the command line (swift-argument-parser's generate-manual plugin) into .build/man/,
# with the configuration reference (docs/config.md, the schema), FILES, SIGNALS and the real EXIT STATUS added.
MAN_CONFIGURATION ?= release
man: deps
	$(SWIFT) package plugin --allow-writing-to-package-directory generate-manual \
		--configuration $(MAN_CONFIGURATION) --authors "UplinkDNS developers" --section 1
	rm -rf .build/man && mkdir -p .build/man
	cp .build/plugins/GenerateManual/outputs/uplinkdns/uplinkdns.1 .build/man/
	python3 scripts/man-sections.py .build/man/uplinkdns.1 docs/config.md

# The Debian package .build/deb/uplinkdns_VERSION_ARCH.deb (scripts/deb.sh), with the Swift runtime linked in, then
# checked: lintian, and an install, reinstall, remove and purge in a scratch root (tests/packaging/check-deb.sh).
deb: man
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static --product uplinkdns
	bash scripts/deb.sh --binary .build-static/release/uplinkdns --man-dir .build/man --out-dir .build/deb
	bash tests/packaging/check-deb.sh \
		.build/deb/uplinkdns_$$(.build-static/release/uplinkdns --version)_$$(dpkg --print-architecture).deb

# Unit and integration tests only.
unit: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

conformance: build
	bash scripts/conformance.sh

# UplinkDNS against NSD, Knot, gdnsd and the socket floor (docs/performance.md); writes bench/results/latest.md,
# then DO=1 answers against Knot and NSD serving the zone pre-signed (bench/results/dnssec.md), then a 1,000,000-record
# zone signed by UplinkDNS and by Knot's automatic signing, side by side (bench/results/signing.md), then client
# networks of 10,000 and 1,000,000 prefixes against the pool without them and gdnsd's geoip nets
# (bench/results/networks.md), then many names on the same lines against NSD (bench/results/names.md).
bench: release
	@bash bench/install-deps.sh
	python3 bench/bench.py
	python3 bench/dnssec.py
	python3 bench/signing.py
	python3 bench/networks.py
	python3 bench/names.py

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
	rm -rf .build .build-fuzz .build-static
