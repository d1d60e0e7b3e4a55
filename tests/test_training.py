"""The training loop in-process: run folder, metrics and events, resume, checkpoints, divergence."""

from __future__ import annotations

import shutil
import struct

import pytest
import torch

from seqformer.data import build_tokenizer, open_corpus
from seqformer.errors import InputError
from seqformer.models import MaskedLM
from seqformer.tasks.mlm import MaskedLMTask
from seqformer.training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from seqformer.training.config import load_run_config
from seqformer.training.loop import DivergedError, train
from seqformer.training.metrics import COLUMNS, read_metrics
from seqformer.tasks.pretraining import build_model, pretrain

TINY = {"data": {"kmer": 3, "max_length": 32, "val_windows": 4},
        "model": {"arch": "bigbird", "hidden_size": 32, "num_layers": 2, "num_heads": 2, "ffn_size": 64,
                  "attention_options": {"block_size": 4, "num_random_blocks": 1}},
        "optim": {"warmup_steps": 2, "lr": 2e-3},
        "train": {"batch_size": 4, "max_steps": 8, "checkpoint_every": 3, "eval_every": 4,
                  "keep_checkpoints": 5, "device": "cpu",
                  "threads": 1}}  # one thread: tiny models crawl when threads wait on a busy machine


@pytest.fixture
def genome(tmp_path, data_dir):
    path = tmp_path / "tiny_genome.fa"
    shutil.copy(data_dir / "training" / "tiny_genome.fa", path)
    return str(path)


def tiny(genome: str, **train):
    return load_run_config(overrides={**TINY, "data": {**TINY["data"], "fasta": [genome]},
                                      "train": {**TINY["train"], **train}})


def read_events(folder) -> dict[str, list[tuple[int, float]]]:
    """Scalars of tensorboardX event files (TFRecord: length, crc, Event proto, crc)."""
    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (size,) = struct.unpack("<Q", data[i:i + 8])
            event = Event.FromString(data[i + 12:i + 12 + size])
            i += 16 + size
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_run_folder_metrics_events_and_model(tmp_path, genome):
    run = tmp_path / "run"
    result = pretrain(tiny(genome), run, quiet=True)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.yaml", "metrics.csv", "model",
                                                     "tensorboard"]
    rows = read_metrics(run / "metrics.csv")
    assert [row["step"] for row in rows] == list(range(1, 9)) and list(rows[0]) == list(COLUMNS)
    assert [row["step"] for row in rows if row["val_loss"] is not None] == [4, 8]
    assert rows[-1]["loss"] == pytest.approx(result.loss) and rows[-1]["tokens"] == 8 * 4 * 32
    assert rows[0]["lr"] == pytest.approx(1e-3) and rows[1]["lr"] == pytest.approx(2e-3)
    assert all(row["tokens_per_s"] > 0 and row["mfu"] is None for row in rows)  # no peak known on CPU
    peaks = [row["peak_mem_mb"] for row in rows]  # the process's peak RSS on the CPU, never falling
    assert peaks[0] > 50 and peaks == sorted(peaks)
    events = read_events(run / "tensorboard")
    assert [step for step, _ in events["train/loss"]] == list(range(1, 9))
    assert [step for step, _ in events["val/loss"]] == [4, 8]
    assert [s for s, _ in list_checkpoints(run)] == [3, 6, 8]
    model = MaskedLM.from_pretrained(run / "model")
    assert model.config.encoder.max_length == 32 and model.tokenizer.k == 3
    state = load_checkpoint(latest_checkpoint(run))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state["model"][name])
    assert result.validation["val_loss"] == pytest.approx(rows[-1]["val_loss"])


def test_resume_gives_the_same_curve_and_drops_later_rows(tmp_path, genome):
    full = tmp_path / "full"
    pretrain(tiny(genome), full, quiet=True)
    part = tmp_path / "part"
    pretrain(tiny(genome, max_steps=8), part, quiet=True)
    # Pretend the run died after step 8's row but that its last checkpoint is step 6.
    latest_checkpoint(part).unlink()
    pretrain(tiny(genome), part, resume=True, quiet=True)
    a, b = read_metrics(full / "metrics.csv"), read_metrics(part / "metrics.csv")
    assert [row["step"] for row in b] == list(range(1, 9))
    for key in ("loss", "lr", "grad_norm", "tokens", "val_loss", "val_accuracy"):
        assert [row[key] for row in a] == [row[key] for row in b], key


def test_a_longer_resumed_run_and_fixed_keys(tmp_path, genome):
    from seqformer.tasks.pretraining import run_config
    run = tmp_path / "run"
    pretrain(run_config(run, overrides={**TINY, "data": {**TINY["data"], "fasta": [genome]}}), run, quiet=True)
    longer = run_config(run, overrides={"train": {"max_steps": 10}}, resume=True)
    assert longer.train.max_steps == 10
    pretrain(longer, run, resume=True, quiet=True)
    assert [row["step"] for row in read_metrics(run / "metrics.csv")] == list(range(1, 11))
    with pytest.raises(InputError, match="cannot change data.kmer"):
        run_config(run, overrides={"data": {"kmer": 4}}, resume=True)


def test_truncated_checkpoint_is_refused(tmp_path, genome):
    run = tmp_path / "run"
    pretrain(tiny(genome, max_steps=4, checkpoint_every=2), run, quiet=True)
    newest = latest_checkpoint(run)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated or corrupt.*delete it to resume from step-00000002.pt"):
        pretrain(tiny(genome, max_steps=6), run, resume=True, quiet=True)


