# hotlined — the two commands for a fresh machine are `make run` and `make test`.
# Both install what is missing first (Debian packages; Swift packages come from the mirror).

SWIFT        ?= swift
APT_PACKAGES := libsqlite3-dev libsystemd-dev systemd util-linux sqlite3
# Only the tests need these: the shift report is rendered by headless Chromium, and its
# screenshot's pixels counted with python3; PostgreSQL's server programs start the private
# primary and standby the PostgreSQL tests run on (issue 15). The wallboard is driven in
# Chromium over the DevTools protocol with python3-websocket, and a real Prometheus scrapes
# the metrics endpoint and loads the shipped alerting rules (issue 17).
TEST_APT_PACKAGES := chromium python3 postgresql python3-websocket prometheus
# Building the Debian package and its test (make deb, make package-test, and the short package
# test in make test): Debian's own packaging tools, scdoc for the man pages, and debootstrap
# for the throwaway root the package is installed into.
PACKAGE_APT_PACKAGES := debhelper dpkg-dev fakeroot lintian scdoc debootstrap
RUN_DIR      := $(CURDIR)/.run
BENCH_ARGS   ?= --connections 1,8,64 --seconds 5 --repeats 3

# Where `make install` puts things, as Debian would (DESTDIR for staging, PREFIX=/usr/local by hand).
PREFIX       ?= /usr
SYSCONFDIR   ?= /etc
BINDIR       ?= $(PREFIX)/bin
UNITDIR      ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR  ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR  ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR       ?= $(PREFIX)/share/doc/hotlined
GENERATORDIR ?= $(PREFIX)/lib/systemd/system-generators
MANDIR       ?= $(PREFIX)/share/man
BASHCOMPDIR  ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR   ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR  ?= $(PREFIX)/share/fish/vendor_completions.d

