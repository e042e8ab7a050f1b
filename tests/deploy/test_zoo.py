"""Tests of dais_keras.zoo: publish/load/verify, versions, integrity, URLs."""

import hashlib
import json
import os
import pathlib

import numpy as np
import pytest

import keras
from deploy_helpers import PUBLISH_ARGS
from deploy_helpers import as_url_entry
from deploy_helpers import cache_files
from deploy_helpers import flip_byte
from deploy_helpers import outputs
from deploy_helpers import plant
from deploy_helpers import probe
from deploy_helpers import read_raw
from deploy_helpers import tiny_model
from deploy_helpers import write_raw

import dais_keras
from dais_keras.deploy import zoo
from dais_keras.deploy.zoo import entry as zoo_entry
from dais_keras.deploy.zoo import store as zoo_store

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA_DIR = pathlib.Path(os.environ.get("DAIS_DATA_DIR", REPO.parent / "shared" / "data"))


# ------------------------------------------------------------ round trips


def test_publish_load_verify_round_trip(zoo_dir):
    model = tiny_model()
    entry = zoo.publish(model, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)

    assert entry.key == "tiny-cnn@1"
    path = zoo_dir / "weights" / "tiny-cnn@1.keras"
    payload = path.read_bytes()
    assert entry.file == "weights/tiny-cnn@1.keras"
    assert entry.sha256 == hashlib.sha256(payload).hexdigest()
    assert entry.size == len(payload)
    assert entry.macs == dais_keras.count_macs(model) > 0
    assert entry.params == dais_keras.count_params(model) > 0
    assert entry.accuracy == {"cifar10-exact-subset-1017": 0.5}
    assert entry.library_version == dais_keras.__version__
    assert entry.input_shape == [8, 8, 3]

    raw = read_raw(zoo_dir)
    assert raw["schema_version"] == 1
    assert raw["entries"]["tiny-cnn@1"]["sha256"] == entry.sha256
    card = (zoo_dir / "cards" / "tiny-cnn@1.md").read_text()
    for text in ("# tiny-cnn@1", entry.sha256, "pytest tests/test_zoo.py", "Apache-2.0",
                 "cifar10-exact-subset-1017", f"{entry.macs:,}"):
        assert text in card

    [listed] = zoo.list(zoo_dir=zoo_dir)
    assert listed == entry and listed.key == "tiny-cnn@1"
    loaded = zoo.load("tiny-cnn", zoo_dir=zoo_dir)
    np.testing.assert_allclose(outputs(loaded), outputs(model), rtol=1e-6, atol=1e-6)
    assert getattr(loaded, "optimizer", None) is None

    report = zoo.verify(zoo_dir)
    assert report.ok and [c.status for c in report.checks] == ["ok"]
    assert cache_files(zoo_dir) == []  # Local entries are never copied to the cache.


def test_latency_budget_entry_round_trips_with_its_measured_latency(zoo_dir):
    latency = {"tflite_ms": 0.431, "ort_ms": 0.512, "unpruned_tflite_ms": 0.862,
               "machine": "AMD EPYC (2 cores)", "batch": 1, "threads": 1}
    args = dict(PUBLISH_ARGS, budget={"latency": np.float32(0.5)}, latency=latency)
    entry = zoo.publish(tiny_model(), "tiny-cnn-lat50", zoo_dir=zoo_dir, **args)
    assert entry.budget == {"latency": 0.5} and entry.latency == latency
    [listed] = zoo.list(zoo_dir=zoo_dir)
    assert listed == entry
    assert read_raw(zoo_dir)["entries"]["tiny-cnn-lat50@1"]["latency"] == latency
    card = (zoo_dir / "cards" / "tiny-cnn-lat50@1.md").read_text()
    assert "pruned with DAIS to a latency budget of 50% of the base model's latency" in card
    assert "| Latency budget | 50% of the base model's latency (predicted by the measured table) |" in card
    assert "Measured on AMD EPYC (2 cores) (batch: 1; threads: 1)." in card
    assert "| tflite | 0.431 | 0.862 | 2.00× |" in card and "| ort | 0.512 | - | - |" in card
    assert zoo.verify(zoo_dir).ok


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(budget={"macs": 0.5}), "write a MACs budget as a number"),
        (dict(budget={"latency": 1.5}), "is not a budget"),
        (dict(budget={"speed": 0.5}), "is not a budget"),
        (dict(latency={"tflite_ms": 0.4}), "must name the 'machine'"),
        (dict(latency={"machine": "x"}), "at least one '<runtime>_ms' time"),
        (dict(latency={"machine": "x", "tflite_ms": -1.0}), "'tflite_ms' must be a positive"),
        (dict(latency={"machine": "x", "tflite_ms": np.float32(0.4)}), "latency"),
        (dict(latency=[0.4]), "Expected `latency` to be a dict"),
    ],
)
def test_publish_refuses_bad_latency_budgets_and_records(zoo_dir, change, message):
    kwargs = dict(PUBLISH_ARGS, name="tiny-cnn", zoo_dir=zoo_dir)
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        zoo.publish(tiny_model(), **kwargs)
    assert not (zoo_dir / "index.json").exists()
    assert not any((zoo_dir / "weights").glob("*"))  # nothing written


