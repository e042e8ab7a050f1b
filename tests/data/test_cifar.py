"""Tests of `dais_keras.data` (CIFAR-10 loading, caching, splits, errors).

Most tests build tiny archives in the three on-disk formats (python pickles,
binary records, JPEG tarball) and check exact pixels and labels. Two groups use
the project's shared data in `../shared/data`: the exact subset (fast) and the
real 60,000-image JPEG tarball (decoded once per session into a temporary
cache; the slow test of this file).
"""

import importlib.util
import io
import os
import pickle
import subprocess
import sys
import tarfile
import time
import types
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dais_keras import data
from dais_keras.data import cache as data_cache
from dais_keras.data import decode as data_decode
from dais_keras.data import jpeg as data_jpeg
from dais_keras.data import order as data_order
from dais_keras.data import source as data_source

_REAL_SHARED_DATA_DIR = data_source.shared_data_dir
TRAIN_PER_BATCH = 10  # one image of each class per batch: 5 per class in all
TEST_PER_CLASS = 2


# --------------------------------------------------------------------------
# Tiny archives
# --------------------------------------------------------------------------


def _smooth_images(rng, n):
    """Smooth random images (JPEG keeps them close to the original)."""
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    images = np.empty((n, 32, 32, 3), np.uint8)
    for i in range(n):
        a, b, c = rng.uniform(0, 255, 3), rng.uniform(-80, 80, 3), rng.uniform(-80, 80, 3)
        img = a + b * yy[..., None] + c * xx[..., None]
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images


@pytest.fixture(scope="session")
def tiny():
    """The tiny CIFAR-like data set every archive below encodes."""
    rng = np.random.default_rng(123)
    train_labels = np.concatenate([rng.permutation(10) for _ in range(5)])
    test_labels = rng.permutation(np.repeat(np.arange(10), TEST_PER_CLASS))
    tiny = {
        "x_train": _smooth_images(rng, len(train_labels)),
        "y_train": train_labels.astype(np.int32),
        "x_test": _smooth_images(rng, len(test_labels)),
        "y_test": test_labels.astype(np.int32),
    }
    tiny["jpeg_members"] = tuple(_encode_jpeg_members(tiny))  # encoded once
    return tiny


def _batches(tiny):
    """`{name: (images, labels)}` in the original batch layout."""
    out = {}
    for i in range(5):
        part = slice(i * TRAIN_PER_BATCH, (i + 1) * TRAIN_PER_BATCH)
        out[f"data_batch_{i + 1}"] = (tiny["x_train"][part], tiny["y_train"][part])
    out["test_batch"] = (tiny["x_test"], tiny["y_test"])
    return out


def _chw_rows(images):
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def write_python_dir(root, tiny):
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, (x, y) in _batches(tiny).items():
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in y],
            b"data": _chw_rows(x),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(len(y))],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [n.encode() for n in data.CLASS_NAMES]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def write_binary_dir(root, tiny):
    folder = Path(root) / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, (x, y) in _batches(tiny).items():
        records = np.concatenate([y.astype(np.uint8)[:, None], _chw_rows(x)], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    return folder


def tar_gz(folder, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=Path(folder).name)
    return Path(archive)


def _jpeg_bytes(image):
    return tf.io.encode_jpeg(image, quality=75).numpy()


def jpeg_members(tiny):
    """`[(member name, bytes)]` laid out like the real JPEG tarball (a new
    list: callers may change it)."""
    return list(tiny["jpeg_members"])


def _encode_jpeg_members(tiny):
    members = []
    for split in ("train", "test"):
        x, y = tiny[f"x_{split}"], tiny[f"y_{split}"]
        rank = np.zeros(10, int)
        for image, label in zip(x, y):
            name = f"{split}/{data.CLASS_NAMES[label]}/{rank[label]:04d}.jpg"
            rank[label] += 1
            members.append((name, _jpeg_bytes(image)))
    return members


def write_jpeg_tar(root, members, shuffle_seed=0):
    path = Path(root) / "cifar10-jpeg" / "cifar10-jpg.tar.gz"
    path.parent.mkdir(parents=True)
    order = np.random.default_rng(shuffle_seed).permutation(len(members))
    with tarfile.open(path, "w:gz") as tar:
        for folder in ["train/", "test/"] + [f"test/{c}/" for c in data.CLASS_NAMES]:
            info = tarfile.TarInfo(folder.rstrip("/"))
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        extra = [("README.txt", b"not an image")]
        for name, blob in [members[i] for i in order] + extra:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def decode_reference(blobs):
    """Independent decoding of JPEG bytes with Pillow."""
    from PIL import Image

    return np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs])


