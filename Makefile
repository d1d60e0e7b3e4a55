# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seqformer-installed
DEMO := data_prep/demo
DEMO_OUT ?= demo_out

.PHONY: install demo test bench-tokenize clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first: a pinned local CPU wheel; the project's range accepts it and pulls nothing more.
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/seqformer tokenize --genome $(DEMO)/hg19_chr20_0-4Mb.fa.gz --region chr20:1-4000000 --k 6 --stride 1 --json $(DEMO_OUT)/tokenize_summary.json

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
