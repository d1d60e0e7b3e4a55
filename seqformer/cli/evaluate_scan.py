"""``seqformer evaluate scan``: promoter calls (BED) or a scan's track against annotated TSSs in a region."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from seqformer.cli.evaluate import evaluate_app
from seqformer.errors import InputError

MODEL = "model"


@evaluate_app.command("scan")
def scan(
    calls: Optional[Path] = typer.Option(None, "--calls", help="Promoter calls, BED3+ (e.g. from `seqformer "
                                         "predict promoters`). Give --calls or --track."),
    track: Optional[Path] = typer.Option(None, "--track", help="The scan's probability track instead of calls: "
                                         "bedGraph (`predict promoters --bedgraph`) or bigWig (.bw, .bigwig); "
                                         "recall is read off its curve at 0.5, 1 and 2 false calls per 100 kb."),
    tss: Path = typer.Option(..., "--tss", help="Annotated TSSs, BED3+; each row's start is the TSS."),
    region: str = typer.Option(..., "--region", help="The scanned region, 1-based inclusive, e.g. chr20:1-4000000."),
    distance: int = typer.Option(500, "--distance", min=0, help="Bases allowed between a call and a TSS."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the metrics to this JSON file."),
    sweep: Optional[Path] = typer.Option(None, "--sweep", help="With --track: write every threshold's calls, "
                                         "false calls per 100 kb and recall to this TSV (one block per predictor)."),
    figure: Optional[Path] = typer.Option(None, "--figure", help="With --track: draw recall against false calls "
                                          "per 100 kb to PATH.png and PATH.svg."),
    genome: Optional[Path] = typer.Option(None, "--genome", help="With --track and --baseline-data: the reference "
                                          "FASTA the k-mer baseline scans the region of."),
    baseline_data: Optional[Path] = typer.Option(None, "--baseline-data", help="With --track and --genome: a "
                                                 "promoter data folder; a k-mer logistic regression trained on its "
                                                 "train split scans the region beside the model."),
    baseline_k: int = typer.Option(4, "--baseline-k", min=1, max=8, help="k of the k-mer baseline scanner."),
    stride: Optional[int] = typer.Option(None, "--stride", min=1, help="Bases between the baseline's window "
                                         "starts (default: half the data folder's window)."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Windows per baseline scoring call."),
    cpg_islands: Optional[Path] = typer.Option(None, "--cpg-islands", help="CpG islands, BED3+: also split "
                                               "recall into TSSs within --distance of an island and the others, "
                                               "and false calls into those at islands and elsewhere."),
    island_figure: Optional[Path] = typer.Option(None, "--island-figure", help="With --track and --cpg-islands: "
                                                 "draw the curves of the TSSs at islands and of the others to "
                                                 "PATH.png and PATH.svg."),
) -> None:
    """Calls: sensitivity, precision, false calls per 100 kb. A track: recall at 0.5/1/2 false calls per 100 kb."""
    from seqformer.io import atomic_open, parse_region, read_bed

    if (calls is None) == (track is None):
        raise InputError("give --calls (promoter calls) or --track (the scan's bedGraph or bigWig), not both"
                         if calls is not None else "give --calls (promoter calls) or --track (the scan's bedGraph "
                         "or bigWig)")
    if calls is not None:
        used = [name for name, value in (("--sweep", sweep), ("--figure", figure), ("--island-figure", island_figure),
                                         ("--genome", genome),
                                         ("--baseline-data", baseline_data), ("--stride", stride)) if value is not None]
        if used:
            raise InputError(f"{used[0]} needs --track (a scan's bedGraph or bigWig), not --calls")
        _calls_mode(calls, tss, region, distance, json_out, out, cpg_islands)
        return
    if (genome is None) != (baseline_data is None):
        raise InputError("the k-mer baseline scanner needs both --genome and --baseline-data")
    if island_figure is not None and cpg_islands is None:
        raise InputError("--island-figure needs --cpg-islands (a CpG island BED)")

    from seqformer.evaluation.scan import evaluate_track, read_track

    opened = None
    if genome is not None:
        from seqformer.io import Genome

        opened = Genome(genome)
        target = opened.region(region)
    else:
        target = parse_region(region)
    try:
        tss_frame = read_bed(tss, allow_empty=True)
        islands = _islands(cpg_islands, target)  # read before the baseline's scan, so bad input fails first
        results = {MODEL: evaluate_track(read_track(track, target), tss_frame, target, distance,
                                         track_source=track.name, tss_source=tss.name)}
        sources = {MODEL: {"track": str(track)}}
        if opened is not None:
            from seqformer.evaluation.scan import kmer_scanner, scan_track

            scorer, window, about = kmer_scanner(baseline_data, baseline_k)
            name = f"{baseline_k}-mer logistic regression"
            stride = max(1, window // 2) if stride is None else stride
            lr_track = scan_track(scorer, opened, target, window, stride, batch_size=batch_size)
            results[name] = evaluate_track(lr_track, tss_frame, target, distance,
                                           track_source=f"the {name} scan", tss_source=tss.name)
            sources[name] = {"baseline": {**about, "stride": stride,
                                          "scan": "both strands, the max of the two; mean over covering windows"}}
    finally:
        if opened is not None:
            opened.close()

    first = results[MODEL]
    report = {"region": first.region, "distance": distance, "tss": first.tss, "bases": first.bases,
              "predictors": {name: {**sources[name], **{k: v for k, v in result.to_dict().items()
                                                        if k not in ("region", "distance", "tss", "bases")}}
                             for name, result in results.items()}}
    if islands is not None:
        from seqformer.evaluation.islands import island_summary, split_track_by_islands

        sites = tss_frame.loc[tss_frame["chrom"] == target.chrom, "start"].to_numpy()
        report["cpg_islands"] = {"file": str(cpg_islands), **island_summary(islands, sites, target, distance)}
        for name, result in results.items():
            for point, split in zip(report["predictors"][name]["operating_points"],
                                    split_track_by_islands(result, tss_frame, islands, target)):
                point["cpg_islands"] = split
    if len(results) > 1:  # the model against each baseline, TSS by TSS at each rate
        from seqformer.evaluation.scan import paired_recall

        rates = [point["target_false_per_100kb"] for point in first.operating_points]
        report["paired"] = {name: paired_recall(first.found, result.found, rates)
                            for name, result in results.items() if name != MODEL}
    fig = None
    if figure is not None:  # drawn before anything is written, so a failure leaves no outputs
        from seqformer.figures.scan import plot_scan_curves

        fig = plot_scan_curves({name: r.sweep for name, r in results.items()},
                               {name: r.operating_points for name, r in results.items()},
                               region=first.region, distance=distance, tss=first.tss, bases=first.bases)
    island_fig = None
    if island_figure is not None:
        from seqformer.evaluation.islands import stratum_curves
        from seqformer.figures.scan import plot_island_curves

        curves, points, counts = stratum_curves(results, islands)
        island_fig = plot_island_curves(curves, points, region=first.region, distance=distance, tss=counts)
    if sweep is not None:
        import pandas as pd

        table = pd.concat([r.sweep.assign(predictor=name) for name, r in results.items()], ignore_index=True)
        table = table[["predictor", *[c for c in table.columns if c != "predictor"]]]
        with atomic_open(sweep) as handle:
            table.to_csv(handle, sep="\t", index=False, float_format="%.6g")
    if fig is not None or island_fig is not None:
        from seqformer.figures.style import save_figure

        for drawn, path in ((fig, figure), (island_fig, island_figure)):
            if drawn is not None:
                save_figure(drawn, path)
    if out is not None:
        with atomic_open(out) as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
    if json_out:
        typer.echo(json.dumps(report))
        return
    _print_track_table(report, track.name, tss.name)


def _islands(path: Optional[Path], region):
    """The CpG islands on the region's contig, or None without --cpg-islands."""
    if path is None:
        return None
    from seqformer.evaluation.islands import island_intervals
    from seqformer.io import read_bed

    return island_intervals(read_bed(path, allow_empty=True), region, path.name)


