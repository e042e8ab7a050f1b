# Two commands on a fresh machine with only Python 3.10+:
#   make demo   -- create .venv if missing, install, run the main job
#   make test   -- create .venv if missing, install, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 3
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: demo test venv bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,onnx,jax]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m dais_keras.demo

# pytest exits 5 when it collects no test: that must never look like success.
test: $(STAMP)
	$(PY) -m pytest tests -q -p no:cacheprovider --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests"; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
