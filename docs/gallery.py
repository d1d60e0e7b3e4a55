"""Regenerate docs/figures.md: every figure the CLI and the notebooks draw, on the shipped demo data.

Run by ``make figures`` (after ``make demo``, whose model and evaluation it uses):

    .venv/bin/python docs/gallery.py --demo demo_out --out docs/figures

Each figure is made by the command a user would run (listed under it in figures.md), copied into
``docs/figures/`` as PNG (SVGs stay beside the command's outputs), and the page is rewritten.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "data_prep" / "demo"
GENOME = DEMO_DATA / "hg19_chr20_0-4Mb.fa.gz"
TSS = DEMO_DATA / "hg19_chr20_0-4Mb_refseq_tss.bed"
PROTEINS = DEMO_DATA / "swissprot_1k.fasta.gz"
MODELS = ROOT / "notebooks" / "models"
NOTEBOOKS = ("attention_maps", "protein_attention_vs_blosum", "promoter_scan")


def seqformer(*args: object, allow: tuple[int, ...] = (0,)) -> None:
    """Run one ``seqformer`` command (the installed one beside this Python), as a user would."""
    command = [str(Path(sys.executable).with_name("seqformer")), *map(str, args)]
    print("$", " ".join(command[1:]).replace(str(ROOT) + "/", ""), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in allow:
        sys.exit(f"failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def first_plus_tss(start: int, end: int) -> int:
    """0-based position of the first + strand TSS of the demo annotation in [start, end)."""
    for line in TSS.read_text().splitlines():
        chrom, position, _, _, _, strand = line.split("\t")[:6]
        if chrom == "chr20" and strand == "+" and start <= int(position) < end:
            return int(position)
    raise SystemExit(f"no + strand TSS in chr20:{start + 1}-{end}")


def notebook_figures(work: Path) -> dict[str, list[Path]]:
    """Execute each notebook in ``work`` and save its PNG outputs; name → files."""
    import nbformat
    from nbclient import NotebookClient

    found = {}
    for name in NOTEBOOKS:
        notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        NotebookClient(notebook, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
        files = []
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "image/png" in data:
                    files.append(work / f"notebook_{name}_{len(files) + 1}.png")
                    files[-1].write_bytes(base64.b64decode(data["image/png"]))
        found[name] = files
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=ROOT / "demo_out", help="make demo's output folder")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures", help="where the PNGs go")
    parser.add_argument("--work", type=Path, default=Path("/tmp/seqformer_gallery"), help="scratch folder")
    args = parser.parse_args()
    model = args.demo / "model"
    if not (model / "config.json").is_file():
        sys.exit(f"{model}: no demo model; run `make demo` first")
    started = time.time()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    entries: list[tuple[str, str, str, list[Path]]] = []  # section, caption, command, files

    evaluation = args.demo / "evaluation"
    entries.append(("Evaluation", "ROC and precision-recall curves of the demo promoter model beside the 4-mer "
                    "logistic regression on the test split (prevalence line on PR).",
                    "seqformer evaluate promoter --data demo_out/data --model demo_out/model --out demo_out/evaluation",
                    [evaluation / "roc.png", evaluation / "pr.png"]))

    entries.append(("Genome scan", "Recall of the annotated TSSs of the held-back range against false calls per "
                    "100 kb: the demo model's scan beside the 4-mer logistic-regression scanner on the same "
                    "windows, operating points at 0.5, 1 and 2 false calls per 100 kb.",
                    "seqformer evaluate scan --track demo_out/promoter.bedgraph --tss TSS --region "
                    "chr20:3500001-4000000 --genome GENOME --baseline-data demo_out/data --figure demo_out/scan_curve.png",
                    [args.demo / "scan_curve.png"]))
    entries.append(("Genome scan", "The same curves split by CpG island: recall of the TSSs within 500 bp of an "
                    "island and of the others, against all false calls per 100 kb.",
                    "seqformer evaluate scan --track demo_out/promoter.bedgraph --tss TSS --region "
                    "chr20:3500001-4000000 --genome GENOME --baseline-data demo_out/data --cpg-islands ISLANDS "
                    "--island-figure demo_out/scan_islands.png",
                    [args.demo / "scan_islands.png"]))

    tss = first_plus_tss(3_500_000, 4_000_000)
    region = f"chr20:{tss - 249 + 1}-{tss + 51}"  # the model's 300-base window around the TSS
    prefix = args.work / "mutagenesis"
    seqformer("mutagenesis", "--model", model, "--genome", GENOME, "--region", region, "--tss", tss + 1,
              "--out", prefix, "--device", "cpu")
    entries.append(("Mutagenesis", f"Every single-base substitution of the 300-base window around the TSS at "
                    f"chr20:{tss + 1:,} (held-back range), scored by the demo model: Δp heatmap with the "
                    "reference base marked, and the logo of each reference base's importance.",
                    f"seqformer mutagenesis --model demo_out/model --genome GENOME --region {region} "
                    f"--tss {tss + 1} --out PREFIX", [prefix.with_suffix(".png"), prefix.with_suffix(".logo.png")]))

    maps = args.work / "maps_dna"
    seqformer("attention", "maps", "--model", MODELS / "promoter_bigbird", "--genome", GENOME, "--region", region,
              "--tss", tss + 1, "--out", maps, "--device", "cpu")
    entries.append(("Attention maps", "Every head of each layer of the shipped BigBird promoter model over the "
                    "same window (per-head colour scales).",
                    f"seqformer attention maps --model notebooks/models/promoter_bigbird --genome GENOME "
                    f"--region {region} --tss {tss + 1} --out OUT", sorted(maps.glob("*.png"))))
    maps = args.work / "maps_protein"
    seqformer("attention", "maps", "--model", MODELS / "protein_dense", "--fasta", PROTEINS, "--max-seqs", 1,
              "--out", maps, "--device", "cpu")
    entries.append(("Attention maps", "The shipped protein model's heads over the first Swiss-Prot record "
                    "(residue letters, numbered every 10).",
                    "seqformer attention maps --model notebooks/models/protein_dense --fasta swissprot_1k.fasta.gz "
                    "--max-seqs 1 --out OUT", sorted(maps.glob("*.png"))))

    blosum = args.work / "blosum"
    seqformer("attention", "blosum", "--model", MODELS / "protein_dense", "--fasta", PROTEINS, "--max-seqs", 200,
              "--min-head-weight", 10, "--out", blosum, "--device", "cpu", allow=(0, 2))
    entries.append(("Attention against BLOSUM62", "Pair correlations of the shipped protein model at θ = 0.1 "
                    "(undefined: too few heads kept, said on the panel) and at θ = 0, its random control, and "
                    "BLOSUM62 on one z-score scale in physicochemical order; each head's enrichment over the "
                    "background frequencies.",
                    "seqformer attention blosum --model notebooks/models/protein_dense --fasta swissprot_1k.fasta.gz "
                    "--max-seqs 200 --min-head-weight 10 --out OUT",
                    [blosum / "comparison.png", blosum / "head_enrichment.png"]))

    from seqformer.bench.attention import plot_json
    from seqformer.figures.style import save_figure

    bench = []
    for name in ("bench_attention_cpu", "bench_attention_other_cpu"):
        bench += [p for p in save_figure(plot_json(ROOT / "docs" / f"{name}.json"), ROOT / "docs" / f"{name}.png")
                  if p.suffix == ".png"]
    entries.append(("Benchmarks", "Encoder forward+backward time per attention kind and length, peers dashed, "
                    "the machine in the caption (redrawn from the results in docs/).",
                    "seqformer bench attention ... --json docs/bench_attention_cpu.json --plot docs/bench_attention_cpu.png",
                    bench))

    for name, files in notebook_figures(args.work).items():
        entries.append(("Notebooks", f"Every figure `notebooks/{name}.ipynb` draws, in order.",
                        f"jupyter nbconvert --execute notebooks/{name}.ipynb", files))

    lines = ["# Figures", "",
             "Every figure the CLI and the notebooks draw, on the shipped demo data (`data_prep/demo/`, the",
             "models in `notebooks/models/` and `make demo`'s model). Regenerate the page and its images with",
             "`make figures`. Conventions (`seqformer/figures/style.py`): labelled colour bars, axis labels with",
             "units, thinned ticks, text ≥ 7 pt, Okabe–Ito and viridis / RdBu colours, NaN in grey, PNG + SVG;",
             "`tests/figure_checks.py` checks each plot function's figure for them.", ""]
    section = None
    for heading, caption, command, files in entries:
        if heading != section:
            lines += [f"## {heading}", ""]
            section = heading
        lines += [caption, "", f"    {command}", ""]
        for path in files:
            stem = path.name.removeprefix("seqformer_gallery_")
            flat = path.parent.name in ("docs", args.work.name) or path.parent == args.demo
            target = args.out / (stem if flat else f"{path.parent.name}_{stem}")
            if path.resolve() != target.resolve():
                shutil.copyfile(path, target)
            lines.append(f"![{target.stem}](figures/{target.name})")
        lines.append("")
    lines.append(f"_Regenerated in {time.time() - started:.0f} s._")
    (args.out.parent / "figures.md").write_text("\n".join(lines) + "\n")
    print(f"{sum(len(f) for *_, f in entries)} figures -> {args.out}, {args.out.parent / 'figures.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
