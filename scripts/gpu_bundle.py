"""Gathers what the GPU machine lacks for `bench/gpu_full_schedule.py` into
one folder (at most 60 MB), and prints the exact command to run there.

The lent GPU machine (see `/work/.library/device/`) has Python 3.12, JAX,
torch, numpy, Pillow, h5py, ml-dtypes, rich, absl-py, PyYAML and matplotlib,
but no TensorFlow, no Keras and no internet. Its `run` sends the repository's
working tree (this code) plus up to 8 ignored paths named in `carry`, 64 MiB
in all. This script fills one such path (default
`<repository>/.cache/gpu_bundle`: git ignores `.cache/`):

* `wheels/`: the wheels of Keras and of its requirements the machine lacks
  (`namex`, pure Python; `optree`, built for CPython 3.12 on manylinux
  x86-64), at the versions installed here, by `pip download --no-deps` from
  the package registry;
* `data/cifar10-jpeg/cifar10-jpg.tar.gz`: the JPEG CIFAR-10 archive, and
  `data/cifar10-exact-subset/test_first1017.npz` (puts the JPEG test split
  in the original order);
* `weights/`: the pretrained ResNet-56 (`resnet56-*.npz`) and its LICENSE;
* `MANIFEST.json`: every file with its size and SHA-256.

Usage: `python scripts/gpu_bundle.py [--dest .cache/gpu_bundle] [--backend jax]`,
then the printed `run` call, from this checkout.
"""

import argparse
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

from dais_keras.data.formats import EXACT_TEST_FILE
from dais_keras.data.source import cifar10_source
from dais_keras.data.source import jpeg_labels_file
from dais_keras.models.weights import find_weights
from dais_keras.utils.io import write_json
from dais_keras.utils.paths import repo_root

LIMIT_BYTES = 60 * 10**6
DEFAULT_DEST = Path(".cache") / "gpu_bundle"
JPEG_ARCHIVE = Path("cifar10-jpeg") / "cifar10-jpg.tar.gz"
# What the GPU machine lacks: Keras and the requirements it does not have.
WHEELS = ("keras", "namex", "optree")
# pip's platform tags for the GPU machine's CPython 3.12 on x86-64.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")
PIP_INSTALL = ("python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "
               "--upgrade --target /tmp/site {dest}/wheels/*.whl && export "
               "PYTHONPATH=/tmp/site:$PWD || exit;")


def _download_wheels(folder):
    """`pip download --no-deps` of `WHEELS` at the versions installed here."""
    folder.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
    platforms = [arg for tag in PLATFORMS for arg in ("--platform", tag)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.12", "--implementation", "cp", *platforms,
         "-d", str(folder), *pins],
        check=True,
    )
    return pins


def _data_files():
    """`{path in the bundle's data folder: source}` of the JPEG archive and
    of the exact test subset beside it (found like `dais_keras.data` does)."""
    archive = Path(cifar10_source(variant="jpeg", download=False).path)
    labels = jpeg_labels_file(archive)
    if labels is None:
        raise FileNotFoundError(f"No {EXACT_TEST_FILE} beside {archive}.")
    return {JPEG_ARCHIVE: archive, EXACT_TEST_FILE: labels}


def _copy(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _manifest(dest):
    files = {}
    for path in sorted(p for p in dest.rglob("*") if p.is_file() and p.name != "MANIFEST.json"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files[str(path.relative_to(dest))] = {"bytes": path.stat().st_size, "sha256": digest}
    return files


def command(dest_name=str(DEFAULT_DEST), backend="jax"):
    """The `run` call that runs the full schedule on the GPU machine, with
    the bundle at `dest_name` (relative to the repository root)."""
    shell = (
        PIP_INSTALL.format(dest=dest_name)
        + f" export KERAS_BACKEND={backend} DAIS_DATA_DIR=$PWD/{dest_name}/data"
        f" DAIS_WEIGHTS_DIR=$PWD/{dest_name}/weights PYTHONUNBUFFERED=1;"
        " set -o pipefail; nvidia-smi -L; python3 bench/gpu_full_schedule.py --out $OUT"
        " 2>&1 | tee $OUT/log.txt"
    )
    return {"command": shell, "carry": [dest_name], "timeout_s": 600}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=None, help="default: <repository>/.cache/gpu_bundle")
    parser.add_argument("--backend", default="jax", choices=("jax", "torch"))
    args = parser.parse_args(argv)
    root = repo_root()
    dest = Path(args.dest) if args.dest else root / DEFAULT_DEST
    if dest.exists():
        shutil.rmtree(dest)
    pins = _download_wheels(dest / "wheels")
    for relative, source in _data_files().items():
        _copy(source, dest / "data" / relative)
    weights = find_weights("resnet56")
    _copy(weights, dest / "weights" / weights.name)
    if (weights.parent / "LICENSE").is_file():
        _copy(weights.parent / "LICENSE", dest / "weights" / "LICENSE")
    files = _manifest(dest)
    total = sum(f["bytes"] for f in files.values())
    if total > LIMIT_BYTES:
        raise SystemExit(f"{dest} holds {total / 1e6:.1f} MB, over the {LIMIT_BYTES / 1e6:.0f} MB "
                         "limit.")
    try:
        name = str(dest.resolve().relative_to(root.resolve()))
    except ValueError:
        raise SystemExit(f"{dest} is outside the repository {root}: `run` carries only paths "
                         "inside it.") from None
    call = command(name, args.backend)
    write_json(dest / "MANIFEST.json", {"wheels": pins, "bytes": total, "files": files,
                                        "run": call})
    ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", str(dest)]).returncode
    print(f"{dest}: {len(files)} files, {total / 1e6:.1f} MB ({', '.join(pins)})")
    if ignored != 0:
        print(f"git does not ignore {dest}: run `echo /{name}/ >> "
              f"$(git rev-parse --git-common-dir)/info/exclude` first (carry takes ignored paths).")
    print("Run on the GPU machine (the device tool's `run`, from this checkout):")
    print(json.dumps(call, indent=1))


if __name__ == "__main__":
    main()
