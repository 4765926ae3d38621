# `make demo` and `make test` set everything up first; every target is idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
# A wheel the tests serve from a local package index (timm at another version than the installed one).
TEST_WHEEL := $(VENV)/test-wheels/timm-0.6.5-py3-none-any.whl

.PHONY: setup demo test clean

setup: $(STAMP) $(TEST_WHEEL)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,dev]'
	$(BIN)/zoo install --quiet mmcls ppcls
	touch $(STAMP)

$(TEST_WHEEL): | $(STAMP)
	$(BIN)/pip download --quiet --no-deps --only-binary=:all: timm==0.6.5 -d $(dir $(TEST_WHEEL))

demo: setup
	$(BIN)/zoo lint
	$(BIN)/zoo list --family cspnet
	$(BIN)/zoo sync timm/cspresnet50 --random-weights --out demo
	$(BIN)/zoo sync timm/cspresnet50 --random-weights --out demo
	$(BIN)/zoo docs --records demo --out demo/docs
	@echo "ONNX, deploy files and record.json: demo/timm-cspresnet50/   pages: demo/docs/"

test: setup
	$(BIN)/ruff check zoo zoo_cli tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -q
	$(BIN)/zoo lint
	$(BIN)/zoo docs --check

clean:
	rm -rf $(VENV) build *.egg-info demo
