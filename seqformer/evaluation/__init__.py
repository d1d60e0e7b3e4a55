"""Evaluation of predictions against annotations (calls vs. TSSs, ...)."""
