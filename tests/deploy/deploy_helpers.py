"""Helpers of the deploy tests: a tiny model, its publish arguments, reading and
writing a zoo's raw index, flipping a byte, moving an entry behind a URL, a
planted Lambda layer."""

import hashlib
import json

import numpy as np

import keras

PUBLISH_ARGS = dict(
    metrics={"cifar10-exact-subset-1017": 0.5},
    budget=0.5,
    base="tinycnn",
    dataset="cifar10",
    dataset_variant="cifar10-exact",
    licence="Apache-2.0",
    command="pytest tests/test_zoo.py",
)


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)
    return keras.Model(inputs, outputs, name=f"tiny{seed}")


def probe():
    return np.random.default_rng(1).uniform(0, 255, (4, 8, 8, 3)).astype("float32")


def outputs(model):
    return keras.ops.convert_to_numpy(model(probe(), training=False))


def cache_files(zoo_dir):
    cache = zoo_dir.parent / "cache" / "zoo"  # $DAIS_CACHE_DIR is the cache root.
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def read_raw(zoo_dir):
    return json.loads((zoo_dir / "index.json").read_text())


def write_raw(zoo_dir, data):
    (zoo_dir / "index.json").write_text(json.dumps(data))


def flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def as_url_entry(zoo_dir, key, served_dir, base_url):
    """Moves a published file to the server and points the entry at it."""
    raw = read_raw(zoo_dir)
    record = raw["entries"][key]
    source = zoo_dir / record.pop("file")
    target = served_dir / source.name
    source.rename(target)
    record["url"] = f"{base_url}/{target.name}"
    write_raw(zoo_dir, raw)
    return target


def planted_lambda(path, marker):
    """Saves a model whose Lambda layer writes `marker` when it is built."""
    name = str(marker)  # A closure: Keras serialises its cells with the code.
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Lambda(lambda t: (open(name, "w").close(), t)[1])(inputs)
    marker.unlink()  # Building it here wrote the marker once.
    keras.Model(inputs, outputs).save(path)
    return path


def plant(zoo_dir, key, path):
    """Makes the index "agree" with a file planted as `key`'s weights."""
    raw = read_raw(zoo_dir)
    raw["entries"][key].update(
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size
    )
    write_raw(zoo_dir, raw)
