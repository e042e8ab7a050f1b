"""One worker of a multi-process DAIS search (run by test_multiworker.py).

    python multiworker_worker.py --rank R --world N --ports P0,P1 --out OUT.npz
        [--hosts H0,H1] [--epochs E]

The backend is `KERAS_BACKEND`:

* `tensorflow`: `tf.distribute.MultiWorkerMirroredStrategy`, the cluster in
  `TF_CONFIG` (worker `i` at `Hi:Pi`, hosts `localhost` by default; a
  `TF_CONFIG` already set is used as it is);
  the training and search data are sharded between the workers by
  `tf.data`'s auto-sharding (each worker reads every N-th batch);
* `jax`: `keras.distribution.initialize` (one JAX process per worker, the
  coordinator on port `P0`) and `keras.distribution.DataParallel` over every
  process's devices (the coordinator at `H0:P0`); each worker passes its own
  shard of every global batch.

With `--world 1` the same search runs in one process without a strategy:
the reference the workers are compared with. The worker writes its alphas,
temperature, step counter and the kept widths of the binarised search
(`alpha > 0` per group, after the repair) to `OUT.npz`.
"""

import argparse
import json
import os
import sys

import numpy as np

GLOBAL_BATCH = 32
SEARCH_BATCH = 32


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world", type=int, required=True)
    parser.add_argument("--ports", default="")
    parser.add_argument("--hosts", default="", help="worker hosts (default: localhost)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--images", type=int, default=256)
    args = parser.parse_args()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    ports = [int(p) for p in args.ports.split(",") if p]
    hosts = [h for h in args.hosts.split(",") if h] or ["localhost"] * len(ports)
    if backend == "tensorflow" and args.world > 1 and "TF_CONFIG" not in os.environ:
        os.environ["TF_CONFIG"] = json.dumps({
            "cluster": {"worker": [f"{h}:{p}" for h, p in zip(hosts, ports)]},
            "task": {"type": "worker", "index": args.rank},
        })
    import keras

    keras.config.disable_traceback_filtering()

    import dais_keras as dk
    from dais_keras.testing import toy_data
    from dais_keras.testing import toy_model

    x, y = toy_data(args.images, seed=0)
    xs, ys = toy_data(args.images // 2, seed=1)

    def build():
        search = dk.attach_indicators(toy_model(seed=3, batch_norm=False))
        search.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return search

    search_data, search_batch = _search_data(backend, args, xs, ys)
    callback = dk.DAISCallback(budget=0.5, search_data=search_data, batch_size=search_batch,
                               learning_rate=0.05, verbose=0, log_widths=False, shuffle=False)
    if backend == "tensorflow":
        import tensorflow as tf

        if args.world > 1:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            with strategy.scope():
                search = build()
        else:
            search = build()
        train = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
        search.fit(train, epochs=args.epochs, callbacks=[callback], verbose=0, shuffle=False)
    elif backend == "jax":
        if args.world > 1:
            keras.distribution.initialize(
                job_addresses=f"{hosts[0]}:{ports[0]}", num_processes=args.world,
                process_id=args.rank)
            # Each worker passes its own shard of every global batch.
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(auto_shard_dataset=False))
        search = build()
        local = _local_rows(len(x), GLOBAL_BATCH, args)
        search.fit(x[local], y[local], batch_size=GLOBAL_BATCH // args.world,
                   epochs=args.epochs, callbacks=[callback], verbose=0, shuffle=False)
    else:
        sys.exit(f"unsupported backend {backend}")
    widths = [int(np.sum(a > 0)) for a in search.alpha_values()]
    np.savez(
        args.out,
        alphas=np.concatenate(search.alpha_values()),
        widths=np.asarray(widths),
        temperature=float(np.asarray(search.read_variable(
            dk.indicator_layers(search)[0].temperature))),
        step=float(np.asarray(search.read_variable(search.search_variables["step"]))),
    )


def _local_rows(n, global_batch, args):
    """This worker's rows of every global batch: batch `b` of the global
    stream is rows `[b * G, (b + 1) * G)`; worker `r` of `N` passes the
    `r`-th `G / N` of each (what `DataParallel` assembles back)."""
    per = global_batch // args.world
    rows = np.arange(n).reshape(-1, global_batch)
    return rows[:, args.rank * per:(args.rank + 1) * per].reshape(-1)


def _search_data(backend, args, xs, ys):
    """`(search_data, batch_size)` of this worker: on TensorFlow the whole
    search set in global batches (the strategy shards them), on JAX this
    worker's share of every global batch."""
    if backend == "jax" and args.world > 1:
        local = _local_rows(len(xs), SEARCH_BATCH, args)
        return (xs[local], ys[local]), SEARCH_BATCH // args.world
    return (xs, ys), SEARCH_BATCH


if __name__ == "__main__":
    main()
