"""The zoo never runs code from a file, never writes a name or a
number JSON cannot hold, recovers from a crashed publish, and says what is
wrong in plain words."""

import hashlib
import json

import numpy as np
import pytest

import keras
from keras.src.saving import serialization_lib

from dais_keras.deploy import zoo
from dais_keras.deploy.zoo import store as zoo_store

from deploy_helpers import PUBLISH_ARGS
from deploy_helpers import as_url_entry
from deploy_helpers import cache_files
from deploy_helpers import plant
from deploy_helpers import planted_lambda
from deploy_helpers import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


# ---------------------------------------------------------- #6 safe mode


def test_load_refuses_code_even_after_unsafe_deserialization(
    zoo_dir, tmp_path, tiny, unsafe_deserialization
):
    zoo.publish(tiny, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    marker = tmp_path / "pwned"
    marker.touch()
    plant(zoo_dir, "tiny-cnn@1", planted_lambda(zoo_dir / "weights" / "tiny-cnn@1.keras", marker))
    with pytest.raises(ValueError, match="(?i)lambda"):
        zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    assert not marker.exists()
    assert serialization_lib.in_safe_mode() is False  # The caller's setting is kept.


def test_publish_still_refuses_lambda_models_after_unsafe_deserialization(
    zoo_dir, unsafe_deserialization
):
    inputs = keras.Input((8, 8, 3))
    doubled = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(doubled)))
    with pytest.raises(ValueError, match="safe_mode=True"):
        zoo.publish(model, "lambda-net", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert not (zoo_dir / "index.json").exists()


# --------------------------------------------------- #7 names and numbers


@pytest.mark.parametrize("name", ["x\n", "tiny-cnn\n", "a\nb"])
def test_names_must_match_in_full(zoo_dir, tiny, name):
    with pytest.raises(ValueError, match="Invalid zoo name"):
        zoo.publish(tiny, name, zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert not (zoo_dir / "weights").exists() or not list((zoo_dir / "weights").iterdir())
    record = dict(
        name=name, version=1, base="b", dataset="d", dataset_variant="d", budget=0.5,
        macs=1, params=1, accuracy={"x": 0.5}, file="weights/m@1.keras", sha256="0" * 64,
        size=1, licence="MIT", date="2025-01-01", library_version="0", command="c",
        card="cards/m@1.md",
    )
    with pytest.raises(zoo.ZooSchemaError, match="'name'"):
        zoo.validate_index({"schema_version": 1, "entries": {f"{name}@1": record}})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1.0, float("-inf")]])
