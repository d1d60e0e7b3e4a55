"""Prediction with trained classifiers: genome scans (:mod:`.scan`) and given windows (:mod:`.score_windows`).

Axes: B windows per batch, T labels. Coordinates are 0-based, half-open; windows are tiled by
:mod:`.windows`.
"""

from seqformer.predict.scan import Call, ScanResult, Segment, Stitcher, scan_genome, scan_region, scan_segments
from seqformer.predict.windows import Window, batched, fit_to_window, tile, window_starts

__all__ = ["Call", "ScanResult", "Segment", "Stitcher", "Window", "batched", "fit_to_window", "scan_genome",
           "scan_region", "scan_segments", "tile", "window_starts"]
