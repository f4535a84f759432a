# seqkit: every target installs what it needs first. `make` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CORPUS ?= shakespeare
RECIPE ?= char_rnn
SET    ?=

.DEFAULT_GOAL := help
.PHONY: help install test lint demo min-char-rnn char-rnn repeated-ones sentiment \
        sequence-classify caption translate

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

char-rnn: $(STAMP) ## char-rnn defaults: 2-layer LSTM 128 (CORPUS=..., SET="--set model.cell=mut1")
	$(VENV)/bin/seqkit train char_rnn --set data.corpus=$(CORPUS) $(SET)

.PHONY: export serve
export: $(STAMP) ## Export runs/RECIPE as the next SavedModel version in saved_models/ (RECIPE=char_rnn, or RUN=DIR)
	$(VENV)/bin/seqkit export $(if $(RUN),$(RUN),$(RECIPE))

serve: $(STAMP) ## Serve saved_models/ with TF Serving (local tensorflow_model_server, else prints the docker command)
	$(VENV)/bin/seqkit serve

repeated-ones: $(STAMP) ## Lecture 7: the hand-set ReLU RNN, then the same one trained from random weights
	$(VENV)/bin/seqkit train repeated_ones $(SET)

sentiment: $(STAMP) ## Many-to-one: tweet -> negative/neutral/positive (SET="--set model.cell=gru")
	$(VENV)/bin/seqkit train sentiment $(SET)

sequence-classify: $(STAMP) ## Many-to-one over frames: Fashion-MNIST rows as a 28-step sequence
	$(VENV)/bin/seqkit train sequence_classify $(SET)

caption: $(STAMP) ## One-to-many: captions for grids of Fashion-MNIST items, greedy and beam search
	$(VENV)/bin/seqkit train caption $(SET)

translate: $(STAMP) ## Seq2seq en->fr from gettext catalogs: context vector only, then Luong attention
	$(VENV)/bin/seqkit train translate --set model.attention=none \
	  --set train.run_dir=runs/translate_no_attention $(SET)
	$(VENV)/bin/seqkit train translate --set model.attention=luong \
	  --set train.run_dir=runs/translate_attention $(SET)