# The version is HotlineVersion.current in the Swift source; debian/changelog's newest entry
# must say the same (make version-check, run by make deb and make test).
VERSION      := $(shell sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/HotlineServer/ConnectionHandler.swift)
DEB_ARCH     := $(shell dpkg --print-architecture 2>/dev/null)
# Generated, never committed (.gitignore): the man pages' roff, the completion scripts, the .deb.
GEN_DIR      := $(CURDIR)/.build-dist
DIST_DIR     := $(CURDIR)/dist
MAN_PAGES    := $(patsubst docs/man/%.scd,$(GEN_DIR)/man/%,$(wildcard docs/man/*.scd))

.PHONY: all deps build release run test bench bench-hostile clean install crash-loop crash-loop-postgresql fuzz format format-check \
  man completions deb package-test version-check

# libFuzzer (with AddressSanitizer) over the request decoder and validator, from the seed
# corpus in Tests/FuzzCorpus, for FUZZ_SECONDS (make test runs it briefly). New inputs it
# finds stay in .build-fuzz/corpus; a crash leaves crash-* here, to add to the corpus.
FUZZ_SECONDS ?= 300
fuzz: deps
	$(SWIFT) build --product hotline-fuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
	mkdir -p .build-fuzz/corpus && cp Tests/FuzzCorpus/* .build-fuzz/corpus/
	.build-fuzz/debug/hotline-fuzz .build-fuzz/corpus -dict=Tests/fuzz.dict -max_len=8192 -timeout=10 \
	  -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1

# kill -9 the daemon CYCLES times under load and check nothing acknowledged is lost
# (docs/RELIABILITY.md). CYCLES=100 by default.
CYCLES ?= 100
crash-loop: release
	@dir=$$(mktemp -d); bin=$$($(SWIFT) build -c release --show-bin-path); \
	  (umask 077; $$bin/hotlinectl keygen > $$dir/key); \
	  sed "s|  # key_file: /etc/hotlined/hotlined.key|  key_file: $$dir/key|" Config/hotlined.yaml > $$dir/hotlined.yaml; \
	  $$bin/hotline-tools crash-loop --hotlined $$bin/hotlined --config $$dir/hotlined.yaml --directory $$dir --cycles $(CYCLES); \
	  status=$$?; rm -rf $$dir; exit $$status

# The same on PostgreSQL, losing the primary in every cycle: a private primary and
# synchronous standby; the primary killed under load, the standby promoted, the old one
# rebuilt as the standby, then the daemon killed -9. CYCLES=20 by default.
PG_CYCLES ?= 20
crash-loop-postgresql: release
	@dir=$$(mktemp -d); bin=$$($(SWIFT) build -c release --show-bin-path); \
	  (umask 077; $$bin/hotlinectl keygen > $$dir/key); \
	  sed "s|  # key_file: /etc/hotlined/hotlined.key|  key_file: $$dir/key|" Config/hotlined.yaml > $$dir/hotlined.yaml; \
	  $$bin/hotline-tools crash-loop --hotlined $$bin/hotlined --config $$dir/hotlined.yaml --directory $$dir \
	    --engine postgresql --failover --cycles $(PG_CYCLES) --max-run-milliseconds 3000; \
	  status=$$?; rm -rf $$dir; exit $$status

all: build

# Installs the Debian packages the build and tests need, only when one is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES) $(EXTRA_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift is not on PATH (expected /opt/swift)"; exit 1; }

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Runs hotlined in the foreground with the shipped configuration; socket, database and a
# development key under ./.run/ (the key stands in for the systemd credential hotlined.key).
run: build
	@mkdir -p $(RUN_DIR)/credentials
	@[ -s $(RUN_DIR)/credentials/hotlined.key ] || (umask 077; $$($(SWIFT) build --show-bin-path)/hotlinectl keygen > $(RUN_DIR)/credentials/hotlined.key)
	@echo "hotlined: socket $(RUN_DIR)/hotlined.sock — try: export HOTLINE_SOCKET=$(RUN_DIR)/hotlined.sock; hotlinectl stats"
	CREDENTIALS_DIRECTORY=$(RUN_DIR)/credentials exec $$($(SWIFT) build --show-bin-path)/hotlined \
	  --config Config/hotlined.yaml --socket $(RUN_DIR)/hotlined.sock --database $(RUN_DIR)/hotlined.sqlite

# Every test: unit tests of the pure core and the store, and integration tests that start
# the built daemon on temporary sockets and databases.
# A test that hangs fails the run after 25 minutes rather than holding CI, naming the tests
# still running and the processes left (Tests/with-deadline.sh).
# Then the short package test: the debug build packed by the same debian/ as make deb and
# installed, upgraded, removed and purged in a throwaway bookworm root (Tests/package).
test:
	@$(MAKE) --no-print-directory deps EXTRA_APT_PACKAGES="$(TEST_APT_PACKAGES) $(PACKAGE_APT_PACKAGES)"
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory version-check
	$(SWIFT) build --build-tests
	Tests/with-deadline.sh 1500 $(SWIFT) test --skip-build
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20
	timeout 900 Tests/package/package-test.sh --quick

# The tree formatted by swift-format (the toolchain's), with the checked-in .swift-format;
# make test fails on a file it would change: run make format.
FORMATTED := Sources Tests Package.swift
format:
	$(SWIFT) format -i -r --parallel $(FORMATTED)
format-check:
	@$(SWIFT) format lint --strict -r --parallel $(FORMATTED) || \
	  { echo "The tree is not formatted as .swift-format says: run make format." >&2; exit 1; }

# Throughput, acknowledgement latency, alert latency and the shift-end export of a release
# build; see docs/PERFORMANCE.md.
bench: release
	Benchmarks/throughput.sh $(BENCH_ARGS)
	ENGINE=postgresql Benchmarks/throughput.sh $(BENCH_ARGS)
	ENGINE=postgresql STANDBY=0 Benchmarks/throughput.sh $(BENCH_ARGS)
	Benchmarks/alert-latency.sh --writers 0,64 --probes 300
	Benchmarks/export.sh --calls 100000 --small 10000 --repeats 3
	Benchmarks/hostile.sh $(HOSTILE_ARGS)
	Benchmarks/live.sh --calls 50000 --repeats 5 --seconds 5

# Hostile clients (issue 12): the daemon's peak RSS and a probe workstation's 999
# acknowledgement latency under each attack, beside an idle daemon (Benchmarks/hostile.sh).
HOSTILE_ARGS ?= --connections 64 --seconds 20
bench-hostile: release
	Benchmarks/hostile.sh $(HOSTILE_ARGS)

# Installs the release binaries, the systemd units, sysusers and tmpfiles entries, the
# configuration (never over an existing one: that is left, and the new one put beside it
# as hotlined.yaml.dist) and the docs.
# BIN=DIR installs binaries already built there (the tests stage a debug build that way).
install: $(if $(BIN),,release) man completions
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	  $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/hotlined $(DESTDIR)$(GENERATORDIR)
	install -m 0755 $${BIN:-$$($(SWIFT) build -c release --show-bin-path)}/hotlined $(DESTDIR)$(BINDIR)/hotlined
	install -m 0755 $${BIN:-$$($(SWIFT) build -c release --show-bin-path)}/hotlinectl $(DESTDIR)$(BINDIR)/hotlinectl
	sed 's|/usr/bin/hotlined|$(BINDIR)/hotlined|; s|/etc/hotlined|$(SYSCONFDIR)/hotlined|g; s|/usr/share/doc/hotlined|$(DOCDIR)|' \
	  systemd/hotlined.service > $(DESTDIR)$(UNITDIR)/hotlined.service
	sed 's|/usr/share/doc/hotlined|$(DOCDIR)|' systemd/hotlined.socket > $(DESTDIR)$(UNITDIR)/hotlined.socket
	sed 's|/usr/bin/hotlinectl|$(BINDIR)/hotlinectl|; s|/usr/share/doc/hotlined|$(DOCDIR)|' \
	  systemd/hotlined-export.service > $(DESTDIR)$(UNITDIR)/hotlined-export.service
	sed 's|/usr/share/doc/hotlined|$(DOCDIR)|' systemd/hotlined-export.timer > $(DESTDIR)$(UNITDIR)/hotlined-export.timer
	chmod 0644 $(DESTDIR)$(UNITDIR)/hotlined.service $(DESTDIR)$(UNITDIR)/hotlined.socket \
	  $(DESTDIR)$(UNITDIR)/hotlined-export.service $(DESTDIR)$(UNITDIR)/hotlined-export.timer
	sed 's|/usr/bin/hotlined|$(BINDIR)/hotlined|; s|/etc/hotlined|$(SYSCONFDIR)/hotlined|g' \
	  systemd/hotlined-export-generator > $(DESTDIR)$(GENERATORDIR)/hotlined-export-generator
	chmod 0755 $(DESTDIR)$(GENERATORDIR)/hotlined-export-generator
	install -m 0644 systemd/hotlined.sysusers $(DESTDIR)$(SYSUSERSDIR)/hotlined.conf
	sed 's|/etc/hotlined|$(SYSCONFDIR)/hotlined|g' systemd/hotlined.tmpfiles > $(DESTDIR)$(TMPFILESDIR)/hotlined.conf
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/hotlined/hotlined.yaml ]; then \
	  install -m 0644 Config/hotlined.yaml $(DESTDIR)$(SYSCONFDIR)/hotlined/hotlined.yaml.dist; \
	  echo "kept $(SYSCONFDIR)/hotlined/hotlined.yaml; the shipped one is hotlined.yaml.dist"; \
	else install -m 0644 Config/hotlined.yaml $(DESTDIR)$(SYSCONFDIR)/hotlined/hotlined.yaml; fi
	install -m 0644 README.md $(filter-out docs/soak-%,$(wildcard docs/*.md)) $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 Config/prometheus/hotlined-rules.yml $(DESTDIR)$(DOCDIR)/examples/hotlined-rules.yml
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	for page in $(notdir $(MAN_PAGES)); do \
	  gzip -9n -c $(GEN_DIR)/man/$$page > $(DESTDIR)$(MANDIR)/man$${page##*.}/$$page.gz; \
	  chmod 0644 $(DESTDIR)$(MANDIR)/man$${page##*.}/$$page.gz; done
	for prog in hotlined hotlinectl; do \
	  install -m 0644 $(GEN_DIR)/completions/$$prog.bash $(DESTDIR)$(BASHCOMPDIR)/$$prog; \
	  install -m 0644 $(GEN_DIR)/completions/_$$prog $(DESTDIR)$(ZSHCOMPDIR)/_$$prog; \
	  install -m 0644 $(GEN_DIR)/completions/$$prog.fish $(DESTDIR)$(FISHCOMPDIR)/$$prog.fish; done

# The man pages, roff from their scdoc sources in docs/man (hotlined(8), hotlinectl(1),
# hotlined.yaml(5)); `make install` installs them gzipped.
man: $(MAN_PAGES)
$(GEN_DIR)/man/%: docs/man/%.scd
	@command -v scdoc >/dev/null || $(MAKE) --no-print-directory deps EXTRA_APT_PACKAGES=scdoc
	@mkdir -p $(GEN_DIR)/man
	scdoc < $< > $@.$$$$.tmp && mv $@.$$$$.tmp $@

# bash, zsh and fish completions, generated by swift-argument-parser from the binaries in
# BIN (else the release build's); without its #!, since completions are sourced, not run.
completions: $(if $(BIN),,release)
	@mkdir -p $(GEN_DIR)/completions
	@set -e; bin=$${BIN:-$$($(SWIFT) build -c release --show-bin-path)}; cd $(GEN_DIR)/completions; \
	for prog in hotlined hotlinectl; do for shell in bash zsh fish; do \
	  case $$shell in bash) out=$$prog.bash;; zsh) out=_$$prog;; fish) out=$$prog.fish;; esac; \
	  $$bin/$$prog --generate-completion-script $$shell > $$out.$$$$.tmp; sed -i '1{/^#!/d}' $$out.$$$$.tmp; \
	  mv $$out.$$$$.tmp $$out; done; done

# The version in the Swift source and debian/changelog's newest entry agree.
version-check:
	@deb=$$(sed -n '1s/^hotlined (\([^)]*\)).*/\1/p' debian/changelog); \
	if [ -z "$(VERSION)" ] || [ "$$deb" != "$(VERSION)" ]; then \
	  echo "version mismatch: HotlineVersion.current is '$(VERSION)', debian/changelog says '$$deb'" >&2; exit 1; fi

# dist/hotlined_VERSION_ARCH.deb, built by dpkg-buildpackage from debian/: a release build
# with the Swift runtime linked statically, checked with lintian.
# BIN=DIR packs binaries already built there instead; DEB_VERSION=V builds the tree as
# version V (the package test's upgrade); DEB_DIR=DIR puts the files there.
DEB_DIR     ?= $(DIST_DIR)
DEB_VERSION ?=
deb: version-check
	@$(MAKE) --no-print-directory deps EXTRA_APT_PACKAGES="$(PACKAGE_APT_PACKAGES)"
	@mkdir -p $(DEB_DIR)
	@v=$${DEB_VERSION:-$(VERSION)}; \
	HOTLINED_BIN=$(BIN) HOTLINED_DEB_VERSION=$(DEB_VERSION) HOTLINED_DEB_DIR=$(DEB_DIR) HOTLINED_DEB_FAST=$(DEB_FAST) \
	  dpkg-buildpackage -b -d --no-sign \
	    --buildinfo-option=-u$(DEB_DIR) --changes-option=-u$(DEB_DIR) \
	    --buildinfo-file=$(DEB_DIR)/hotlined_$${v}_$(DEB_ARCH).buildinfo \
	    --changes-file=$(DEB_DIR)/hotlined_$${v}_$(DEB_ARCH).changes
	@echo "built $(DEB_DIR)/hotlined_$${DEB_VERSION:-$(VERSION)}_$(DEB_ARCH).deb"
	@# lintian on the release package (debian/hotlined.lintian-overrides says why for each
	@# tag left); a debug build's package is only for the short test.
	$(if $(BIN),@echo "lintian skipped: BIN= packs a test build", \
	  lintian --fail-on error,warning --display-info $(DEB_DIR)/hotlined_$${DEB_VERSION:-$(VERSION)}_$(DEB_ARCH).changes)

# The long package test: make deb (release, lintian) twice, as two versions, and install,
# upgrade, remove and purge them in a debootstrapped bookworm (Tests/package/package-test.sh).
package-test:
	@$(MAKE) --no-print-directory deps EXTRA_APT_PACKAGES="$(PACKAGE_APT_PACKAGES)"
	Tests/package/package-test.sh --full

clean:
	rm -rf .build $(RUN_DIR) $(GEN_DIR) $(DIST_DIR)
	[ ! -d debian/hotlined ] || dh_clean