def interleaved(labels):
    """The documented JPEG order: image k of every class in turn."""
    rank = data_order.rank_within_class(labels)
    return np.lexsort((labels, rank))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test reads the user's data or writes the user's cache by accident."""
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(tmp_path / "default-cache"))
    monkeypatch.setattr(data_source, "shared_data_dir", lambda: tmp_path / "no-shared")


def _files(folder):
    folder = Path(folder)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------
# Formats: exact pixels and labels
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout", ["python-dir", "python-tar", "binary-dir", "binary-tar"]
)
def test_original_formats_give_exact_pixels(layout, tiny, tmp_path):
    root = tmp_path / "data"
    if layout.startswith("python"):
        folder = write_python_dir(root / "src", tiny)
        name = "cifar-10-python.tar.gz"
    else:
        folder = write_binary_dir(root / "src", tiny)
        name = "cifar-10-binary.tar.gz"
    if layout.endswith("tar"):
        tar_gz(folder, root / name)
        data_dir = root
        expected_path = root / name
    else:
        data_dir = folder.parent
        expected_path = folder
    kw = dict(data_dir=data_dir, cache_dir=tmp_path / "cache")
    source = data.cifar10_source(data_dir=data_dir)
    assert source.name == "cifar10-original" and not source.lossy
    assert source.format == layout.split("-")[0]
    assert Path(source.path) == expected_path
    assert source.test_order == "original"
    for split in ("train", "test"):
        x, y = data.cifar10_numpy(split, **kw)
        assert x.dtype == np.uint8 and x.shape == tiny[f"x_{split}"].shape
        assert y.dtype == np.int32
        np.testing.assert_array_equal(x, tiny[f"x_{split}"])
        np.testing.assert_array_equal(y, tiny[f"y_{split}"])


def test_data_dir_may_name_the_batches_dir_or_the_archive(tiny, tmp_path):
    folder = write_python_dir(tmp_path / "a", tiny)
    archive = tar_gz(write_binary_dir(tmp_path / "b", tiny), tmp_path / "cifar-10-binary.tar.gz")
    for data_dir, fmt in [(folder, "python"), (archive, "binary")]:
        assert data.cifar10_source(data_dir=data_dir).format == fmt
        x, y = data.cifar10_numpy("test", data_dir=data_dir)
        np.testing.assert_array_equal(x, tiny["x_test"])


def test_original_pixels_are_preferred_over_jpeg(tiny, tmp_path):
    write_python_dir(tmp_path, tiny)
    write_jpeg_tar(tmp_path, jpeg_members(tiny))
    assert data.cifar10_source(data_dir=tmp_path).name == "cifar10-original"
    jpeg = data.cifar10_source(data_dir=tmp_path, variant="jpeg")
    assert jpeg.name == "cifar10-jpeg" and jpeg.lossy and jpeg.format == "jpeg"
    with pytest.raises(ValueError, match="variant"):
        data.cifar10_source(data_dir=tmp_path, variant="png")


def test_jpeg_tarball(tiny, tmp_path):
    members = jpeg_members(tiny)
    write_jpeg_tar(tmp_path, members)
    source = data.cifar10_source(data_dir=tmp_path)
    assert source.name == "cifar10-jpeg" and source.test_order == "interleaved"
    blobs = dict(members)
    for split in ("train", "test"):
        x, y = data.cifar10_numpy(split, data_dir=tmp_path)
        order = interleaved(tiny[f"y_{split}"])
        np.testing.assert_array_equal(y, tiny[f"y_{split}"][order])
        assert x.dtype == np.uint8 and x.shape == tiny[f"x_{split}"].shape
        # Pixels are those of a standard JPEG decoder, near the originals.
        rank = data_order.rank_within_class(y)
        names = [
            f"{split}/{data.CLASS_NAMES[c]}/{r:04d}.jpg" for c, r in zip(y, rank)
        ]
        np.testing.assert_array_equal(x, decode_reference([blobs[n] for n in names]))
        error = np.abs(x.astype(float) - tiny[f"x_{split}"][order]).mean()
        assert error < 3.0
    # The interleaved order makes every prefix class-balanced.
    _, y = data.cifar10_numpy("train", data_dir=tmp_path, limit=10)
    assert sorted(y) == list(range(10))


def test_jpeg_test_split_uses_original_order_when_labels_are_known(tiny, tmp_path):
    write_jpeg_tar(tmp_path, jpeg_members(tiny))
    subset = tmp_path / "cifar10-exact-subset"
    subset.mkdir()
    np.savez(
        subset / "test_first1017.npz",
        x=tiny["x_test"][:3],
        y=tiny["y_test"][:3],
        y_all=tiny["y_test"],
    )
    assert data.cifar10_source(data_dir=tmp_path).test_order == "original"
    x, y = data.cifar10_numpy("test", data_dir=tmp_path)
    np.testing.assert_array_equal(y, tiny["y_test"])
    assert np.abs(x.astype(float) - tiny["x_test"]).mean() < 3.0
    y_all = data.cifar10_original_labels(data_dir=tmp_path)
    _, y_subset = data.cifar10_exact_subset(data_dir=tmp_path)
    np.testing.assert_array_equal(y_all[: len(y_subset)], y_subset)
    np.testing.assert_array_equal(y_all[: len(y_subset)], y[: len(y_subset)])


def test_tensorflow_and_pillow_jpeg_decoders_agree(tiny):
    blobs = [blob for _, blob in jpeg_members(tiny)]
    names = [f"{i}.jpg" for i in range(len(blobs))]
    by_tf = data_jpeg._decode_jpegs_tf(blobs, names, "x.tar.gz")
    by_pil = data_jpeg._decode_jpegs_pil(blobs, names, "x.tar.gz")
    np.testing.assert_array_equal(by_tf, by_pil)


_WITHOUT_TENSORFLOW = """
import sys
import numpy as np
import dais_keras.data as data
root, cache, out = sys.argv[1:]
arrays = {}
for name in ("python", "jpeg"):
    for attempt in ("decoded", "cached"):
        x, y = data.cifar10_numpy("test", data_dir=f"{root}/{name}", cache_dir=cache)
        arrays[f"{name}_{attempt}_x"], arrays[f"{name}_{attempt}_y"] = x, y
