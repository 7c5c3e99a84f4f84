# One venv per checkout; every target installs what it needs, so a fresh clone works.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# The pins the image installs too, so CI tests what ships.
CONSTRAINTS := images/sandlot/constraints.txt

.PHONY: run test test-cluster cluster test-slow bench e2e crds lint clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --constraint $(CONSTRAINTS) -e '.[test,lint]'
	touch $(STAMP)

## run: start the example sandbox on this machine (`sandlot up examples/payments/sandbox.yaml`)
run: $(STAMP)
	$(BIN)/sandlot up examples/payments/sandbox.yaml

# The cluster tier builds a Kubernetes control plane from Go modules (cached in .cache/controlplane/).
GO_OK := $(shell go env GOVERSION 2>/dev/null | grep -qE '^go1\.(2[6-9]|[3-9][0-9])' && echo yes)

## test: the whole test suite: unit, integration (emulator) and the cluster tier (real control plane, needs Go >= 1.26)
test: $(STAMP)
ifneq ($(GO_OK),yes)
	@echo "make test: cluster tier SKIPPED: no Go >= 1.26 on PATH to build the Kubernetes control plane (tests/controlplane)"
endif
	$(BIN)/python -m pytest -q

## test-cluster: only the tests that run on the real control plane (builds it on first use)
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -q -m cluster

## cluster: start the test control plane by hand (chart installed) and print the KUBECONFIG line; Ctrl-C stops it
cluster: $(STAMP)
	$(BIN)/python -m tests.controlplane --install-chart

## test-slow: the long checks on the large shared specs
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

## bench: speed and memory against peers measured in the same run, the per-request work
## in-process, then the stateful mode (req/s vs stateless, 1 vs 2 workers, a page of a
## 10,000-object tenant, 1,000 tenants, reset of 10,000 objects), the operator (writes,
## create->Ready on the emulator; 1,000 sandboxes on the real control plane), `sandlot diff` on GitHub's 13 MB spec, and the GraphQL mock vs @graphql-tools/mock
bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.inprocess
	$(BIN)/python -m bench.graphql
	$(BIN)/python -m tests.sandbox.measure_throughput
	$(BIN)/python -m tests.operator.measure_provisioning 5
	$(BIN)/python -m tests.operator.measure_scale 1000
	$(BIN)/python -m tests.diff.measure_diff

## e2e: against the real cluster in KUBECONFIG (skips without one)
e2e: $(STAMP)
	$(BIN)/python -m pytest -q e2e -m 'not slow' -p no:cacheprovider

## lint: ruff (style and likely bugs), mypy (types; strict on the layers' interfaces) and
## import-linter (the layers of docs/architecture.md: nothing imports upward)
lint: $(STAMP)
	$(BIN)/ruff check operator tests bench e2e
	$(BIN)/mypy
	$(BIN)/lint-imports

## crds: regenerate crds/ (and the chart's copy) from the pydantic models
crds: $(STAMP)
	$(BIN)/sandlot crds

clean:
	rm -rf $(VENV) .pytest_cache
