# Pipeline 3, protein: corpus -> record-level held-apart split -> masked-LM pretraining
# -> masked accuracy and perplexity on the held-apart records, beside the unigram baseline
# -> attention against BLOSUM62 (or protein.blosum.matrix) on the held-apart records, beside a random control.

PR = config.get("protein", {})


rule protein_split:
    input:
        PR.get("fasta", []),
    output:
        train=out("protein", "train.fasta"),
        held_out=out("protein", "held_out.fasta"),
    log:
        out("logs", "protein_split.log"),
    params:
        fraction=PR.get("held_out_fraction", 0.02),
    shell:
        "{SF} data protein-split --fasta {input} --train {output.train} --held-out {output.held_out} "
        "--fraction {params.fraction} > {log} 2>&1"


rule protein_pretrain:
    input:
        out("protein", "train.fasta"),
    output:
        directory(out("protein", "pretrain")),
    log:
        out("logs", "protein_pretrain.log"),
    params:
        launch=train_launcher(),
        flags=opts(PR.get("pretrain")),
        device=config["training"]["device"],
    resources:
        **train_resources(distributed=True),
    shell:
        "{params.launch} pretrain --fasta {input} --alphabet protein --out {output} --device {params.device} "
        "--quiet {params.flags} 2> {log}"


rule protein_evaluate:
    input:
        model=out("protein", "pretrain"),
        fasta=out("protein", "held_out.fasta"),
    output:
        report(out("protein", "evaluation.json"), caption="../report/protein_mlm.rst", category="Protein",
               labels={"figure": "masked-LM accuracy and perplexity"}),
    log:
        out("logs", "protein_evaluate.log"),
    params:
        device=config["training"]["device"],
    resources:
        gpu=gpus(),
    shell:
        "{SF} evaluate mlm --model {input.model}/model --fasta {input.fasta} --device {params.device} --json "
        "> {output} 2> {log}"


rule protein_blosum:
    input:
        model=out("protein", "pretrain"),
        fasta=out("protein", "held_out.fasta"),
    output:
        summary=report(out("protein", "blosum", "summary.json"), caption="../report/protein_blosum.rst",
                       category="Protein", labels={"figure": "attention vs substitution matrix (summary)"}),
        figure=report(out("protein", "blosum", "comparison.png"), caption="../report/protein_blosum.rst",
                      category="Protein", labels={"figure": "attention vs substitution matrix"}),
    log:
        out("logs", "protein_blosum.log"),
    params:
        folder=out("protein", "blosum"),
        flags=opts(PR.get("blosum")),
        device=config["training"]["device"],
    resources:
        gpu=gpus(),
    shell:
        "{SF} attention blosum --model {input.model}/model --fasta {input.fasta} --out {params.folder} "
        "--device {params.device} {params.flags} > {log} 2>&1"