np.savez(out, **arrays)
print("imported:", sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""


def _run_python(script, *args, **env):
    """Runs `script` in a new Python with this `dais_keras`; returns the run."""
    repository = Path(data.__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repository), **env)
    run = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    return run


def test_numpy_loading_does_not_import_tensorflow(tiny, tmp_path):
    # `import dais_keras.data` and `cifar10_numpy` (pickles, the JPEG archive
    # decoded by Pillow, the cache) run in a process without TensorFlow.
    write_python_dir(tmp_path / "python", tiny)
    write_jpeg_tar(tmp_path / "jpeg", jpeg_members(tiny))
    cache, out = tmp_path / "cache", tmp_path / "out.npz"
    run = _run_python(_WITHOUT_TENSORFLOW, tmp_path, cache, out)
    assert "imported: []" in run.stdout, run.stdout
    assert len(_files(cache)) == 2  # one per source; the second loads were cached
    with np.load(out) as arrays:
        np.testing.assert_array_equal(arrays["python_decoded_x"], tiny["x_test"])
        np.testing.assert_array_equal(arrays["python_cached_x"], tiny["x_test"])
        # Pillow's pixels are those of TensorFlow's decoder (used in-process).
        x, y = data.cifar10_numpy("test", data_dir=tmp_path / "jpeg")
        for attempt in ("decoded", "cached"):
            np.testing.assert_array_equal(arrays[f"jpeg_{attempt}_x"], x)
            np.testing.assert_array_equal(arrays[f"jpeg_{attempt}_y"], y)


# --------------------------------------------------------------------------
# Datasets: batches, dtypes, augmentation
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def py_dir(tiny, tmp_path_factory):
    """A python-format data dir of the tiny set (read only, but for mtimes)."""
    root = tmp_path_factory.mktemp("py-dir")
    write_python_dir(root, tiny)
    return root


def test_dataset_batches_are_raw_float_pixels(py_dir, tiny):
    ds = data.cifar10("test", batch_size=8, data_dir=py_dir)
    batches = list(ds)
    assert [len(y) for _, y in batches] == [8, 8, 4]
    images, labels = batches[0]
    assert images.dtype == tf.float32 and images.shape == (8, 32, 32, 3)
    assert labels.dtype == tf.int32
    x = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_array_equal(x, tiny["x_test"].astype(np.float32))
    assert x.max() > 1.0  # not rescaled
    ds = data.cifar10("test", batch_size=8, drop_remainder=True, data_dir=py_dir)
    assert [len(y) for _, y in ds] == [8, 8]


def test_test_batches_are_deterministic(py_dir):
    ds = data.cifar10("test", batch_size=7, data_dir=py_dir)
    first = [x.numpy() for x, _ in ds]
    second = [x.numpy() for x, _ in ds]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def _is_pad_crop_flip(augmented, original):
    padded = np.pad(original, [(4, 4), (4, 4), (0, 0)])
    for dy in range(9):
        for dx in range(9):
            crop = padded[dy : dy + 32, dx : dx + 32]
            if np.array_equal(augmented, crop) or np.array_equal(
                augmented, crop[:, ::-1]
            ):
                return True
    return False


def test_augmentation_is_pad_crop_flip(py_dir, tiny):
    kw = dict(batch_size=16, shuffle=False, data_dir=py_dir)
    plain = np.concatenate([x.numpy() for x, _ in data.cifar10("train", augment=False, **kw)])
    np.testing.assert_array_equal(plain, tiny["x_train"].astype(np.float32))
    ds = data.cifar10("train", augment=True, **kw)
    augmented = np.concatenate([x.numpy() for x, _ in ds])
    labels = np.concatenate([y.numpy() for _, y in ds])
    np.testing.assert_array_equal(labels, tiny["y_train"])
    assert augmented.dtype == np.float32 and augmented.shape == plain.shape
    assert not np.array_equal(augmented, plain)
    for a, x in zip(augmented, tiny["x_train"]):
        assert _is_pad_crop_flip(a, x.astype(np.float32))
    again = np.concatenate([x.numpy() for x, _ in ds])
    assert not np.array_equal(again, augmented)  # fresh draws every epoch


