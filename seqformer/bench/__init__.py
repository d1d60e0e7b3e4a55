"""Benchmarks behind ``seqformer bench ...``: one module per benchmark, shared helpers in :mod:`.machine`."""


def cell(value: float | None, form: str) -> str:
    """``value`` formatted with ``form`` for a results table, or "-" when it was not measured."""
    return "-" if value is None else format(value, form)