def _calls_mode(calls: Path, tss: Path, region: str, distance: int, json_out: bool, out: Optional[Path],
                cpg_islands: Optional[Path] = None) -> None:
    """Sensitivity, precision and false calls per 100 kb of a BED of calls (split by CpG island on request)."""
    from seqformer.evaluation.scan import evaluate_calls
    from seqformer.io import atomic_open, parse_region, read_bed

    target = parse_region(region)
    call_frame, tss_frame = read_bed(calls, allow_empty=True), read_bed(tss, allow_empty=True)
    islands = _islands(cpg_islands, target)
    metrics = evaluate_calls(call_frame, tss_frame, target, distance, calls_source=calls.name, tss_source=tss.name)
    report = metrics.to_dict()
    if islands is not None:
        from seqformer.evaluation.islands import island_summary, split_by_islands
        from seqformer.evaluation.scan import overlapping

        on = overlapping(call_frame, target)
        sites = tss_frame.loc[tss_frame["chrom"] == target.chrom, "start"].to_numpy()
        report["cpg_islands"] = {"file": str(cpg_islands), **island_summary(islands, sites, target, distance),
                                 **split_by_islands(on["start"].to_numpy(), on["end"].to_numpy(), sites, islands,
                                                    target, distance)}
    if out is not None:
        with atomic_open(out) as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
    if json_out:
        typer.echo(json.dumps(report))
        return
    table = Table(title=f"evaluate scan: {calls.name} vs {tss.name} in {target} (within {distance:,} bp)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("sensitivity", f"{metrics.sensitivity:.2%} ({metrics.tss_found:,} of {metrics.tss:,} TSSs)")
    table.add_row("precision", f"{metrics.precision:.2%} ({metrics.calls_near_tss:,} of {metrics.calls:,} calls)")
    table.add_row("false calls per 100 kb", f"{metrics.false_per_100kb:.2f} ({metrics.false_calls:,} calls)")
    split = report.get("cpg_islands")
    if split is not None:
        table.add_row("sensitivity, TSSs at CpG islands", _stratum(split["at_islands"]))
        table.add_row("sensitivity, other TSSs", _stratum(split["elsewhere"]))
        table.add_row("false calls at islands / elsewhere",
                      f"{split['false_calls_at_islands']:,} / {split['false_calls_elsewhere']:,}")
        table.add_row("islands in the region (without a TSS)", f"{split['in_region']:,} ({split['without_tss']:,})")
    Console().print(table)


def _summits(summit: dict) -> str:
    """'300 bp; 33/33/67%': the median summit-to-TSS distance and the shares within 100, 250 and 500 bp."""
    if summit["median"] is None:
        return "no calls"
    shares = "/".join(f"{100 * summit[f'within_{d}']:.0f}" for d in (100, 250, 500))
    return f"{summit['median']:,.0f} bp; {shares}%"


def _print_track_table(report: dict, track_name: str, tss_name: str) -> None:
    """One table per predictor, one row per false-call rate."""
    console = Console()
    for name, entry in report["predictors"].items():
        table = Table(title=f"evaluate scan: {name} ({track_name if name == MODEL else 'scanned here'}) vs "
                            f"{tss_name} in {report['region']}: {report['tss']:,} TSSs, a call within "
                            f"{report['distance']:,} bp")
        for column in ("false/100 kb (met)", "threshold", "calls", "recall",
                       "summit to TSS: median; ≤100/250/500 bp"):
            table.add_column(column, justify="right")
        for point in entry["operating_points"]:
            rate = f"{point['false_per_100kb']:.2f}" + ("" if point["met"] else ", over")
            table.add_row(f"{point['target_false_per_100kb']:g} ({rate})", f"{point['threshold']:.4g}",
                          f"{point['calls']:,}", _recall(point), _summits(point["summit_to_tss"]))
        console.print(table)
    if "cpg_islands" in report:
        about = report["cpg_islands"]
        table = Table(title=f"split by CpG island ({Path(about['file']).name}): {about['in_region']:,} islands in "
                            f"the region, {about['without_tss']:,} without a TSS within {report['distance']:,} bp "
                            f"({about['without_tss_per_100kb']:.2f} per 100 kb)")
        for column in ("predictor", "false/100 kb", "TSSs at islands", "other TSSs", "false calls at islands / "
                       "elsewhere"):
            table.add_column(column, justify="right")
        for name, entry in report["predictors"].items():
            for point in entry["operating_points"]:
                split = point["cpg_islands"]
                table.add_row(name, f"{point['target_false_per_100kb']:g}", _stratum(split["at_islands"]),
                              _stratum(split["elsewhere"]),
                              f"{split['false_calls_at_islands']:,} / {split['false_calls_elsewhere']:,}")
        console.print(table)
    for name, rows in report.get("paired", {}).items():
        table = Table(title=f"TSSs found by the model and by the {name}, paired at each rate")
        for column in ("false/100 kb", "both", "model only", "baseline only", "McNemar exact p"):
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(f"{row['target_false_per_100kb']:g}", f"{row['both']:,}", f"{row['only_first']:,}",
                          f"{row['only_second']:,}", f"{row['mcnemar_p']:.3g}")
        console.print(table)


def _recall(point: dict) -> str:
    """'58.7% (37; 95% CI 46-70%)': the recall, TSSs found and the Wilson interval (none without TSSs)."""
    interval = point.get("recall_ci95")
    if interval is None:
        return "undefined (no TSS)"
    return f"{point['recall']:.1%} ({point['tss_found']:,}; 95% CI {100 * interval[0]:.0f}–{100 * interval[1]:.0f}%)"


def _stratum(stratum: dict) -> str:
    """'97.4% (37 of 38)', or 'undefined (no TSS)'."""
    if stratum["recall"] is None:
        return "undefined (no TSS)"
    return f"{stratum['recall']:.1%} ({stratum['found']:,} of {stratum['tss']:,})"
