# Pipeline 2, chromatin and variants: sequences + peak files -> labelled windows -> multi-label
# fine-tuning -> per-target evaluation; optionally TF binding the same way; then a VCF scored with
# the model named in variants.model.

C = config.get("chromatin", {})
T = config.get("tf_binding", {})
V = config.get("variants", {})


rule chromatin_data:
    input:
        sequences=C.get("sequences", []),
        peaks=C.get("peaks", []),
    output:
        directory(out("chromatin", "data")),
    log:
        out("logs", "chromatin_data.log"),
    params:
        flags=opts(C.get("data")),
        peaks=lambda wildcards, input: " ".join(f"--peaks {p}" for p in input.peaks),
    shell:
        "{SF} data chromatin --fasta {input.sequences} {params.peaks} --out {output} {params.flags} 2> {log}"


rule tf_binding_data:
    input:
        peaks=T.get("peaks", []),
        genome=T.get("genome", []),
    output:
        directory(out("tf_binding", "data")),
    log:
        out("logs", "tf_binding_data.log"),
    params:
        genome=lambda wildcards, input: f"--genome {input.genome}" if input.genome else "",
        flags=opts(T.get("data")),
    shell:
        "{SF} data tf-binding --peaks {input.peaks} {params.genome} --out {output} {params.flags} 2> {log}"


TASK_OF = {"chromatin": "chromatin", "tf_binding": "tf-binding"}


rule window_finetune:
    input:
        data=out("{task}", "data"),
    output:
        directory(out("{task}", "model")),
    log:
        out("logs", "{task}_finetune.log"),
    wildcard_constraints:
        task="chromatin|tf_binding",
    params:
        name=lambda wildcards: TASK_OF[wildcards.task],
        flags=lambda wildcards: opts(config.get(wildcards.task, {}).get("finetune")),
        device=config["training"]["device"],
    resources:
        **train_resources(),
    shell:
        "{SF} finetune {params.name} --data {input.data} --out {output} --device {params.device} --quiet "
        "{params.flags} 2> {log}"


# `seqformer evaluate` draws bars per target (auroc.png, auprc.png) for several targets and ROC / PR
# curves (roc.png, pr.png) for one: TF binding always has one, chromatin one per peak file.
ONE_TARGET_TASKS = ["tf_binding", *(["chromatin"] if len(C.get("peaks", [])) == 1 else [])]
NO_TASK = "(?!)"  # a wildcard constraint that matches nothing


rule window_evaluate:
    input:
        data=out("{task}", "data"),
        model=out("{task}", "model"),
    output:
        metrics=out("{task}", "evaluation", "metrics.json"),
        table=report(out("{task}", "evaluation", "metrics.tsv"), caption="../report/window_metrics.rst",
                     category="Chromatin and TF binding", subcategory="{task}", labels={"figure": "per-target metrics"}),
        bars=report(out("{task}", "evaluation", "auroc.png"), caption="../report/window_metrics.rst",
                    category="Chromatin and TF binding", subcategory="{task}", labels={"figure": "AUROC per target"}),
    log:
        out("logs", "{task}_evaluate.log"),
    wildcard_constraints:
        task="|".join(t for t in TASK_OF if t not in ONE_TARGET_TASKS) or NO_TASK,
    params:
        name=lambda wildcards: TASK_OF[wildcards.task],
        folder=lambda wildcards: out(wildcards.task, "evaluation"),
        flags=lambda wildcards: opts(config.get(wildcards.task, {}).get("evaluate")),
        device=config["training"]["device"],
    resources:
        gpu=gpus(),
    shell:
        "{SF} evaluate {params.name} --data {input.data} --model {input.model} --out {params.folder} "
        "--device {params.device} {params.flags} > {log} 2>&1"


use rule window_evaluate as window_evaluate_one_target with:
    output:
        metrics=out("{task}", "evaluation", "metrics.json"),
        table=report(out("{task}", "evaluation", "metrics.tsv"), caption="../report/window_metrics.rst",
                     category="Chromatin and TF binding", subcategory="{task}", labels={"figure": "metrics"}),
        roc=report(out("{task}", "evaluation", "roc.png"), caption="../report/window_metrics.rst",
                   category="Chromatin and TF binding", subcategory="{task}", labels={"figure": "ROC curve"}),
        pr=report(out("{task}", "evaluation", "pr.png"), caption="../report/window_metrics.rst",
                  category="Chromatin and TF binding", subcategory="{task}", labels={"figure": "precision-recall curve"}),
    wildcard_constraints:
        task="|".join(ONE_TARGET_TASKS),


rule score_variants:
    input:
        vcf=V.get("vcf", []),
        genome=V.get("genome", []),
        model=out(V.get("model", "chromatin"), "model"),
        evaluated=out(V.get("model", "chromatin"), "evaluation", "metrics.json"),
    output:
        scores=report(out("variants", "scores.tsv"), caption="../report/variants.rst", category="Variants",
                      labels={"figure": "variant scores"}),
        vcf=out("variants", "annotated.vcf"),
    log:
        out("logs", "score_variants.log"),
    params:
        flags=opts(V.get("options")),
        device=config["training"]["device"],
    resources:
        gpu=gpus(),
    shell:
        "{SF} score-variants --vcf {input.vcf} --genome {input.genome} --model {input.model} "
        "--out {output.scores} --vcf-out {output.vcf} --device {params.device} --quiet {params.flags} > {log} 2>&1"
