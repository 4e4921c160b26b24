# advlab — the two commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and install advlab into it first.

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.advlab-installed
TORCH   ?= torch==2.14.1 torchvision==0.29.1
FMNIST  := /usr/share/datasets/fashion-mnist
PYTEST_ARGS ?=

.PHONY: demo test test-slow lint typecheck bench install fashion-mnist chromium clean

demo: $(STAMP) fashion-mnist
	$(BIN)/advlab demo --out runs/demo

test: $(STAMP) fashion-mnist chromium lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-slow: $(STAMP) fashion-mnist
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy src/advlab

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

install: $(STAMP)

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

# Torch first (pinned; a local wheel on the dev machines), then advlab with its dev
# extras, then the peer libraries with --no-deps so they never replace torch: the attack
# libraries, and robustness / robustbench (with the few modules they import) for the
# checkpoint-import tests.
$(STAMP): $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps torchattacks foolbox eagerpy adversarial-robustness-toolbox \
		robustness dill cox tensorboardX protobuf robustbench timm geotorch torchdiffeq pyyaml \
		|| echo "note: peer libraries not installed; peer and model-import tests will be skipped"
	$(BIN)/pip install -q GitPython requests six typing_extensions || true
	touch $(STAMP)

# Full Fashion-MNIST comes from the Debian package dataset-fashion-mnist.
fashion-mnist:
	@if ls $(FMNIST)/*.gz >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian package dataset-fashion-mnist into $(FMNIST)"; \
		(apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) \
		|| echo "note: could not install dataset-fashion-mnist; fashion-mnist tests will be skipped (use --data-root)"; \
	else \
		echo "note: apt-get not usable here; install dataset-fashion-mnist or pass --data-root / ADVLAB_DATA for fashion-mnist"; \
	fi

# Headless Chromium renders the report in the browser test (skipped without it).
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian package chromium (for the report's browser test)"; \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
		|| echo "note: could not install chromium; the browser test will be skipped"; \
	else \
		echo "note: apt-get not usable here; install chromium to run the report's browser test"; \
	fi

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
