"""Benchmark: loading the full CIFAR-10 JPEG archive, cold and warm.

Each measurement runs in a fresh Python process so that nothing is shared but
the on-disk cache:

* cold: empty temporary cache; reads `cifar10-jpg.tar.gz`, decodes all 60,000
  JPEGs and writes the cache file;
* warm: the same call again in a new process, served from the cache.

Both time `cifar10_numpy("train")` + `cifar10_numpy("test")` after TensorFlow
is imported (its import time is reported apart). The warm process also times
the first batch and one full epoch of the augmented `cifar10("train")`
pipeline, to show the input pipeline is not what limits training speed.

Usage:

    python bench/data_load.py [--data-dir DIR] [--out bench/results/data_load.json]

(with `dais_keras` importable: `pip install -e .` or `PYTHONPATH=.`).
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dais_keras.utils.machine import machine_info
from dais_keras.utils.paths import repo_root

REPOSITORY = repo_root()


def _describe(x, y):
    counts = np.bincount(y, minlength=10)
    return {"shape": list(x.shape), "dtype": str(x.dtype), "per_class": counts.tolist()}


def _child(data_dir, cache_dir, epoch):
    start = time.perf_counter()
    import tensorflow as tf

    tf_import_s = time.perf_counter() - start
    from dais_keras import data

    kw = dict(data_dir=data_dir, cache_dir=cache_dir, variant="jpeg")
    source = data.cifar10_source(data_dir=data_dir, variant="jpeg", download=False)
    start = time.perf_counter()
    x_train, y_train = data.cifar10_numpy("train", **kw)
    x_test, y_test = data.cifar10_numpy("test", **kw)
    load_s = time.perf_counter() - start
    cache_files = sorted(Path(cache_dir).iterdir())
    result = {
        "load_s": round(load_s, 3),
        "tensorflow_import_s": round(tf_import_s, 3),
        "source": dataclasses.asdict(source),
        "train": _describe(x_train, y_train),
        "test": _describe(x_test, y_test),
        "cache_files": [p.name for p in cache_files],
        "cache_bytes": sum(p.stat().st_size for p in cache_files),
    }
    if epoch:
        start = time.perf_counter()
        ds = data.cifar10("train", batch_size=128, **kw)
        next(iter(ds))
        result["first_augmented_batch_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        n = sum(int(y.shape[0]) for _, y in ds)
        seconds = time.perf_counter() - start
        result["augmented_epoch"] = {
            "images": n,
            "seconds": round(seconds, 2),
            "images_per_s": round(n / seconds),
        }
    print(json.dumps(result))


def _run_child(data_dir, cache_dir, epoch):
    cmd = [sys.executable, __file__, "--child", "--cache-dir", str(cache_dir)]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    if epoch:
        cmd.append("--epoch")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPOSITORY))
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(wall, 2)
    return result


def _machine():
    import tensorflow as tf

    info = machine_info(runtime=True)  # its load_average is taken at the end
    info.update(tensorflow=tf.__version__, numpy=np.__version__)
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=None,
        help="default: the usual search ($DAIS_DATA_DIR, then ../shared/data)",
    )
    parser.add_argument(
        "--out", default=str(REPOSITORY / "bench" / "results" / "data_load.json")
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--epoch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.data_dir, args.cache_dir, args.epoch)
    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="dais-data-bench-") as cache_dir:
        cold = _run_child(args.data_dir, cache_dir, epoch=False)
        warm = _run_child(args.data_dir, cache_dir, epoch=True)
    result = {
        "benchmark": "cifar10 JPEG archive: full train+test load, "
        "cold (empty cache) and warm (cached)",
        "what_is_timed": "cifar10_numpy('train') + cifar10_numpy('test') "
        "in a fresh process, after importing TensorFlow",
        "cold_s": cold["load_s"],
        "warm_s": warm["load_s"],
        "cold": cold,
        "warm": warm,
        "machine": dict(_machine(), load_average_1_5_15_min_at_start=load_before),
        "note": "load averages above the CPU count mean other jobs shared "
        "the CPUs during the run; the times are then pessimistic",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("cold_s", "warm_s")}), "->", args.out)


if __name__ == "__main__":
    main()