def tiny_ema(genome: str, ema: float = 0.5, **train):
    config = tiny(genome, **train)
    return load_run_config(overrides={**config.to_dict(), "optim": {**TINY["optim"], "ema": ema}})


def test_the_weight_average_is_the_ema_of_the_steps_and_is_validated_and_saved(tmp_path, genome):
    run = tmp_path / "run"
    seen = {}

    def on_checkpoint(step, path):  # the callback sees the averaged weights
        seen[step] = {k: v.clone() for k, v in model.state_dict().items()}

    config = tiny_ema(genome, checkpoint_every=1, keep_checkpoints=8)
    tokenizer = build_tokenizer(config.data)
    task = MaskedLMTask(open_corpus(config.data, tokenizer, seed=0), tokenizer, max_length=32, batch_size=4)
    model = build_model(config, tokenizer)
    train(model, task, config, run, quiet=True, on_checkpoint=on_checkpoint)
    raw = {step: load_checkpoint(path)["model"] for step, path in list_checkpoints(run)}
    assert sorted(raw) == list(range(1, 9))
    names = [name for name, _ in model.named_parameters()]
    expected = {name: raw[1][name].clone() for name in names}  # the first step copies the weights
    for step in range(1, 9):
        if step > 1:
            expected = {name: 0.5 * expected[name] + 0.5 * raw[step][name] for name in names}
        for name in names:
            assert torch.allclose(seen[step][name], expected[name], atol=1e-6), (step, name)
        assert not torch.equal(seen[step][names[0]], raw[step][names[0]]) or step == 1
    saved = MaskedLM.from_pretrained(run / "model").state_dict()
    assert all(torch.allclose(saved[name], expected[name], atol=1e-6) for name in names)
    # The model object goes back to its own weights after saving; the checkpoint keeps them for resuming.
    assert all(torch.equal(model.state_dict()[name], raw[8][name]) for name in names)


def test_resume_with_a_weight_average_gives_the_same_curve_and_model(tmp_path, genome):
    full, part = tmp_path / "full", tmp_path / "part"
    pretrain(tiny_ema(genome), full, quiet=True)
    pretrain(tiny_ema(genome), part, quiet=True)
    latest_checkpoint(part).unlink()  # resume from step 6
    pretrain(tiny_ema(genome), part, resume=True, quiet=True)
    a, b = read_metrics(full / "metrics.csv"), read_metrics(part / "metrics.csv")
    assert [row["val_loss"] for row in a] == [row["val_loss"] for row in b]
    wa = MaskedLM.from_pretrained(full / "model").state_dict()
    wb = MaskedLM.from_pretrained(part / "model").state_dict()
    assert all(torch.equal(wa[name], wb[name]) for name in wa)
    with pytest.raises(InputError, match="cannot change optim.ema"):
        pretrain(tiny(genome, max_steps=10), part, resume=True, quiet=True)


class NaNFrom:
    """A masked-LM task whose loss turns NaN at micro-batch ``index``."""

    def __init__(self, task, index):
        self.task, self.index = task, index

    def __getattr__(self, name):
        return getattr(self.task, name)

    def loss_module(self, model):
        inner, index = self.task.loss_module(model), self.index

        class Poisoned(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = inner

            def forward(self, batch):
                loss = self.inner(batch)
                return loss * float("nan") if batch.step >= index else loss

        return Poisoned()


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, genome):
    config = tiny(genome, checkpoint_every=2)
    tokenizer = build_tokenizer(config.data)
    corpus = open_corpus(config.data, tokenizer, seed=0)
    task = MaskedLMTask(corpus, tokenizer, max_length=32, batch_size=4)
    model = build_model(config, tokenizer)
    run = tmp_path / "run"
    with pytest.raises(DivergedError, match=r"loss is nan at step 5; .*step-00000004\.pt") as err:
        train(model, NaNFrom(task, index=4), config, run, quiet=True)  # micro-batch 4 is step 5's
    assert isinstance(err.value, InputError)  # the CLI prints one line, exit 2
    assert [s for s, _ in list_checkpoints(run)] == [2, 4]
    assert [row["step"] for row in read_metrics(run / "metrics.csv")] == [1, 2, 3, 4]
    assert not (run / "model").exists()


def test_progress_outside_a_terminal_is_one_unwrapped_line_per_event(capsys):
    """Logs (make demo, CI, Snakemake) get each step line and each validation whole, however long."""
    from seqformer.training.progress import ProgressReport

    report = ProgressReport(0, 20, log_every=10)  # stderr is captured: not a terminal, so no bar
    report.update(5, 0.5, 1234.0, 1e-4)  # not a multiple of log_every: nothing
    report.update(10, 0.4321, 23_456.0, 2e-4)
    long = "step 10: " + "  ".join(f"val_metric_{i} {i / 7:.4f}" for i in range(12))
    report.note(long)
    report.update(20, 0.3, 20_000.0, 1e-4)
    report.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(long) > 200 and lines[1] == long
    assert lines[0].startswith("step 10/20  loss 0.4321  lr 2.00e-04  23,456 tok/s  eta ")
    assert lines[2].startswith("step 20/20  loss 0.3000") and len(lines) == 3
