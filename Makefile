# Two commands on a fresh machine with only Python 3.10+:
#   make demo   -- create .venv if missing, install, run the main job
#   make test   -- create .venv if missing, install, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
export TF_CPP_MIN_LOG_LEVEL ?= 3
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: demo test venv bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first (a plain range would pick a multi-GB CUDA build).
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[tensorflow,dev,onnx,jax,torch]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m dais_keras.experiments.demo

# Search tests that also run on the JAX and torch backends (one search step per backend).
BACKEND_TESTS := tests/search/test_search.py tests/search/test_feed.py tests/search/test_schedules.py \
	tests/utils/test_fit_checks.py \
	tests/search/test_objective.py tests/search/test_convergence.py \
	tests/select/test_repair.py tests/cost/test_budget.py \
	tests/latency/test_latency.py::test_latency_budget_guarantee \
	tests/latency/test_latency.py::test_latency_repair_widens_groups_inside_free_blocks \
	tests/latency/test_latency.py::test_step_table_search_surrogate_and_exact_agree_at_block_ends

# pytest exits 5 when it collects no test: that must never look like success.
# Two workers (pytest-xdist), one test file each at a time: the suite is single-threaded
# Python for the most part, so this halves its time on a 2-core machine. torch gets one
# thread per worker: two workers of two threads each on 2 cores made its pass 4.6x
# slower (92 s against 20 s idle here).
PYTEST = $(PY) -m pytest -q -p no:cacheprovider --durations=15 -n 2 --dist loadfile
define run_pytest
	$(1) $(PYTEST) $(2); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests"; exit 1; fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi
endef

test: $(STAMP)
	$(call run_pytest,KERAS_BACKEND=tensorflow,tests)
	$(call run_pytest,KERAS_BACKEND=jax,$(BACKEND_TESTS))
	$(call run_pytest,KERAS_BACKEND=torch OMP_NUM_THREADS=1,$(BACKEND_TESTS))

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
