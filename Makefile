# mefuse: the two commands of the README, and a few more.
#   make demo   set up .venv and run the real-face demo (extract + cross-validate)
#   make test   set up .venv and run the test suite
#   make typecheck  mypy on src/ (configured in pyproject.toml; CI runs it)
#   make docs   build the documentation site into site/ (mkdocs, warnings as errors; CI runs it)
# Torch is pinned to the builds this project is tested with; timm needs torchvision, and
# torch 2.14.1 + torchvision 0.29.1 is the pair that installs together here. --no-cache-dir:
# the CUDA wheels would otherwise be kept a second time in pip's cache (several GB of disk).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.mefuse-installed
DOCS_STAMP := $(VENV)/.mefuse-docs-installed

.PHONY: setup demo test lint typecheck bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-cache-dir --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir $(TORCH)
	$(BIN)/python -m pip install --quiet --no-cache-dir -e '.[all,dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/mefuse demo --out demo_out

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

# The docs extra (MkDocs, mkdocstrings) is installed on first use, not by setup.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-cache-dir -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict

bench: setup
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) demo_out runs site
