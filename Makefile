# Two commands for a newcomer: `make demo` and `make test`. Both create the
# virtual environment on first use and install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit sim bench jepsen clean

$(STAMP): pyproject.toml
	@# zipnet's pads build a small C batch over OpenSSL at first use (gcc, libssl-dev); without
	@# them the pads run in pure Python, slower, and say so once.
	@{ command -v cc >/dev/null && test -e /usr/include/openssl/evp.h; } || \
	  ! command -v apt-get >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq gcc libc6-dev libssl-dev) >/dev/null 2>&1 || \
	  echo "note: gcc/libssl-dev could not be installed: zipnet pads will run in pure Python"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/coalition demo --out build/handshakes
	rm -rf build/demo
	$(BIN)/coalition up examples/coalitions/local-trio.toml --data build/demo --for 25s

lint: $(STAMP)
	$(BIN)/ruff check src tests bench jepsen
	$(BIN)/ruff format --check src tests bench jepsen

typecheck: $(STAMP)
	$(BIN)/mypy --strict src
	$(BIN)/mypy --strict jepsen

unit: $(STAMP)
	$(BIN)/python -m pytest --durations=15

# A few hundred seeded Raft scenarios; `--seeds 10000` is the long campaign (docs/spec/raft.md).
sim: $(STAMP)
	$(BIN)/python -m pymosaik.sim raft --seeds 300
	$(BIN)/python -m pymosaik.sim raft --nodes 5 --seeds 100
	$(BIN)/python -m pymosaik.sim streams --seeds 40
	$(BIN)/python -m pymosaik.sim organisms --seeds 100

test: lint typecheck sim unit

# Benchmarks need the anchors (Debian's nats-server and etcd) on this machine.
bench: $(STAMP)
	command -v nats-server >/dev/null || (apt-get update -qq && apt-get install -y -qq nats-server)
	command -v etcd >/dev/null || (apt-get update -qq && apt-get install -y -qq etcd-server etcd-client)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench streams
	$(BIN)/python -m bench raft

# The long Jepsen campaign (root: network namespaces): every fault, 5 minutes, report as JSON
# too. JEPSEN_ARGS adds flags, e.g. `make jepsen JEPSEN_ARGS="--seed 3 --duration 900"`.
jepsen: $(STAMP)
	command -v iptables >/dev/null || (apt-get update -qq && apt-get install -y -qq iproute2 iptables)
	command -v cc >/dev/null || (apt-get update -qq && apt-get install -y -qq gcc libc6-dev)
	mkdir -p build
	$(BIN)/python -m jepsen run --duration 300 --json $(JEPSEN_ARGS) > build/jepsen-report.json; \
	  status=$$?; cat build/jepsen-report.json; exit $$status

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
