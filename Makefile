# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seqformer-installed
DEMO := data_prep/demo
DEMO_OUT ?= demo_out

.PHONY: install demo test docs figures bench-tokenize gpu-prep clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first: a pinned local CPU wheel; the project's range accepts it and pulls nothing more.
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,workflows,notebooks,interactive,convert]"
	touch $(STAMP)

install: $(STAMP)

# The main job on the shipped slice (hg19 chr20:1-4,000,000): promoter windows, a small dense
# Transformer fine-tuned on CPU, its test-split metrics and curves, then a scan of the held-back
# last 500 kb (the test range, never trained on) to BED + bedGraph, scored against the TSSs there.
DEMO_GENOME := $(DEMO)/hg19_chr20_0-4Mb.fa.gz
DEMO_TSS := $(DEMO)/hg19_chr20_0-4Mb_refseq_tss.bed
DEMO_CGI := $(DEMO)/hg19_chr20_0-4Mb_cpgisland.bed
DEMO_HELD_BACK := chr20:3500001-4000000
SF := $(VENV)/bin/seqformer

demo: install
	rm -rf $(DEMO_OUT)
	$(SF) data promoters --genome $(DEMO_GENOME) --tss $(DEMO_TSS) --region chr20:1-4000000 \
	    --val-region chr20:3000001-3500000 --test-region $(DEMO_HELD_BACK) --negatives-per-positive 3 \
	    --out $(DEMO_OUT)/data
	$(SF) finetune promoter --data $(DEMO_OUT)/data --out $(DEMO_OUT)/model --kmer 3 --hidden 64 --layers 2 \
	    --epochs 15 --device cpu --quiet
	$(SF) evaluate promoter --data $(DEMO_OUT)/data --model $(DEMO_OUT)/model --out $(DEMO_OUT)/evaluation
	$(SF) predict promoters --genome $(DEMO_GENOME) --model $(DEMO_OUT)/model --region $(DEMO_HELD_BACK) \
	    --out $(DEMO_OUT)/calls.bed --narrowpeak $(DEMO_OUT)/calls.narrowPeak --bedgraph $(DEMO_OUT)/promoter.bedgraph \
	    --bigwig $(DEMO_OUT)/promoter.bw
	$(SF) evaluate scan --calls $(DEMO_OUT)/calls.bed --tss $(DEMO_TSS) --region $(DEMO_HELD_BACK) \
	    --out $(DEMO_OUT)/scan_metrics.json
	$(SF) evaluate scan --track $(DEMO_OUT)/promoter.bedgraph --tss $(DEMO_TSS) --region $(DEMO_HELD_BACK) \
	    --genome $(DEMO_GENOME) --baseline-data $(DEMO_OUT)/data --out $(DEMO_OUT)/scan_curve.json \
	    --sweep $(DEMO_OUT)/scan_sweep.tsv --figure $(DEMO_OUT)/scan_curve.png --cpg-islands $(DEMO_CGI) \
	    --island-figure $(DEMO_OUT)/scan_islands.png
	@echo "demo outputs in $(DEMO_OUT)/:"
	@echo "  data/         windows.tsv, dataset.json (promoter / background windows, split by coordinates)"
	@echo "  model/        the fine-tuned classifier (config.json, model.safetensors, tokenizer.json, metrics.csv,"
	@echo "                finetune.yaml, calibration.json: the call threshold for 1 false call per 100 kb of the validation range)"
	@echo "  evaluation/   metrics.json (model vs 4-mer logistic regression, also per background kind), roc/pr .png .svg"
	@echo "  calls.bed, calls.narrowPeak   calls in $(DEMO_HELD_BACK) at the calibrated threshold (summits in narrowPeak)"
	@echo "  promoter.bedgraph, promoter.bw  the probability track"
	@echo "  scan_metrics.json  the calibrated calls against the annotated TSSs there"
	@echo "  scan_curve.json, scan_curve.png, scan_sweep.tsv  recall against false calls per 100 kb, model beside the 4-mer LR scanner,"
	@echo "                 recall split into TSSs at CpG islands and the others (scan_islands.png)"

test: install
	$(PY) -m pytest -q

docs: install
	$(PY) -m seqformer.cli.reference > docs/cli.md

# docs/figures.md: every figure the CLI and the notebooks draw on the demo data (runs the demo first).
figures: demo
	$(PY) docs/gallery.py --demo $(DEMO_OUT) --out docs/figures

# GPU checks (docs/benchmarks.md, "GPU checks"): run here, then carry .whl and .gpu-data to the lent GPU
# machine (Python 3.12, torch, no internet), whose image lacks these packages.
SHARED ?= ../shared/data
GPU_WHEELS := biopython==1.88 cyvcf2==0.35.0 pyfaidx==0.9.2.2 tensorboardX==2.6.5 coloredlogs==15.0.1 \
    humanfriendly==10.0 performer-pytorch==1.1.4 local-attention==1.9.0 axial-positional-embedding==0.3.12

gpu-prep:
	rm -rf .whl && $(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
	    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
	    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $(GPU_WHEELS)
	mkdir -p .gpu-data && cp $(SHARED)/dna/hg19_chr20.fa.gz $(SHARED)/dna/hg19_chr20.fa.gz.fai \
	    $(SHARED)/dna/hg19_chr20.fa.gz.gzi $(SHARED)/protein/swissprot2014_100k.fasta.gz \
	    $(SHARED)/variants/mutationalpatterns_chr20_snvs.vcf .gpu-data/
	cp $(DEMO_GENOME) $(DEMO_GENOME).fai $(DEMO_GENOME).gzi .gpu-data/
	du -sh .whl .gpu-data

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