def test_extra_must_be_strict_json(zoo_dir, tiny, value):
    with pytest.raises(ValueError, match="NaN or infinity"):
        zoo.publish(tiny, "tiny-cnn", extra={"a": value}, zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert not (zoo_dir / "index.json").exists()


def test_index_with_nan_is_refused(zoo_dir, tiny):
    zoo.publish(tiny, "tiny-cnn", extra={"a": 1.0}, zoo_dir=zoo_dir, **PUBLISH_ARGS)
    path = zoo_dir / "index.json"
    path.write_text(path.read_text().replace('"a": 1.0', '"a": NaN'))
    with pytest.raises(zoo.ZooSchemaError, match="index.json.*NaN"):
        zoo.list(zoo_dir=zoo_dir)


# ---------------------------------------------- #9 a publish that crashed


def test_a_crashed_publish_is_listed_cleaned_and_does_not_wedge_the_name(zoo_dir, tiny):
    zoo.publish(tiny, "keep", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    # What a publish of "m" killed after moving its weights leaves behind.
    (zoo_dir / "weights" / "m@1.keras").write_bytes(b"half a publish")
    (zoo_dir / "weights" / ".publish-abc123").mkdir()
    (zoo_dir / "weights" / ".publish-abc123" / "first.keras").write_bytes(b"x")
    (zoo_dir / ".index.json.k2j3.tmp").write_text("{")
    (zoo_dir / "cards" / ".m@1.md.x1.tmp").write_text("#")
    license_file = zoo_dir / "weights" / "LICENSE-weights"
    license_file.write_text("not a leftover")
    with pytest.raises(ValueError, match="already exists although the index.*clean"):
        zoo.publish(tiny, "m", zoo_dir=zoo_dir, **PUBLISH_ARGS)

    report = zoo.verify(zoo_dir, strict=False)
    assert not report.ok
    assert {c.key: c.status for c in report.failures} == {
        ".index.json.k2j3.tmp": "leftover",
        "weights/.publish-abc123": "leftover",
        "weights/m@1.keras": "orphan",
        "cards/.m@1.md.x1.tmp": "leftover",
    }
    assert "clean()" in str(report)
    with pytest.raises(zoo.ZooIntegrityError, match="4 of 5"):
        zoo.verify(zoo_dir)

    listed = zoo.clean(zoo_dir, dry_run=True)
    assert len(listed) == 4 and (zoo_dir / "weights" / "m@1.keras").exists()
    removed = zoo.clean(zoo_dir)
    assert sorted(c.key for c in removed) == sorted(c.key for c in listed)
    assert zoo.verify(zoo_dir).ok
    assert license_file.read_text() == "not a leftover"
    assert sorted(p.name for p in (zoo_dir / "weights").iterdir()) == [
        "LICENSE-weights", "keep@1.keras"
    ]
    assert zoo.publish(tiny, "m", zoo_dir=zoo_dir, **PUBLISH_ARGS).key == "m@1"
    assert zoo.verify(zoo_dir).ok and zoo.clean(zoo_dir) == []


def test_clean_needs_an_index(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "m@1.keras").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="removes nothing"):
        zoo.clean(tmp_path)
    assert (tmp_path / "weights" / "m@1.keras").exists()


# ------------------------------------------------- #11 errors that say it


def test_missing_url_names_the_entry(zoo_dir, tiny, http_root):
    zoo.publish(tiny, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    served, base = http_root
    as_url_entry(zoo_dir, "tiny-cnn@1", served, base).unlink()
    with pytest.raises(zoo.ZooDownloadError, match=r"'tiny-cnn@1'.*tiny-cnn@1\.keras.*HTTP 404") as info:
        zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    assert isinstance(info.value, OSError) and info.value.key == "tiny-cnn@1"
    assert cache_files(zoo_dir) == []
    check = zoo.verify(zoo_dir, strict=False, download=True).checks[0]
    assert check.status == "download failed" and "'tiny-cnn@1'" in check.detail


def test_too_large_download_does_not_report_a_made_up_sha(zoo_dir, tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(zoo_store, "_CHUNK", 64)  # Many chunks, stop in the middle.
    entry = zoo.publish(tiny, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    served = tmp_path / "mirror"
    served.mkdir()
    target = as_url_entry(zoo_dir, "tiny-cnn@1", served, served.as_uri())
    target.write_bytes(target.read_bytes() + b"extra bytes")
    with pytest.raises(zoo.ZooIntegrityError, match="larger than the recorded") as info:
        zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    assert info.value.actual is None and info.value.expected == entry.sha256
    assert hashlib.sha256(b"").hexdigest() not in str(info.value)
    assert cache_files(zoo_dir) == []


def test_random_bytes_in_the_index_name_the_file(zoo_dir, tiny):
    zoo.publish(tiny, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    path = zoo_dir / "index.json"
    path.write_bytes(np.random.default_rng(0).bytes(256))
    for call in (lambda: zoo.list(zoo_dir=zoo_dir), lambda: zoo.load("tiny-cnn", zoo_dir=zoo_dir)):
        with pytest.raises(zoo.ZooSchemaError, match=f"'{path}' is not UTF-8"):
            call()


@pytest.mark.parametrize("key", ["tiny-cnn@²", "tiny-cnn@١", "tiny-cnn@-1", "tiny-cnn@1.0"])
def test_versions_are_ascii_integers(zoo_dir, tiny, key):
    zoo.publish(tiny, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    with pytest.raises(ValueError, match="version .* must be a positive integer"):
        zoo.load(key, zoo_dir=zoo_dir)
    with pytest.raises(ValueError, match="must be a positive integer"):
        zoo.get("tiny-cnn", "²", zoo_dir=zoo_dir)


def test_strict_json_round_trip_of_extra(zoo_dir, tiny):
    entry = zoo.publish(tiny, "tiny-cnn", extra={"a": [1, 2.5, None, "x"]}, zoo_dir=zoo_dir,
                        **PUBLISH_ARGS)
    assert json.loads((zoo_dir / "index.json").read_text())["entries"][entry.key]["extra"] == {
        "a": [1, 2.5, None, "x"]
    }
