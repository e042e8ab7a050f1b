"""Progress of the long phases, and silence at `verbose=0`: the latency
table build and the export report through `dais_keras.utils.progress`, the
search and the fine-tune through Keras' progress bar of their `fit`, and
`dais_keras.prune(..., verbose=0)` prints nothing at all."""

import pytest

import dais_keras as dk
from dais_keras.deploy import export
from dais_keras.latency.table import build_latency_table
from dais_keras.utils import progress as progress_lib

pytestmark = pytest.mark.filterwarnings("ignore:The DAIS search has")


def _table(model, cache_dir, verbose):
    return build_latency_table(model, cache_dir=str(cache_dir), timer=lambda one: 0.1,
                               max_points=(2, 2), verbose=verbose)


@pytest.fixture
def slow_clock(monkeypatch):
    """A clock that moves 11 s per reading: every phase is a long one."""
    now = [0.0]

    def clock():
        now[0] += 11.0
        return now[0]

    monkeypatch.setattr(progress_lib, "_clock", clock)


def test_latency_table_build_is_silent_at_verbose_0_and_reports_at_1(toy, tmp_path, capsys):
    model = toy.model()
    _table(model, tmp_path / "silent", verbose=0)
    assert capsys.readouterr().out == ""
    table = _table(model, tmp_path / "verbose", verbose=1)
    lines = capsys.readouterr().out.splitlines()
    steps = [line for line in lines if line.startswith("[latency table") and "━" in line]
    assert len(steps) == len(table.entries) >= 3
    assert f"] 1/{len(table.entries)} ━" in steps[0]
    assert lines[-1].startswith(f"[latency table {table.runtime}] done in")


def test_latency_table_auto_reports_a_quick_build_not(toy, tmp_path, capsys):
    _table(toy.model(), tmp_path, verbose="auto")
    assert capsys.readouterr().out == ""


def test_latency_table_auto_reports_a_long_build(toy, tmp_path, capsys, slow_clock):
    _table(toy.model(), tmp_path, verbose="auto")
    out = capsys.readouterr().out
    assert "about" in out and "left" in out and "done in" in out


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_export_is_silent_at_verbose_0_and_reports_at_1(toy, tmp_path, capsys, fmt):
    model = toy.model()
    x, _ = toy.data(4)
    result = export.export(model, tmp_path / f"quiet.{fmt}", sample=x, verbose=0)
    assert result.passed
    assert capsys.readouterr().out == ""
    export.export(model, tmp_path / f"loud.{fmt}", sample=x, verbose=1)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith(f"[export {fmt}]")]
    assert len(lines) == 3, lines
    assert "converted" in lines[0] and "ran the file and Keras on 4 inputs" in lines[1]
    assert lines[2].startswith(f"[export {fmt}] done in") and f"loud.{fmt}" in lines[2]


def test_export_auto_reports_a_long_export(toy, tmp_path, capsys, slow_clock):
    x, _ = toy.data(4)
    export.tflite(toy.model(), tmp_path / "slow.tflite", sample=x)  # verbose="auto"
    out = capsys.readouterr().out
    assert "[export tflite]" in out and "converted" in out and "done in" in out


def test_prune_at_verbose_0_prints_nothing_and_at_1_shows_keras_progress(toy, capsys):
    x, y = toy.data(64, seed=1)
    kwargs = dict(search_data=toy.data(32, seed=2), epochs=2, finetune_epochs=1, distill=True,
                  eval_data=toy.data(32, seed=3), batch_size=16, recalibrate_batches=2)
    dk.prune(toy.model(), 0.5, (x, y), verbose=0, **kwargs)
    assert capsys.readouterr().out == ""
    dk.prune(toy.model(), 0.5, (x, y), verbose=1, **kwargs)
    out = capsys.readouterr().out
    # Keras' progress bar: the search's 2 epochs and the fine-tune's 1, of 4 steps each.
    assert "Epoch 2/2" in out and out.count("4/4") >= 3
    assert "DAIS search:" in out and "DAIS binarisation" in out
