# Pipeline 1, promoters: genome + TSS BED -> windows -> (optional) pretraining -> fine-tuning
# -> evaluation (test split, beside a k-mer baseline) -> genome scan -> BED + bedGraph -> scan metrics.

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
        **train_resources(),
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
        metrics=out("promoters", "evaluation", "metrics.json"),
        roc=out("promoters", "evaluation", "roc.png"),
        pr=out("promoters", "evaluation", "pr.png"),
    log:
        out("logs", "promoter_evaluate.log"),
    params:
        folder=out("promoters", "evaluation"),
        device=config["training"]["device"],
    shell:
        "{SF} evaluate promoter --data {input.data} --model {input.model} --out {params.folder} "
        "--device {params.device} > {log} 2>&1"


rule promoter_scan:
    input:
        genome=P.get("genome", []),
        model=out("promoters", "model"),
    output:
        calls=out("promoters", "calls.bed"),
        track=out("promoters", "promoter.bedgraph"),
    log:
        out("logs", "promoter_scan.log"),
    params:
        flags=opts(P.get("scan")),
        device=config["training"]["device"],
    resources:
        gpu=train_resources()["gpu"],
    shell:
        "{SF} predict promoters --genome {input.genome} --model {input.model} --out {output.calls} "
        "--bedgraph {output.track} --device {params.device} --quiet {params.flags} > {log} 2>&1"


rule promoter_scan_metrics:
    input:
        calls=out("promoters", "calls.bed"),
        tss=P.get("tss", []),
    output:
        out("promoters", "scan_metrics.json"),
    log:
        out("logs", "promoter_scan_metrics.log"),
    params:
        region=P.get("scan", {}).get("region", ""),
        distance=P.get("scan_distance", 500),
    shell:
        "{SF} evaluate scan --calls {input.calls} --tss {input.tss} --region {params.region} "
        "--distance {params.distance} --json --out {output} > {log} 2>&1"