def test_publish_drops_optimizer_state(zoo_dir, tmp_path):
    model = tiny_model()
    model.compile(keras.optimizers.Adam(), "mse")
    model.fit(probe(), np.zeros((4, 3)), epochs=1, verbose=0)
    model.save(tmp_path / "with_optimizer.keras")
    entry = zoo.publish(model, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert entry.size < (tmp_path / "with_optimizer.keras").stat().st_size
    loaded = zoo.load(entry.key, zoo_dir=zoo_dir)
    np.testing.assert_allclose(outputs(loaded), outputs(model), rtol=1e-6, atol=1e-6)


def test_zoo_dir_from_environment(zoo_dir, monkeypatch):
    zoo.publish(tiny_model(), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    monkeypatch.setenv("DAIS_ZOO_DIR", str(zoo_dir))
    assert [e.key for e in zoo.list()] == ["tiny-cnn@1"]
    assert zoo.resolve_zoo_dir() == zoo_dir.resolve()


def test_default_zoo_dir_is_the_repository_zoo(monkeypatch):
    monkeypatch.delenv("DAIS_ZOO_DIR", raising=False)
    assert zoo.resolve_zoo_dir() == REPO / "zoo"
    assert zoo.default_zoo_dir() == REPO / "zoo"


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No zoo index at .*publish"):
        zoo.list(zoo_dir=tmp_path)


# --------------------------------------------------------------- versions


def test_version_rules(zoo_dir):
    first = zoo.publish(tiny_model(0), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    second = zoo.publish(tiny_model(1), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert (first.version, second.version) == (1, 2)
    other = zoo.publish(tiny_model(2), "other", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert other.key == "other@1"

    latest = outputs(zoo.load("tiny-cnn", zoo_dir=zoo_dir))
    np.testing.assert_allclose(latest, outputs(tiny_model(1)), rtol=1e-6, atol=1e-6)
    for ref in ("tiny-cnn@1", ("tiny-cnn", 1), ("tiny-cnn", "1"), ("tiny-cnn@1", 1)):
        args = ref if isinstance(ref, tuple) else (ref,)
        np.testing.assert_allclose(
            outputs(zoo.load(*args, zoo_dir=zoo_dir)), outputs(tiny_model(0)), rtol=1e-6, atol=1e-6
        )
    assert zoo.get("tiny-cnn@2", zoo_dir=zoo_dir) == second

    before = read_raw(zoo_dir)
    with pytest.raises(ValueError, match=r"'tiny-cnn@2' already exists.*never overwritten.*version 3"):
        zoo.publish(tiny_model(3), "tiny-cnn", 2, zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert read_raw(zoo_dir) == before
    assert zoo.verify(zoo_dir).ok  # The existing file was not touched.

    explicit = zoo.publish(tiny_model(3), "tiny-cnn", version=5, zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert explicit.key == "tiny-cnn@5"
    assert zoo.publish(tiny_model(4), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS).version == 6
    assert [e.key for e in zoo.list(zoo_dir=zoo_dir)] == [
        "other@1", "tiny-cnn@1", "tiny-cnn@2", "tiny-cnn@5", "tiny-cnn@6"
    ]
    assert [e.version for e in zoo.list(zoo_dir=zoo_dir, name="tiny-cnn")] == [1, 2, 5, 6]

    with pytest.raises(ValueError, match=r"Unknown zoo model 'nope'.*Available: other, tiny-cnn"):
        zoo.load("nope", zoo_dir=zoo_dir)
    with pytest.raises(ValueError, match=r"'tiny-cnn' has no version 3. Available versions: 1, 2, 5, 6"):
        zoo.load("tiny-cnn@3", zoo_dir=zoo_dir)
    with pytest.raises(ValueError, match="Conflicting versions"):
        zoo.load("tiny-cnn@1", 2, zoo_dir=zoo_dir)
    with pytest.raises(ValueError, match="positive integer"):
        zoo.load("tiny-cnn@latest", zoo_dir=zoo_dir)


def test_leftover_weights_file_is_never_overwritten(zoo_dir):
    zoo.publish(tiny_model(), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    leftover = zoo_dir / "weights" / "tiny-cnn@2.keras"
    leftover.write_bytes(b"not mine")
    with pytest.raises(ValueError, match="already exists although the index has no such entry"):
        zoo.publish(tiny_model(1), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert leftover.read_bytes() == b"not mine"
    assert [e.key for e in zoo.list(zoo_dir=zoo_dir)] == ["tiny-cnn@1"]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(name="Tiny CNN"), "Invalid zoo name"),
        (dict(name="tiny@2"), "Invalid zoo name"),
        (dict(metrics={}), "non-empty dict"),
        (dict(metrics={"cifar10-exact-subset-1017": 91.6}), "not an accuracy in \\[0, 1\\]"),
        (dict(budget=0), "budget"),
        (dict(budget=1.5), "budget"),
        (dict(licence=""), "`licence`"),
        (dict(date="31/01/2025"), "YYYY-MM-DD"),
        (dict(version=0), "positive int"),
    ],
)
def test_publish_validates_arguments(zoo_dir, change, message):
    kwargs = dict(PUBLISH_ARGS, name="tiny-cnn", zoo_dir=zoo_dir)
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        zoo.publish(tiny_model(), **kwargs)
    assert not (zoo_dir / "index.json").exists()


def test_publish_refuses_models_that_need_code_to_load(zoo_dir):
    inputs = keras.Input((8, 8, 3))
    outputs_ = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(outputs_)))
    zoo.publish(tiny_model(), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    before = read_raw(zoo_dir)
    with pytest.raises(ValueError, match="safe_mode=True"):
        zoo.publish(model, "lambda-net", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert read_raw(zoo_dir) == before
    assert sorted(p.name for p in (zoo_dir / "weights").iterdir()) == ["tiny-cnn@1.keras"]
    assert sorted(p.name for p in (zoo_dir / "cards").iterdir()) == ["tiny-cnn@1.md"]


def test_load_uses_safe_mode(zoo_dir, tmp_path):
    """A file with a Lambda layer and a correct checksum still does not run."""
    zoo.publish(tiny_model(), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t + 1.0)(inputs))
    evil = zoo_dir / "weights" / "tiny-cnn@1.keras"
    model.save(evil)  # Overwrite the weights, then make the index "agree".
    plant(zoo_dir, "tiny-cnn@1", evil)
    with pytest.raises(ValueError, match="(?i)lambda"):
        zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)


# -------------------------------------------------------------- integrity


def test_tampered_file_is_detected_and_nothing_cached(zoo_dir):
    entry = zoo.publish(tiny_model(), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    path = zoo_dir / entry.file
    flip_byte(path)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()

    with pytest.raises(zoo.ZooIntegrityError) as info:
        zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.key, err.expected, err.actual) == ("tiny-cnn@1", entry.sha256, actual)
    for text in ("'tiny-cnn@1'", entry.sha256, actual, "nothing was loaded"):
        assert text in str(err)
    assert cache_files(zoo_dir) == []

    with pytest.raises(zoo.ZooIntegrityError, match="1 of 1 entries") as info:
        zoo.verify(zoo_dir)
    assert [c.status for c in info.value.report.failures] == ["sha256 mismatch"]
    report = zoo.verify(zoo_dir, strict=False)
    assert not report.ok and report.failures[0].key == "tiny-cnn@1"
    assert "sha256 mismatch" in str(report)


def test_truncated_and_missing_files(zoo_dir):
    a = zoo.publish(tiny_model(0), "tiny-a", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    b = zoo.publish(tiny_model(1), "tiny-b", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    c = zoo.publish(tiny_model(2), "tiny-c", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    path = zoo_dir / a.file
    path.write_bytes(path.read_bytes()[:-10])
    (zoo_dir / b.file).unlink()
    (zoo_dir / c.card).unlink()
    message = f"{a.size - 10} bytes; expected sha256 {a.sha256} and {a.size} bytes"
    with pytest.raises(zoo.ZooIntegrityError, match=message):
        zoo.load("tiny-a", zoo_dir=zoo_dir)
    with pytest.raises(zoo.ZooIntegrityError, match="missing"):
        zoo.load("tiny-b", zoo_dir=zoo_dir)
    zoo.load("tiny-c", zoo_dir=zoo_dir)  # A missing card does not stop loading.
    report = zoo.verify(zoo_dir, strict=False)
    assert {ch.key: ch.status for ch in report.checks} == {
        "tiny-a@1": "size mismatch", "tiny-b@1": "missing", "tiny-c@1": "card missing"
    }


# ----------------------------------------------------------------- schema


def valid_record():
    return {
        "name": "m", "version": 1, "base": "resnet20", "dataset": "cifar10",
        "dataset_variant": "cifar10-jpeg", "budget": 0.5, "macs": 10, "params": 5,
        "accuracy": {"cifar10-exact-subset-1017": 0.9}, "file": "weights/m@1.keras",
        "sha256": "0" * 64, "size": 3, "licence": "BSD-2-Clause", "date": "2025-01-31",
        "library_version": "0.1.0", "command": "dais prune", "card": "cards/m@1.md",
    }


def test_valid_record_validates():
    [entry] = zoo.validate_index({"schema_version": 1, "entries": {"m@1": valid_record()}}).values()
    assert entry.key == "m@1" and entry.accuracy == {"cifar10-exact-subset-1017": 0.9}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(schema_version=2), "schema_version 2.*reads schema_version 1"),
        (lambda d: d.pop("schema_version"), "not a zoo index"),
        (lambda d: d.update(entries=[]), "'entries'"),
        (lambda d: d["entries"]["m@1"].pop("sha256"), "'m@1'.*missing required field.*sha256"),
        (lambda d: d["entries"]["m@1"].pop("accuracy"), "missing required field.*accuracy"),
        (lambda d: d["entries"]["m@1"].update(top5=0.9), "unknown field.*top5.*extra"),
        (lambda d: d["entries"]["m@1"].update(sha256="abc"), "64 lowercase hex"),
        (lambda d: d["entries"]["m@1"].update(version="1"), "'version' must be"),
        (lambda d: d["entries"]["m@1"].update(macs=1.5), "'macs' must be"),
        (lambda d: d["entries"]["m@1"].update(accuracy={"x": 91.6}), "accuracy on 'x'"),
        (lambda d: d["entries"]["m@1"].update(accuracy={}), "'accuracy' is empty"),
        (lambda d: d["entries"]["m@1"].update(budget=0), "'budget'"),
        (lambda d: d["entries"]["m@1"].update(budget={"latency": 0}), "'budget'.*not a budget"),
        (lambda d: d["entries"]["m@1"].update(budget={"macs": 0.5}), "MACs budget as a number"),
        (lambda d: d["entries"]["m@1"].update(latency={"tflite_ms": 1.0}), "'machine'"),
        (lambda d: d["entries"]["m@1"].update(latency={"machine": "x", "tflite_ms": 0}),
         "'tflite_ms' must be a positive"),
        (lambda d: d["entries"]["m@1"].update(date="Jan 2025"), "YYYY-MM-DD"),
        (lambda d: d["entries"]["m@1"].update(url="https://x/m.keras"), "exactly one of 'file' and 'url'"),
        (lambda d: d["entries"]["m@1"].pop("file"), "exactly one of 'file' and 'url'"),
        (lambda d: d["entries"]["m@1"].update(file="../../etc/passwd"), "relative path inside"),
        (lambda d: d["entries"]["m@1"].update(file="/etc/passwd"), "relative path inside"),
        (lambda d: d["entries"].update({"m@2": d["entries"].pop("m@1")}), "key must be"),
        (lambda d: d["entries"]["m@1"].update(name="M"), "'name'"),
    ],
)
def test_schema_validation(mutate, message):
    data = {"schema_version": 1, "entries": {"m@1": valid_record()}}
    mutate(data)
    with pytest.raises(zoo.ZooSchemaError, match=message):
        zoo.validate_index(data)


def test_url_scheme_must_be_http_https_or_file():
    record = valid_record()
    record.pop("file")
    record["url"] = "ftp://example.com/m.keras"
    with pytest.raises(zoo.ZooSchemaError, match="http, https, file"):
        zoo.validate_index({"schema_version": 1, "entries": {"m@1": record}})


def test_schema_checked_on_load(zoo_dir):
    zoo.publish(tiny_model(), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    raw = read_raw(zoo_dir)
    raw["schema_version"] = 7
    write_raw(zoo_dir, raw)
    for call in (lambda: zoo.load("tiny-cnn", zoo_dir=zoo_dir), lambda: zoo.list(zoo_dir=zoo_dir),
                 lambda: zoo.verify(zoo_dir)):
        with pytest.raises(zoo.ZooSchemaError, match="schema_version 7"):
            call()
    (zoo_dir / "index.json").write_text("{not json")
    with pytest.raises(zoo.ZooSchemaError, match="not valid JSON"):
        zoo.list(zoo_dir=zoo_dir)


# ------------------------------------------------------------ URL entries


def test_url_entry_downloads_verifies_and_caches(zoo_dir, http_root, monkeypatch):
    monkeypatch.setattr(zoo_store, "DOWNLOAD_TIMEOUT", 10.0)
    model = tiny_model()
    entry = zoo.publish(model, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    served, base = http_root
    as_url_entry(zoo_dir, "tiny-cnn@1", served, base)

    assert zoo.verify(zoo_dir).checks[0].status == "not downloaded"
    loaded = zoo.load("tiny-cnn", zoo_dir=zoo_dir)
    np.testing.assert_allclose(outputs(loaded), outputs(model), rtol=1e-6, atol=1e-6)
    cached = cache_files(zoo_dir)
    assert cached == [f"tiny-cnn@1-{entry.sha256[:16]}.keras"]
    assert zoo.verify(zoo_dir).checks[0].status == "ok"

    # The cached copy is used: loading works with the file gone from the server.
    (served / "tiny-cnn@1.keras").unlink()
    zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    assert zoo.fetch("tiny-cnn@1", zoo_dir=zoo_dir).name == cached[0]


def test_url_entry_with_bad_download_leaves_nothing_in_cache(zoo_dir, http_root):
    entry = zoo.publish(tiny_model(), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    served, base = http_root
    target = as_url_entry(zoo_dir, "tiny-cnn@1", served, base)
    flip_byte(target)
    with pytest.raises(zoo.ZooIntegrityError, match="tiny-cnn@1") as info:
        zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    assert info.value.expected == entry.sha256
    assert info.value.actual == hashlib.sha256(target.read_bytes()).hexdigest()
    assert cache_files(zoo_dir) == []  # Not even a partial download.

    target.write_bytes(target.read_bytes() + b"extra bytes")  # Too long.
    with pytest.raises(zoo.ZooIntegrityError):
        zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    assert cache_files(zoo_dir) == []

    report = zoo.verify(zoo_dir, strict=False, download=True)
    assert report.checks[0].status == "download failed"
    assert cache_files(zoo_dir) == []

    target.unlink()  # 404
    with pytest.raises(OSError):
        zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    assert cache_files(zoo_dir) == []


def test_tampered_cache_is_replaced_by_a_fresh_download(zoo_dir, http_root):
    model = tiny_model()
    zoo.publish(model, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    served, base = http_root
    as_url_entry(zoo_dir, "tiny-cnn@1", served, base)
    path = zoo.fetch("tiny-cnn@1", zoo_dir=zoo_dir)
    flip_byte(path)
    assert zoo.verify(zoo_dir, strict=False).checks[0].status == "sha256 mismatch"
    with pytest.warns(UserWarning, match="cached copy .* does not match"):
        loaded = zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    np.testing.assert_allclose(outputs(loaded), outputs(model), rtol=1e-6, atol=1e-6)
    assert zoo.verify(zoo_dir).ok


def test_file_url_entry(zoo_dir, tmp_path):
    zoo.publish(tiny_model(), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    served = tmp_path / "mirror"
    served.mkdir()
    as_url_entry(zoo_dir, "tiny-cnn@1", served, served.as_uri())
    zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    assert len(cache_files(zoo_dir)) == 1
    assert zoo.verify(zoo_dir, download=True).ok


# ---------------------------------------------------------------- export


def test_zoo_export_in_one_line(zoo_dir, tmp_path):
    zoo.publish(tiny_model(), "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    result = zoo.export("tiny-cnn@1", tmp_path / "m.tflite", zoo_dir=zoo_dir)
    assert result.passed and result.format == "tflite" and result.max_rel_error <= 1e-4
    assert (tmp_path / "m.tflite").stat().st_size == result.size_bytes


# ------------------------------------------------------- the real zoo index


def _real_entries():
    return zoo.list_entries(zoo_dir=REPO / "zoo")


def test_real_index_parses_and_validates():
    raw = json.loads((REPO / "zoo" / "index.json").read_text())
    assert raw["schema_version"] == zoo.SCHEMA_VERSION
    entries = zoo.validate_index(raw, source="zoo/index.json")
    assert [e.key for e in _real_entries()] == sorted(entries, key=zoo_entry.sort_key)


def _exact_subset(eval_set):
    files = {
        "cifar10-exact-subset-1017": ("cifar10-exact-subset/test_first1017.npz", "y"),
        "cifar100-exact-subset-916": ("cifar100-exact-subset/test_first916.npz", "y_fine"),
    }
    if eval_set not in files:
        return None
    name, label = files[eval_set]
    path = DATA_DIR / name
    assert path.is_file(), f"{path} is missing; set DAIS_DATA_DIR to the shared data directory"
    data = np.load(path)
    return data["x"].astype("float32"), data[label]


# (sha256, eval set) -> predicted labels: `zoo.load` verifies the sha256, so
# the same file predicts the same labels (each file is predicted once).
_PREDICTED = {}


def check_recorded_figures(key, zoo_dir):
    """Loads an entry; re-measures MACs, params and exact-subset accuracy."""
    entry = zoo.get(key, zoo_dir=zoo_dir)
    model = zoo.load(key, zoo_dir=zoo_dir)
    assert dais_keras.count_macs(model) == entry.macs
    assert dais_keras.count_params(model) == entry.params
    checked = 0
    for eval_set, recorded in entry.accuracy.items():
        subset = _exact_subset(eval_set)
        if subset is None:
            continue
        x, y = subset
        if (entry.sha256, eval_set) not in _PREDICTED:
            # One batch: one trace of the predict function.
            _PREDICTED[entry.sha256, eval_set] = np.argmax(
                model.predict(x, batch_size=len(x), verbose=0), axis=-1)
        predictions = _PREDICTED[entry.sha256, eval_set]
        measured = float(np.mean(predictions == y))
        assert abs(measured - recorded) <= 0.005, (key, eval_set, measured, recorded)
        checked += 1
    assert checked, (
        f"{key} records no accuracy on an exact subset this test can re-measure "
        "(cifar10-exact-subset-1017, cifar100-exact-subset-916); record one."
    )


@pytest.mark.parametrize("key", [e.key for e in _real_entries()])
def test_real_entry_loads_and_matches_recorded_accuracy(key):
    check_recorded_figures(key, REPO / "zoo")


def test_recorded_figures_check_on_a_published_resnet20(zoo_dir, resnet20):
    """The check above, on a real model in a temporary zoo (custom layers too)."""
    net = resnet20
    x, y = _exact_subset("cifar10-exact-subset-1017")
    accuracy = float(np.mean(np.argmax(net.predict(x, batch_size=len(x), verbose=0), -1) == y))
    assert abs(accuracy - 0.916) < 0.002  # 91.6 % (see DESIGN.md).
    zoo.publish(
        net, "resnet20-cifar10", metrics={"cifar10-exact-subset-1017": accuracy},
        budget=1.0, base="resnet20", dataset="cifar10", dataset_variant="cifar10-exact",
        licence="BSD-2-Clause", command="dais_keras.models.pretrained('resnet20')", zoo_dir=zoo_dir,
    )
    check_recorded_figures("resnet20-cifar10@1", zoo_dir)
    raw = read_raw(zoo_dir)
    raw["entries"]["resnet20-cifar10@1"]["accuracy"]["cifar10-exact-subset-1017"] = accuracy - 0.02
    write_raw(zoo_dir, raw)
    with pytest.raises(AssertionError):
        check_recorded_figures("resnet20-cifar10@1", zoo_dir)