def test_augment_and_shuffle_defaults(py_dir, tiny):
    # "search" and "test" default to no augmentation: exact pixels.
    x_s, y_s = data.cifar10_numpy("search", data_dir=py_dir)
    ds = data.cifar10("search", batch_size=64, data_dir=py_dir)
    images, labels = next(iter(ds))
    assert len(labels) == len(y_s)
    # Shuffled, so compare as sets of (label, image).
    got = {(int(l), img.tobytes()) for l, img in zip(labels.numpy(), images.numpy())}
    want = {(int(l), img.astype(np.float32).tobytes()) for l, img in zip(y_s, x_s)}
    assert got == want
    # "train" shuffles by default, with a reproducible seed.
    a = np.concatenate([y.numpy() for _, y in data.cifar10("train", data_dir=py_dir, seed=3)])
    b = np.concatenate([y.numpy() for _, y in data.cifar10("train", data_dir=py_dir, seed=3)])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, tiny["y_train"])
    assert sorted(a) == sorted(tiny["y_train"])


# --------------------------------------------------------------------------
# format="pydataset": the same examples without tf.data
# --------------------------------------------------------------------------


def _pass(ds):
    """`(images, labels)` of one pass over a PyDataset, concatenated."""
    batches = [ds[i] for i in range(len(ds))]
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def test_pydataset_format_serves_the_examples_of_the_tf_format(py_dir, tiny):
    kw = dict(batch_size=8, data_dir=py_dir, format="pydataset")
    ds = data.cifar10("test", **kw)
    assert isinstance(ds, data.ImagePyDataset) and len(ds) == 3
    x, y = _pass(ds)
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x, tiny["x_test"].astype(np.float32))
    np.testing.assert_array_equal(y, tiny["y_test"])
    # "search": shuffled, not augmented, the examples of cifar10_numpy.
    x_s, y_s = data.cifar10_numpy("search", data_dir=py_dir)
    x, y = _pass(data.cifar10("search", **kw))
    assert not np.array_equal(y, y_s)
    got = {(int(l), img.tobytes()) for l, img in zip(y, x)}
    assert got == {(int(l), img.astype(np.float32).tobytes()) for l, img in zip(y_s, x_s)}
    # "weight": augmented by default; every image a pad-crop-flip of its own.
    x_w, y_w = data.cifar10_numpy("weight", data_dir=py_dir)
    x, y = _pass(data.cifar10("weight", shuffle=False, **kw))
    np.testing.assert_array_equal(y, y_w)
    assert not np.array_equal(x, x_w.astype(np.float32))
    for a, original in zip(x, x_w):
        assert _is_pad_crop_flip(a, original.astype(np.float32))
    # Reproducible for a seed, different for another; limit as for "tf".
    a = _pass(data.cifar10("weight", seed=3, **kw))
    np.testing.assert_array_equal(_pass(data.cifar10("weight", seed=3, **kw))[0], a[0])
    assert not np.array_equal(_pass(data.cifar10("weight", seed=4, **kw))[0], a[0])
    kw.update(batch_size=4, limit=6)
    assert len(_pass(data.cifar10("weight", **kw))[1]) == 6
    assert len(data.cifar10("weight", drop_remainder=True, **kw)) == 1
    ds = data.cifar10("train", workers=2, use_multiprocessing=True, max_queue_size=3, **kw)
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (2, True, 3)


def test_repeat_in_both_formats(py_dir):
    # `repeat=True`: endless batches, pass after pass, in both formats.
    kw = dict(split="test", batch_size=8, data_dir=py_dir, repeat=True)
    tf_batches = data.cifar10(format="tf", **kw).take(7)
    labels = np.concatenate([y.numpy() for _, y in tf_batches])
    ds = data.cifar10(format="pydataset", **kw)
    assert ds.num_batches is None and len(ds) == 3
    np.testing.assert_array_equal(np.concatenate([ds[i][1] for i in range(7)]), labels)
    assert len(labels) == 2 * 20 + 8  # test split of 20: 3 batches a pass


