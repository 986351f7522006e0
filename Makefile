# Media Gateway harness. `make run` is the main job, `make test` runs lint and every test.
# Every target bootstraps first (idempotent: Debian packages, .venv, pip install when needed).

VENV    := .venv
BIN     := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help bootstrap run test test-slow demo-regression lint fmt obs obs-check obs-generate unit integration e2e bench-fixtures bench-auth bench-search bench-sync bench-loadgen bench-gateway bench-edge bench-gate-aa load stack contracts clean

help:
	@echo "make run             the main job: stack + InfluxDB up, baseline at smoke, SLO verdict"
	@echo "make test            lint (ruff, ruff format, mypy, migration lint) + every test but the long ones"
	@echo "make test-slow       the long suites (marker long): fault matrix, stress, spike, soak"
	@echo "make unit            unit tests only (no backends)"
	@echo "make integration     suites against real backends"
	@echo "make e2e             journeys through the gateway of a launched stack"
	@echo "make stack           start the stack and keep it running (Ctrl-C stops it)"
	@echo "make contracts       OpenAPI snapshots and event schemas against the services"
	@echo "make bench-fixtures  time per isolated database, cold start per backend"
	@echo "make bench-auth      login / refresh / protected route under 50 concurrent users"
	@echo "make bench-search    ingestion throughput, search p95 and SONA re-rank p95"
	@echo "make bench-sync      cross-device propagation latency over 500 WebSocket devices"
	@echo "make bench-gate-aa   false alarms of the regression gate over the recorded A/A runs"
	@echo "make bench-loadgen   load generator capacity per core vs wrk, recording overhead"
	@echo "make bench-gateway   hot paths through the gateway as ratios of a trivial endpoint's ceiling"
	@echo "make bench-edge      the gateway's own layers per request, in process, against the trivial app"
	@echo "make load            a load profile: PROFILE=stress PRESET=ci (LOAD_ARGS=…)"
	@echo "make fuzz            st run, every check: gateway + each service (FUZZ_EXAMPLES=100)"
	@echo "make fuzz-suites     the pytest fuzz suites with a large budget"
	@echo "make demo-regression baseline run, candidate 20 % slower on search, the gate's verdict + reports"
	@echo "make obs             Prometheus + Alertmanager + InfluxDB on the stack (TARGET=URL to scrape another)"
	@echo "make obs-check       offline: promtool check/test rules, amtool, dashboard lint, drift"
	@echo "make obs-generate    rewrite the metrics catalogue, SLO rules and tests, dashboards"
	@echo "make fmt             format and auto-fix"

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
	$(BIN)/mgh run

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mgh db lint

test: lint
	$(BIN)/pytest -m "not long" $(PYTEST_ARGS)

# Suites beyond make test's budget (marker `long`): the smoke presets of stress, spike and soak.
# -s: the long suites print as they go (the load's progress, each fault, the matrix's table,
# the soak's verdict per series) instead of holding half an hour of output to the end.
test-slow: bootstrap
	$(BIN)/pytest -m long -s $(PYTEST_ARGS)

unit: bootstrap
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

integration: bootstrap
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

e2e: bootstrap
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

stack: bootstrap
	$(BIN)/mgh stack up

bench-auth: bootstrap
	$(BIN)/python benchmarks/bench_auth.py $(BENCH_ARGS)

bench-search: bootstrap
	$(BIN)/python benchmarks/bench_search.py $(BENCH_ARGS)

bench-sync: bootstrap
	$(BIN)/python benchmarks/bench_sync.py $(BENCH_ARGS)

bench-fixtures: bootstrap
	$(BIN)/python benchmarks/bench_fixtures.py

bench-gate-aa: bootstrap
	$(BIN)/python benchmarks/gate_aa.py

bench-loadgen: bootstrap
	$(BIN)/python benchmarks/bench_loadgen.py $(BENCH_ARGS)

# The gateway's hot paths as ratios of a trivial endpoint's ceiling, same run (≈ 4 min).
bench-gateway: bootstrap
	$(BIN)/python benchmarks/bench_gateway.py $(BENCH_ARGS)

bench-edge: bootstrap
	$(BIN)/python benchmarks/bench_edge.py $(BENCH_ARGS)

# Load profiles: `make load PROFILE=stress PRESET=ci` (any `mgh load run` options in LOAD_ARGS).
PROFILE ?= baseline
PRESET ?= smoke
load: bootstrap
	$(BIN)/mgh load run $(PROFILE) --preset $(PRESET) $(LOAD_ARGS)

# The regression gate's A/B story: baseline run, candidate with search 20 % slower, mgh gate.
demo-regression: bootstrap
	$(BIN)/python scripts/demo_regression.py $(DEMO_ARGS)

obs: bootstrap
	$(BIN)/mgh obs up $(if $(TARGET),--target $(TARGET))

obs-check: bootstrap
	$(BIN)/mgh obs check

obs-generate: bootstrap
	$(BIN)/mgh obs generate

fmt: bootstrap
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache reports/out

contracts: bootstrap
	$(BIN)/mgh contracts check
	$(BIN)/pytest -m contract contracts $(PYTEST_ARGS)

# Schema fuzzing as a user runs it: `st run` (schemathesis' CLI, every check, the stateful phase,
# the repository's schemathesis.toml) on the gateway's document through the gateway and on each
# service's document at the service's own address; JUnit + HTML per document under
# reports/out/fuzz/, exit 1 on any failure. `make test` runs the same commands with 5 examples.
FUZZ_EXAMPLES ?= 100
.PHONY: fuzz
fuzz: bootstrap
	$(BIN)/mgh fuzz --examples $(FUZZ_EXAMPLES)

# The pytest fuzz suites (the same documents and checks, the suite's own users and stateful
# scenarios) with a large budget; reports/out/fuzz-junit.xml and fuzz-summary.md.
FUZZ_SCENARIOS ?= 100
.PHONY: fuzz-suites
fuzz-suites: bootstrap
	MG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) MG_STATEFUL_SCENARIOS=$(FUZZ_SCENARIOS) MG_STATEFUL_STEPS=12 \
		MG_CONTRACTS_REPORT=fuzz \
		$(BIN)/pytest -m contract contracts/test_fuzz_api.py contracts/test_stateful_api.py \
		-p no:cacheprovider --timeout=3600 $(PYTEST_ARGS)
