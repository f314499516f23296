# Two entry points do all set-up on a fresh machine: `make book` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PROFILE ?= cpu
FMNIST_SYSTEM := /usr/share/datasets/fashion-mnist
FORTUNES_SYSTEM := /usr/share/games/fortunes

.PHONY: install data book test bench check-html clean-book

$(INSTALLED): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

install: $(INSTALLED)

# The default dataset: Debian's package where we can install it (root with apt-get), else the loader
# downloads it from the dataset's official mirror. Either way the files are validated. The language-model
# corpus is Debian's `fortunes` package (no download fallback: a missing corpus is a clear error).
data: $(INSTALLED)
	@if [ ! -d $(FMNIST_SYSTEM) ] && [ ! -d data/fashion-mnist ] && [ -z "$$BANNB_DATA" ] \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
	    || echo "apt-get could not install dataset-fashion-mnist; falling back to a download"; \
	fi
	$(PY) -m bannb data --dataset fashion-mnist
	@if [ ! -f $(FORTUNES_SYSTEM)/fortunes ] && [ ! -d data/fortunes ] && [ -z "$$BANNB_DATA" ] \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fortunes) >/dev/null \
	    || echo "apt-get could not install fortunes (the language-model corpus)"; \
	fi
	$(PY) -m bannb data --dataset fortunes

# Experiments at the default profile (finished runs are reused), then the HTML book.
book: data
	$(PY) -m bannb.book --profile $(PROFILE)

# The library's tests, then every chapter of the book at the smoke profile under nbval (in a fresh runs folder;
# one worker: at smoke a run takes seconds, less than starting worker processes).
test: data
	$(PY) -m pytest tests -q -p no:cacheprovider
	BANNB_WORKERS=1 BANNB_PROFILE=smoke BANNB_RUNS=$$(mktemp -d) $(PY) -m pytest --nbval-lax -p no:cacheprovider book/

# Speed of a distillation step in every precision against a plain fp32 loop, on the CPU at hand (writes
# book/results/performance-<cpu>.json); where a GPU is present, the gpu profile's steps too (performance-gpu.json).
bench: $(INSTALLED)
	$(PY) -m bannb.bench
	@if $(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then \
	  $(PY) -m bannb.bench.gpu --json book/results/performance-gpu.json; \
	else echo "no CUDA device: the GPU cases (python -m bannb.bench.gpu) are skipped"; fi

# Load every rendered chapter in headless chromium (Debian's `chromium`): title, every figure decodes, every table
# fits its column at 1280 px.
check-html: $(INSTALLED)
	$(PY) -m bannb.book --check-html --screenshots _build/screenshots

clean-book:
	rm -rf _build