_TENSORFLOW_BLOCKED = """
import sys

from dais_keras.utils.block_imports import block_tensorflow

block_tensorflow()
import keras
import numpy as np

import dais_keras.data as data

root, cache = sys.argv[1:]
kw = dict(data_dir=root, cache_dir=cache, format="pydataset", batch_size=8)
train = data.cifar10("weight", seed=1, workers=2, **kw)
for i in range(2):
    x, y = train[i]
    assert x.shape == (8, 32, 32, 3) and (x.dtype, y.dtype) == ("float32", "int32")
x, y = next(data.endless_batches(data.cifar10("search", **kw)))
assert x.shape == (8, 32, 32, 3)
L = keras.layers
model = keras.Sequential([
    keras.Input((32, 32, 3)), L.Rescaling(1 / 255), L.Conv2D(4, 3, strides=4),
    L.GlobalAveragePooling2D(), L.Dense(10),
])
model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
history = model.fit(train, epochs=1, shuffle=False, verbose=0)
assert np.isfinite(history.history["loss"][0]) and train.epoch == 2
print("backend:", keras.backend.backend())
print("tensorflow imported:", any(m.split(".")[0] == "tensorflow" for m in sys.modules))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_pydataset_trains_with_tensorflow_blocked(backend, py_dir, tmp_path):
    # The loader, the search stream and `fit` on it, in a process where
    # `import tensorflow` fails (as where TensorFlow is not installed).
    # `make test` installs jax and torch (extras `jax`, `torch`): no skip.
    run = _run_python(_TENSORFLOW_BLOCKED, py_dir, tmp_path / "cache", KERAS_BACKEND=backend)
    assert f"backend: {backend}" in run.stdout, run.stdout
    assert "tensorflow imported: False" in run.stdout, run.stdout


# --------------------------------------------------------------------------
# Weight/search split and limit
# --------------------------------------------------------------------------


def test_weight_search_split(py_dir, tiny):
    kw = dict(data_dir=py_dir, search_fraction=0.2, seed=7)
    x_w, y_w = data.cifar10_numpy("train", **kw)
    x_s, y_s = data.cifar10_numpy("search", **kw)
    assert len(y_w) == 40 and len(y_s) == 10
    # Stratified: 4 + 1 of each class's 5.
    assert np.bincount(y_w).tolist() == [4] * 10 and np.bincount(y_s).tolist() == [1] * 10
    # Disjoint and covering (images are unique in the tiny set).
    key = lambda x: {img.tobytes() for img in x}  # noqa: E731
    assert not key(x_w) & key(x_s)
    assert key(x_w) | key(x_s) == key(tiny["x_train"])
    # "weight" is "train" with the default fraction.
    x_w2, _ = data.cifar10_numpy("weight", data_dir=py_dir, seed=7)
    np.testing.assert_array_equal(x_w, x_w2)
    # Deterministic for a seed, different for another.
    np.testing.assert_array_equal(data.cifar10_numpy("search", **kw)[0], x_s)
    other = data.cifar10_numpy("search", data_dir=py_dir, search_fraction=0.2, seed=8)[0]
    assert key(other) != key(x_s)
    # Without search_fraction, "train" is everything.
    assert len(data.cifar10_numpy("train", data_dir=py_dir)[1]) == 50


def test_split_indices():
    labels = np.repeat(np.arange(10), 100)
    weight, search = data.split_indices(labels, 0.2, seed=0)
    assert len(search) == 200 and np.bincount(labels[search]).tolist() == [20] * 10
    assert np.array_equal(np.sort(np.concatenate([weight, search])), np.arange(1000))
    np.testing.assert_array_equal(search, data.split_indices(labels, 0.2, seed=0)[1])
    with pytest.raises(ValueError, match="search part empty"):
        data.split_indices(np.arange(10), 0.2)


def test_limit(py_dir, tiny):
    x, y = data.cifar10_numpy("test", data_dir=py_dir, limit=5)
    np.testing.assert_array_equal(x, tiny["x_test"][:5])
    x, y = data.cifar10_numpy("test", data_dir=py_dir, limit=1000)
    assert len(y) == 20
    xs, ys = data.cifar10_numpy("train", data_dir=py_dir, limit=6, shuffle=True, seed=1)
    again = data.cifar10_numpy("train", data_dir=py_dir, limit=6, shuffle=True, seed=1)
    np.testing.assert_array_equal(xs, again[0])
    full = {img.tobytes() for img in tiny["x_train"]}
    assert {img.tobytes() for img in xs} <= full
    assert not np.array_equal(xs, tiny["x_train"][:6])
    ds = data.cifar10("weight", batch_size=4, limit=6, data_dir=py_dir)
    assert sum(len(y) for _, y in ds) == 6


# --------------------------------------------------------------------------
# Cache and source precedence
# --------------------------------------------------------------------------


def test_second_load_uses_the_cache(py_dir, tiny, tmp_path, monkeypatch):
    calls = []
    decode = data_decode.DECODERS["python"]
    monkeypatch.setitem(
        data_decode.DECODERS, "python", lambda source: calls.append(1) or decode(source)
    )
    root = tmp_path / "cache-root"
    cache = root / "data"
    data.cifar10_numpy("train", data_dir=py_dir, cache_dir=cache)
    assert len(calls) == 1
    source = data.cifar10_source(data_dir=py_dir)
    assert _files(cache) == [data.cache_path(source, cache).name]
    start = time.perf_counter()
    x, y = data.cifar10_numpy("test", data_dir=py_dir, cache_dir=cache)
    assert time.perf_counter() - start < 2.0
    assert len(calls) == 1  # not decoded again
    np.testing.assert_array_equal(x, tiny["x_test"])
    # The default cache is <cache root>/data: the root is $DAIS_KERAS_CACHE
    # (CACHE_DIR_ENV), else the older $DAIS_CACHE_DIR.
    assert data.CACHE_DIR_ENV == "DAIS_KERAS_CACHE"
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(root))
    assert data.cache_path(source) == data.cache_path(source, cache)
    data.cifar10_numpy("test", data_dir=py_dir)
    assert len(calls) == 1
    monkeypatch.delenv(data.CACHE_DIR_ENV)
    monkeypatch.setenv("DAIS_CACHE_DIR", str(root))
    data.cifar10_numpy("test", data_dir=py_dir)
    assert len(calls) == 1
    # A changed source file invalidates the entry.
    batch = py_dir / "cifar-10-batches-py" / "test_batch"
    os.utime(batch, ns=(time.time_ns(), time.time_ns() + 10**9))
    data.cifar10_numpy("test", data_dir=py_dir)
    assert len(calls) == 2
    # A damaged cache file is rebuilt, not trusted.
    path = data.cache_path(source, cache)
    path.write_bytes(b"garbage")
    np.testing.assert_array_equal(data.cifar10_numpy("test", data_dir=py_dir)[0], x)
    assert len(calls) == 3


def _marked_dir(root, tiny, marker):
    """A python-format data dir whose first test pixel is `marker`."""
    marked = dict(tiny, x_test=tiny["x_test"].copy())
    marked["x_test"][0, 0, 0, 0] = marker
    write_python_dir(root, marked)
    return root


def test_source_precedence(tiny, tmp_path, monkeypatch):
    explicit = _marked_dir(tmp_path / "explicit", tiny, 1)
    env = _marked_dir(tmp_path / "env", tiny, 2)
    shared = _marked_dir(tmp_path / "shared", tiny, 3)
    monkeypatch.setattr(data_source, "shared_data_dir", lambda: shared)

    def first_pixel(**kw):
        return int(data.cifar10_numpy("test", **kw)[0][0, 0, 0, 0])

    assert first_pixel() == 3
    assert data.cifar10_source().origin == "shared data dir"
    monkeypatch.setenv(data.DATA_DIR_ENV, str(env))
    assert first_pixel() == 2
    assert data.cifar10_source().origin == data.DATA_DIR_ENV
    assert first_pixel(data_dir=explicit) == 1
    assert data.cifar10_source(data_dir=explicit).origin == "data_dir argument"
    # An env dir without data falls through to the shared dir ...
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "empty"))
    assert first_pixel() == 3
    # ... but an explicit data_dir is the only place searched.
    with pytest.raises(data.DataNotFoundError):
        data.cifar10_numpy("test", data_dir=tmp_path / "empty")


def test_default_shared_dir_is_beside_the_repository():
    import dais_keras

    repository = Path(dais_keras.__file__).resolve().parents[1]
    assert _REAL_SHARED_DATA_DIR() == repository.parent / "shared" / "data"


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_missing_data_error_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "env-dir"))
    with pytest.raises(data.DataNotFoundError) as info:
        data.cifar10_numpy("train", download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for needle in [
        "DAIS_DATA_DIR",
        str(tmp_path / "env-dir"),
        str(tmp_path / "no-shared"),
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
        "cifar-10-binary.tar.gz",
        "cifar10-jpeg/cifar10-jpg.tar.gz",
        "data_dir=",
        "download=False",
    ]:
        assert needle in message, needle
    with pytest.raises(data.DataNotFoundError, match="DAIS_DATA_DIR"):
        data.cifar10_source(download=False)


def test_missing_data_error_when_tfds_fails(tmp_path, monkeypatch):
    def offline(source):
        raise ConnectionError("Failed to establish a connection to www.cs.toronto.edu")

    monkeypatch.setitem(data_decode.DECODERS, "tfds", offline)
    cache = tmp_path / "cache"
    with pytest.raises(data.DataNotFoundError) as info:
        data.cifar10("train", cache_dir=cache)
    message = str(info.value)
    for needle in [
        "DAIS_DATA_DIR: not set",
        str(tmp_path / "no-shared"),
        "tensorflow_datasets",
        "ConnectionError",
        "cifar-10-python.tar.gz",
        "cifar10-jpeg/cifar10-jpg.tar.gz",
        "data_dir=",
    ]:
        assert needle in message, needle
    assert _files(cache) == []


def test_tfds_fallback_is_named_original_and_cached(tiny, tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("tensorflow_datasets")

    def load(name, split, as_supervised, batch_size):
        calls.append((name, split))
        assert as_supervised and batch_size == -1
        return tiny[f"x_{split}"], tiny[f"y_{split}"].astype(np.int64)

    fake.load, fake.as_numpy = load, lambda tensors: tensors
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    source = data.cifar10_source()
    assert (source.format, source.name, source.origin) == (
        "tfds",
        "cifar10-original",
        "tensorflow_datasets",
    )
    x, y = data.cifar10_numpy("test")
    np.testing.assert_array_equal(x, tiny["x_test"])
    assert y.dtype == np.int32
    assert calls == [("cifar10", "train"), ("cifar10", "test")]
    data.cifar10_numpy("train")
    assert len(calls) == 2  # served from the cache
    # An explicit data_dir is never replaced by a download.
    with pytest.raises(data.DataNotFoundError, match="no other place"):
        data.cifar10_source(data_dir=tmp_path / "nowhere")


def test_explicit_missing_dir(tmp_path):
    with pytest.raises(data.DataNotFoundError) as info:
        data.cifar10_numpy("test", data_dir=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)
    assert "does not exist" in str(info.value)
    assert "DAIS_DATA_DIR" in str(info.value)


def _truncate(path, keep=0.5):
    blob = Path(path).read_bytes()
    Path(path).write_bytes(blob[: int(len(blob) * keep)])


def _corrupt_python_tar(root, tiny):
    archive = tar_gz(write_python_dir(root / "src", tiny), root / "cifar-10-python.tar.gz")
    _truncate(archive)
    return archive


def _corrupt_pickle(root, tiny):
    folder = write_python_dir(root, tiny)
    (folder / "data_batch_2").write_bytes(b"\x80\x02}q\x00(X\x04\x00\x00\x00")
    return folder / "data_batch_2"


def _hostile_pickle(root, tiny):
    folder = write_python_dir(root, tiny)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": os.system}))
    return folder / "test_batch"


def _wrong_size_bin(root, tiny):
    folder = write_binary_dir(root, tiny)
    blob = (folder / "data_batch_3.bin").read_bytes()
    (folder / "data_batch_3.bin").write_bytes(blob[:-100])
    return folder / "data_batch_3.bin"


def _bad_label_bin(root, tiny):
    folder = write_binary_dir(root, tiny)
    blob = bytearray((folder / "test_batch.bin").read_bytes())
    blob[0] = 42
    (folder / "test_batch.bin").write_bytes(bytes(blob))
    return folder / "test_batch.bin"


def _missing_batch(root, tiny):
    folder = write_binary_dir(root, tiny)
    (folder / "data_batch_4.bin").unlink()
    return folder / "data_batch_4.bin"


def _corrupt_jpeg_tar(root, tiny):
    archive = write_jpeg_tar(root, jpeg_members(tiny))
    _truncate(archive, 0.6)
    return archive


def _bad_jpeg_member(root, tiny):
    members = jpeg_members(tiny)
    members[3] = (members[3][0], b"\xff\xd8 not really a jpeg")
    write_jpeg_tar(root, members)
    return members[3][0]


def _wrong_size_jpeg(root, tiny):
    members = jpeg_members(tiny)
    members[-1] = (members[-1][0], _jpeg_bytes(tiny["x_test"][0][:16]))
    write_jpeg_tar(root, members)
    return members[-1][0]


def _unknown_class_folder(root, tiny):
    members = jpeg_members(tiny) + [("train/unicorn/0000.jpg", jpeg_members(tiny)[0][1])]
    write_jpeg_tar(root, members)
    return "unicorn"


@pytest.mark.parametrize(
    "make",
    [
        _corrupt_python_tar,
        _corrupt_pickle,
        _hostile_pickle,
        _wrong_size_bin,
        _bad_label_bin,
        _missing_batch,
        _corrupt_jpeg_tar,
        _bad_jpeg_member,
        _wrong_size_jpeg,
        _unknown_class_folder,
    ],
)
def test_corrupt_data_names_the_file_and_leaves_no_cache_file(make, tiny, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    culprit = make(root, tiny)
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(data.CorruptDataError) as info:
        data.cifar10_numpy("train", data_dir=root, cache_dir=cache)
    assert isinstance(info.value, ValueError)
    assert Path(str(culprit)).name in str(info.value)
    assert "corrupt" in str(info.value)
    assert _files(cache) == []


def test_interrupted_cache_write_leaves_nothing(py_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_cache.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        data.cifar10_numpy("test", data_dir=py_dir, cache_dir=cache)
    assert _files(cache) == []


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(split="validation"), "split"),
        (dict(split="search", search_fraction=0), "search_fraction"),
        (dict(split="train", search_fraction=1.0), "search_fraction"),
        (dict(split="train", search_fraction=-0.2), "search_fraction"),
        (dict(split="test", search_fraction=1.5), "search_fraction"),
        (dict(split="train", search_fraction="0.2"), "search_fraction"),
        (dict(split="train", batch_size=0), "batch_size"),
        (dict(split="train", batch_size=-8), "batch_size"),
        (dict(split="train", batch_size=12.5), "batch_size"),
        (dict(split="train", batch_size=True), "batch_size"),
        (dict(split="train", limit=0), "limit"),
        (dict(split="train", seed=None), "seed"),
        (dict(split="train", variant="png"), "variant"),
        (dict(split="train", format="grain"), "format"),
        (dict(split="train", workers=2), "workers"),
    ],
)
def test_bad_arguments(kwargs, needle, py_dir):
    with pytest.raises(ValueError, match=needle) as info:
        data.cifar10(data_dir=py_dir, **kwargs)
    message = str(info.value)
    if needle == "split":
        for split in data.SPLITS:
            assert split in message
    if needle == "search_fraction":
        assert "between 0 and 1" in message
    if needle == "format":
        assert "'tf'" in message and "'pydataset'" in message


# --------------------------------------------------------------------------
# The shared data (../shared/data)
# --------------------------------------------------------------------------


@pytest.fixture
def real_shared(monkeypatch):
    monkeypatch.setattr(data_source, "shared_data_dir", _REAL_SHARED_DATA_DIR)
    return _REAL_SHARED_DATA_DIR()


def test_exact_subset(real_shared):
    x, y = data.cifar10_exact_subset()
    assert x.shape == (1017, 32, 32, 3) and x.dtype == np.uint8
    assert y.shape == (1017,) and y.dtype == np.int32
    y_all = data.cifar10_original_labels()
    assert y_all.shape == (10000,)
    assert np.bincount(y_all).tolist() == [1000] * 10
    np.testing.assert_array_equal(y_all[:1017], y)
    x_train, y_train = data.cifar10_exact_subset(split="train")
    assert x_train.shape == (1102, 32, 32, 3)
    np.testing.assert_array_equal(data.cifar10_original_labels(split="train")[:1102], y_train)
    with pytest.raises(ValueError, match="split"):
        data.cifar10_exact_subset(split="search")


def test_exact_subset_missing_or_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "env"))
    with pytest.raises(data.DataNotFoundError) as info:
        data.cifar10_exact_subset()
    for needle in ["test_first1017.npz", str(tmp_path / "env"), "no-shared", "DAIS_DATA_DIR"]:
        assert needle in str(info.value), needle
    path = tmp_path / "cifar10-exact-subset" / "test_first1017.npz"
    path.parent.mkdir()
    np.savez(path, x=np.zeros((2, 32, 32, 3), np.uint8), y=[1, 2], y_all=[1, 2, 3])
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(data.CorruptDataError, match="test_first1017.npz"):
        data.cifar10_exact_subset(data_dir=tmp_path)


@pytest.fixture(scope="session")
def real_jpeg(tmp_path_factory):
    """The real JPEG tarball, decoded once into a temporary cache."""
    data_dir = _REAL_SHARED_DATA_DIR()
    cache = tmp_path_factory.mktemp("real-cache")
    start = time.perf_counter()
    kw = dict(data_dir=data_dir, cache_dir=cache, download=False)
    train = data.cifar10_numpy("train", **kw)
    test = data.cifar10_numpy("test", **kw)
    seconds = time.perf_counter() - start
    return dict(train=train, test=test, cache=cache, data_dir=data_dir, seconds=seconds)


def test_real_jpeg_tarball(real_jpeg, real_shared):
    (x_train, y_train), (x_test, y_test) = real_jpeg["train"], real_jpeg["test"]
    assert x_train.shape == (50000, 32, 32, 3) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 32, 32, 3) and x_test.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [5000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    source = data.cifar10_source()
    assert source.name == "cifar10-jpeg" and source.origin == "shared data dir"
    assert source.test_order == "original"
    # The test split is in the original order: image i is exact image i.
    x_exact, y_exact = data.cifar10_exact_subset()
    np.testing.assert_array_equal(y_test[:1017], y_exact)
    np.testing.assert_array_equal(y_test, data.cifar10_original_labels())
    error = np.abs(x_test[:1017].astype(float) - x_exact).mean(axis=(1, 2, 3))
    assert error.mean() < 8.0 and error.max() < 20.0  # JPEG q~75 noise only
    # Warm loads come from the cache.
    start = time.perf_counter()
    x, y = data.cifar10_numpy("test", data_dir=real_jpeg["data_dir"], cache_dir=real_jpeg["cache"])
    assert time.perf_counter() - start < 5.0
    np.testing.assert_array_equal(x, x_test)


def test_real_weight_search_split(real_jpeg):
    kw = dict(data_dir=real_jpeg["data_dir"], cache_dir=real_jpeg["cache"], search_fraction=0.2)
    _, y_w = data.cifar10_numpy("train", **kw)
    _, y_s = data.cifar10_numpy("search", **kw)
    assert len(y_w) == 40000 and len(y_s) == 10000
    assert np.bincount(y_s).tolist() == [1000] * 10


@pytest.mark.parametrize("augment", [False, True])
def test_tf_dataset_does_not_autotune(augment):
    """No tf.data autotuning thread: it competes with training for the cores
    and makes every `fit` wait for it at the end."""
    from dais_keras.data.tfdata import tf_dataset

    x = np.arange(6 * 32 * 32 * 3, dtype="uint8").reshape(6, 32, 32, 3)
    ds = tf_dataset(x, np.arange(6), batch_size=4, augment=augment, shuffle=True).repeat()
    assert ds.options().autotune.enabled is False
    first = next(iter(ds))
    assert first[0].shape == (4, 32, 32, 3) and first[0].dtype == "float32"
