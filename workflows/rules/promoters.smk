# Pipeline 1, promoters: genome + TSS BED -> windows -> (optional) pretraining -> fine-tuning
# -> evaluation (test split, beside a k-mer baseline) -> genome scan -> BED + bedGraph -> scan report
# (calls against the annotated TSSs: a table and JSON). Outputs marked report() also go into the
# HTML report of `snakemake ... --report-after-run --report report.html` (workflows/README.md).

P = config.get("promoters", {})


rule promoter_data:
    input:
        genome=P.get("genome", []),
        tss=P.get("tss", []),
    output:
        directory(out("promoters", "data")),
    log:
        out("logs", "promoter_data.log"),
    params:
        flags=opts(P.get("data")),
    shell:
        "{SF} data promoters --genome {input.genome} --tss {input.tss} --out {output} {params.flags} 2> {log}"


rule promoter_pretrain:
    input:
        genome=P.get("genome", []),
    output:
        directory(out("promoters", "pretrain")),
    log:
        out("logs", "promoter_pretrain.log"),
    params:
        launch=train_launcher(),
        flags=opts(P.get("pretrain", {}).get("options")),
        device=config["training"]["device"],
    resources:
        **train_resources(distributed=True),
    shell:
        "{params.launch} pretrain --fasta {input.genome} --alphabet dna --out {output} --device {params.device} "
        "--quiet {params.flags} 2> {log}"


def promoter_init(wildcards):
    """The pretrained encoder to start from, when the config asks for pretraining."""
    return [out("promoters", "pretrain")] if P.get("pretrain", {}).get("enabled") else []


rule promoter_finetune:
    input:
        data=out("promoters", "data"),
        init=promoter_init,
    output:
        directory(out("promoters", "model")),
    log:
        out("logs", "promoter_finetune.log"),
    params:
        init=lambda wildcards, input: f"--init {input.init}/model" if input.init else "",
        flags=opts(P.get("finetune")),
        device=config["training"]["device"],
    resources:
        **train_resources(),
    shell:
        "{SF} finetune promoter --data {input.data} --out {output} {params.init} --device {params.device} "
        "--quiet {params.flags} 2> {log}"


rule promoter_evaluate:
    input:
        data=out("promoters", "data"),
        model=out("promoters", "model"),
    output:
        metrics=report(out("promoters", "evaluation", "metrics.json"), caption="../report/promoter_metrics.rst",
                       category="Promoters", labels={"figure": "test-split metrics"}),
        roc=report(out("promoters", "evaluation", "roc.png"), caption="../report/promoter_curves.rst",
                   category="Promoters", labels={"figure": "ROC curve"}),
        pr=report(out("promoters", "evaluation", "pr.png"), caption="../report/promoter_curves.rst",
                  category="Promoters", labels={"figure": "precision-recall curve"}),
    log:
        out("logs", "promoter_evaluate.log"),
    params:
        folder=out("promoters", "evaluation"),
        device=config["training"]["device"],
    resources:
        gpu=gpus(),
    shell:
        "{SF} evaluate promoter --data {input.data} --model {input.model} --out {params.folder} "
        "--device {params.device} > {log} 2>&1"


rule promoter_scan:
    input:
        genome=P.get("genome", []),
        model=out("promoters", "model"),
    output:
        calls=report(out("promoters", "calls.bed"), caption="../report/promoter_scan.rst", category="Promoters",
                     labels={"figure": "genome-scan calls (BED6)"}),
        track=report(out("promoters", "promoter.bedgraph"), caption="../report/promoter_scan.rst",
                     category="Promoters", labels={"figure": "genome-scan probability track (bedGraph)"}),
    log:
        out("logs", "promoter_scan.log"),
    params:
        flags=opts(P.get("scan")),
        device=config["training"]["device"],
    resources:
        gpu=gpus(),
    shell:
        "{SF} predict promoters --genome {input.genome} --model {input.model} --out {output.calls} "
        "--bedgraph {output.track} --device {params.device} --quiet {params.flags} > {log} 2>&1"


rule promoter_scan_metrics:
    input:
        calls=out("promoters", "calls.bed"),
        tss=P.get("tss", []),
    output:
        metrics=out("promoters", "scan_metrics.json"),
        table=report(out("promoters", "scan_report.txt"), caption="../report/promoter_scan_report.rst",
                     category="Promoters", labels={"figure": "genome-scan report"}),
    log:
        out("logs", "promoter_scan_metrics.log"),
    params:
        region=P.get("scan", {}).get("region", ""),
        distance=P.get("scan_distance", 500),
    shell:
        "{SF} evaluate scan --calls {input.calls} --tss {input.tss} --region {params.region} "
        "--distance {params.distance} --out {output.metrics} > {output.table} 2> {log}"
