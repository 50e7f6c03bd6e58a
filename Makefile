# hotlined — the two commands for a fresh machine are `make run` and `make test`.
# Both install what is missing first (Debian packages; Swift packages come from the mirror).

SWIFT        ?= swift
APT_PACKAGES := libsqlite3-dev libsystemd-dev util-linux sqlite3
RUN_DIR      := $(CURDIR)/.run
BENCH_ARGS   ?= --connections 1,8,64 --seconds 5 --repeats 3

.PHONY: all deps build release run test bench clean

all: build

# Installs the Debian packages the build and tests need, only when one is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
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
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Throughput and acknowledgement latency of a release build; see docs/PERFORMANCE.md.
bench: release
	Benchmarks/throughput.sh $(BENCH_ARGS)

clean:
	rm -rf .build $(RUN_DIR)
