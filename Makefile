# `make demo` runs the main job, `make test` the test suite. Both build .venv from nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The CPU wheel of torch lies on local disk on the project's machines; prefer it when no torch is present.
TORCH_PIN ?= torch==2.13.0

.PHONY: venv demo diffusers-demo test bench probes-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_PIN)" || $(PY) -m pip install --quiet torch
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	MPLBACKEND=Agg $(PY) examples/clifford_torus.py

# the torus measurement on a diffusers UNet2DModel trained with DDPMScheduler (needs the diffusers extra, in dev)
diffusers-demo: venv
	MPLBACKEND=Agg $(PY) examples/diffusers_series.py

test: venv
	MPLBACKEND=Agg $(PY) -m pytest -q

probes-quick: venv
	OMP_NUM_THREADS=1 $(PY) -m probes.run_all --quick --no-progress

bench: venv
	$(PY) benchmarks/tracer_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
