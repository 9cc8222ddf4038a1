# The two set-up commands of the README. Each creates or reuses .venv and installs what it needs.
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel; on a GPU machine use the torch build that matches its CUDA.
TORCH ?= torch==2.13.0
# Exact versions of everything installed (pip constraints); `make lock` refreshes it.
LOCK := requirements.lock
STAMP := $(VENV)/.installed
# OpenRLHF's own code for the seam tests, off the venv's import path (tests/openrlhf-side.txt).
OPENRLHF_SITE := $(VENV)/openrlhf-0.11.2

.PHONY: quickstart test test-all lint study study-shift golden docs gpu-wheels lock lock-gpu

$(STAMP): pyproject.toml tests/openrlhf-side.txt $(LOCK)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(LOCK) "$(TORCH)"
	$(PY) -m pip install -q -c $(LOCK) -e ".[test]"
	rm -rf $(OPENRLHF_SITE)
	$(PY) -m pip install -q --no-deps --target $(OPENRLHF_SITE) -r tests/openrlhf-side.txt \
	  || echo "OpenRLHF 0.11.2 not installed: the seam tests will skip"
	touch $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/rlhf-eval run recipes/quickstart.yaml

# The planted-truth study (README): about 5 minutes on 2 cores; rerun to resume.
study: $(STAMP)
	$(VENV)/bin/rlhf-eval run recipes/study.yaml

# Its distribution-shift axis (README, docs/compare.md): about 7 minutes on 2 cores; rerun to resume.
study-shift: $(STAMP)
	$(VENV)/bin/rlhf-eval run recipes/study-shift.yaml

# The fast tests and a representative set of the slow ones (marked ci): about 16 minutes on 2 cores.
test: $(STAMP)
	$(PY) -m pytest -q -ra -m "not slow or ci"

# Every test, the slow end-to-end ones included: about 25 minutes on 2 cores.
test-all: $(STAMP)
	$(PY) -m pytest -q -ra

# ruff (pyflakes, pycodestyle, import order; settings in pyproject.toml) over the whole tree.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Re-record tests/golden/ (rendered sbatch scripts, OpenRLHF argv) after an intended change; read the diff.
golden: $(STAMP)
	RLHF_EVAL_RECORD_GOLDEN=1 $(PY) -m pytest -q tests/test_golden.py

# docs/config.md from the config classes' fields (tests/test_config_docs.py fails when it is stale).
docs: $(STAMP)
	$(PY) -m rlhf_eval.config_docs

# Wheels benchmarks/gpu_check.sh carries to a lent GPU machine (CPython 3.12, no network there);
# a package published only as an sdist is built into a wheel here (all such are pure Python).
gpu-wheels: $(STAMP)
	rm -rf .gpu-wheels && mkdir -p .gpu-wheels
	for req in $$(grep -v '^#' benchmarks/gpu-wheels.txt); do \
	  $(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .gpu-wheels "$$req" 2>/dev/null \
	  || $(PY) -m pip wheel -q --no-deps -w .gpu-wheels "$$req" || exit 1; \
	done
	du -sh .gpu-wheels

# Re-resolve requirements.lock: today's newest versions that pyproject.toml allows, in a scratch
# venv; then `make test` and read the diff before committing it.
lock:
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q "$(TORCH)" && .lock-venv/bin/python -m pip install -q -e ".[test]"
	{ sed -n '/^#/p' $(LOCK); .lock-venv/bin/python -m pip freeze --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf .lock-venv

# Re-resolve requirements-gpu.lock (the cluster route's vLLM/OpenRLHF/DeepSpeed set) with pip's
# resolver in dry-run mode: metadata only, nothing is installed. Then `make test` and read the diff.
lock-gpu: $(STAMP)
	$(PY) -m rlhf_eval.launch.gpu_lock
