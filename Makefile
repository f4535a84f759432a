# seqkit: every target installs what it needs first. `make` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CORPUS ?= shakespeare
RECIPE ?= char_rnn
SET    ?=

.DEFAULT_GOAL := help
.PHONY: help install test lint demo min-char-rnn char-rnn bench

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv/ and install seqkit with its dev tools (quick when up to date)

test: $(STAMP) ## Run the test suite (what CI runs)
	$(PY) -m pytest -q -m "not slow" --durations=10

lint: $(STAMP) ## Check style with ruff
	$(VENV)/bin/ruff check seqkit tests recipes benchmarks

demo: $(STAMP) ## Train char-rnn on the embedded Shakespeare for a few minutes, printing samples
	$(VENV)/bin/seqkit train char_rnn --set data.corpus=shakespeare --preset demo

min-char-rnn: $(STAMP) ## Karpathy's min-char-rnn, exactly (CORPUS=shakespeare|linux|python_stdlib|PATH)
	$(VENV)/bin/seqkit train min_char_rnn --set data.corpus=$(CORPUS) $(SET)

char-rnn: $(STAMP) ## char-rnn's defaults: 2-layer LSTM 128 (CORPUS=..., SET="model.cell=mut1")
	$(VENV)/bin/seqkit train char_rnn --set data.corpus=$(CORPUS) $(SET)
