# One-command entry points. Each target creates the virtual environment it needs first.
#   make demo   the main job (closed loop on the embedded simulator; see README)
#   make test   the test suite (what CI runs)
#   make benchmark   the unseen-world benchmark, the quality scoreboard (benchmarks/unseen_worlds)
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= ros,infer,sim,build,test
export MUJOCO_GL ?= egl

.PHONY: venv sysdeps test test-fast typecheck lint demo bench benchmark backbones models clean

$(VENV)/.installed: setup.py
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is needed for the ROS 2 Jazzy wheels)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

venv: $(VENV)/.installed

# Debian packages the tests use when they can be had: `ign sdf` validates the Gazebo world.
sysdeps:
	@if command -v ign >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ignition-tools libsdformat-dev >/dev/null) \
		|| echo "warning: could not install ignition-tools; the SDF validation tests will be skipped"; \
	else echo "note: ignition-tools not installed (needs root + apt); the SDF validation tests will be skipped"; fi

# TensorFlow (model building) and MuJoCo's EGL renderer crash when loaded in one process with rclpy
# nodes, so the model-building tests run in a pytest process of their own.
test: venv sysdeps
	$(PY) -m ruff check selfsup_perception test benchmarks launch
	$(PY) -m mypy  # the whole package, strict (files and per-module exceptions in setup.cfg)
	$(PY) -m pytest -q -p no:cacheprovider --timeout=900 --durations=10 --ignore=test/modelbuild
	$(PY) -m pytest -q -p no:cacheprovider --timeout=900 --durations=5 test/modelbuild

test-fast: venv
	$(PY) -m pytest -q -m "not slow" --ignore=test/modelbuild

typecheck: venv
	$(PY) -m mypy

lint: venv
	$(PY) -m ruff check selfsup_perception test benchmarks

demo: venv
	$(PY) -m selfsup_perception demo

# The unseen-world benchmark (the quality scoreboard): 20 new worlds, report in benchmarks/unseen_worlds.
benchmark: venv
	$(PY) -m selfsup_perception benchmark --out benchmarks/unseen_worlds

# torchvision for the segmentation peer benchmark only: never a dependency of the package.
.venv-torch/.installed:
	$(PYTHON) -m venv .venv-torch
	.venv-torch/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	touch $@

bench: venv .venv-torch/.installed
	$(PY) benchmarks/run.py

# The backbone study (issue 14): every backbone trained with one budget, scored on 10 unseen worlds and timed;
# about 75 minutes on 2 cores, resumable (build/backbones keeps each step). Report: benchmarks/backbones_study.md.
backbones: venv
	mkdir -p build/backbones
	$(PY) benchmarks/bench_backbones.py --quality --work build/backbones --plot benchmarks/backbones_study.png \
		--json build/backbones/study.json > build/backbones/study.md
	mv build/backbones/study.md benchmarks/backbones_study.md

models: venv
	$(PY) -m selfsup_perception make-models --out models

clean:
	rm -rf $(VENV) build install log demo_output .pytest_cache .hypothesis
