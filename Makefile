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
	$(PY) -m seqkit.kernels
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

.PHONY: bench
bench: $(STAMP) ## Speed: every cell's training tokens/s vs Keras and torch, sampling, scan scaling
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m benchmarks.throughput
	$(PY) -m benchmarks.sampling
	$(PY) -m benchmarks.scan_scaling --quick
	$(PY) -m benchmarks.ceiling

# seqkit vis: RUN=runs/<name> (a run directory or recipe name); TEXT=FILE reads that file.
RUN  ?= runs/char_rnn
TEXT ?=
VIS_TEXT = $(if $(TEXT),--text-file $(TEXT),)
.PHONY: vis-activations vis-cells vis-saturation vis-gradient-flow vis-saliency vis-curves \
        vis-bench browser
vis-activations: $(STAMP) ## A unit's tanh(c)/h over text: RUN/vis/activations.html (unit picker) + PNG
	$(VENV)/bin/seqkit vis activations $(RUN) $(VIS_TEXT)

vis-cells: $(STAMP) ## Interpretable-cell search: rank every unit against quotes, comments, depth... (RUN=...)
	$(VENV)/bin/seqkit vis cells $(RUN) $(VIS_TEXT)

vis-saturation: $(STAMP) ## Gate saturation per layer (fraction of steps < 0.1 / > 0.9), scatter PNG (RUN=...)
	$(VENV)/bin/seqkit vis saturation $(RUN) $(VIS_TEXT)

vis-gradient-flow: $(STAMP) ## ||dL_T/dh_t|| against t and sigma_max of the recurrent matrices (RUN=...)
	$(VENV)/bin/seqkit vis gradient-flow $(RUN) $(VIS_TEXT)

vis-saliency: $(STAMP) ## tf-keras-vis Saliency/SmoothGrad (RUN=runs/sentiment SENTENCE="..." or RUN=runs/caption)
	$(VENV)/bin/seqkit vis saliency $(RUN) $(if $(SENTENCE),--text "$(SENTENCE)",) $(if $(IMAGE),--image $(IMAGE),)

vis-curves: $(STAMP) ## Training curves of a run from its history.json (RUN=...)
	$(VENV)/bin/seqkit vis curves $(RUN)

vis-bench: $(STAMP) ## Interpretable cells on Linux/Shakespeare, gradient flow, saturation -> benchmarks/results/
	$(PY) -m benchmarks.interpretable_cells
	$(PY) -m benchmarks.gradient_flow

browser: ## Install Debian's chromium (headless browser for the HTML page test)
	command -v chromium || apt-get install -y chromium

.PHONY: tune jozefowicz greff
TRIALS    ?= 10
ALGORITHM ?= random
BUDGET    ?=
tune: $(STAMP) ## Keras Tuner sweep of a recipe (RECIPE=arithmetic TRIALS=10 ALGORITHM=random|hyperband|bayesian BUDGET=SEC per trial, SET="--set k=v --cells gru,lstm"); resumable
	$(VENV)/bin/seqkit tune $(RECIPE) --trials $(TRIALS) --algorithm $(ALGORITHM) \
	  $(if $(BUDGET),--trial-budget-s $(BUDGET),) $(SET)

jozefowicz: $(STAMP) ## Jozefowicz 2015: 10 cell families x arithmetic/XML/music, a small search each (~2.5 h on 2 CPUs; FULL=1 for big budgets)
	$(PY) -m benchmarks.jozefowicz $(if $(FULL),--full,)

greff: $(STAMP) ## Greff 2015: the LSTM variants on the Bach chorales, a small search each (~25 min on 2 CPUs; FULL=1)
	$(PY) -m benchmarks.greff $(if $(FULL),--full,)

.PHONY: train-distributed tune-distributed bench-distributed
WORKERS ?= 2
train-distributed: $(STAMP) ## Multi-worker training on loopback, the shape of a cluster run (RECIPE=char_rnn WORKERS=2 SET="--set k=v")
	$(VENV)/bin/seqkit train $(RECIPE) --workers $(WORKERS) $(SET)

tune-distributed: $(STAMP) ## Distributed Keras Tuner sweep: one chief (oracle) + WORKERS workers on loopback (RECIPE=arithmetic TRIALS=10 SET=...)
	$(VENV)/bin/seqkit tune-distributed $(RECIPE) --workers $(WORKERS) --trials $(TRIALS) \
	  $(if $(BUDGET),--trial-budget-s $(BUDGET),) $(SET)

bench-distributed: $(STAMP) ## 1 vs 2 workers for char-rnn and translate -> benchmarks/results/distributed.json
	$(PY) -m benchmarks.distributed
