# `make demo` and `make test` set everything up first; every target is idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,dev]'
	$(BIN)/pip install --quiet --no-deps mmpretrain==1.2.0 paddleclas==2.6.0
	touch $(STAMP)

demo: setup
	$(BIN)/zoo lint
	$(BIN)/zoo list --family cspnet
	$(BIN)/zoo sync timm/cspresnet50 --random-weights --out demo
	$(BIN)/zoo sync timm/cspresnet50 --random-weights --out demo
	$(BIN)/zoo docs --records demo --out demo/docs
	@echo "ONNX, deploy files and record.json: demo/timm-cspresnet50/   pages: demo/docs/"

test: setup
	$(BIN)/ruff check zoo zoo_cli tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q
	$(BIN)/zoo lint
	$(BIN)/zoo docs --check

clean:
	rm -rf $(VENV) build *.egg-info demo
