"""One ResNet-20 search with DAISCallback overrides, every alpha recorded.

The exploratory runs behind the band gate and the late polarisation
(bench/results/convergence/explore_variants/): the protocol of
`bench/search_convergence.py resnet20` (300 steps of batch 64 on the JPEG
CIFAR-10 weight/search split; accuracies on the 1,017 exact test images),
plus the alphas and the temperature after every step in an `.npz`, to see
which masks stay undecided and why. Prints the convergence figures (as
`PruneReport.convergence`) and the seconds.

Usage:
    python bench/convergence_variants.py 0.3 /tmp/r20_b03.npz '{"lambda_polar": 0}'
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dais_keras import data  # noqa: E402
from dais_keras import models  # noqa: E402
from dais_keras.api.pruners import DAISSearch  # noqa: E402
from dais_keras.indicators.state import indicator_layers  # noqa: E402

STEPS = 300
BATCH = 64


class AlphaRecorder(keras.callbacks.Callback):
    """Every alpha and the temperature after each training step."""

    def __init__(self):
        super().__init__()
        self.alphas, self.temperatures = [], []

    def on_train_batch_end(self, batch, logs=None):
        values = [np.asarray(v) for v in self.model.alpha_values()]
        self.alphas.append(np.concatenate(values).astype(np.float32))
        T = indicator_layers(self.model)[0].temperature
        self.temperatures.append(float(keras.ops.convert_to_numpy(T)))


def main(budget, out, overrides):
    keras.utils.set_random_seed(0)
    fmt = "tf" if keras.backend.backend() == "tensorflow" else "pydataset"
    train = data.cifar10("weight", batch_size=BATCH, seed=0, format=fmt)
    train = train.repeat() if fmt == "tf" else train
    search = data.cifar10("search", batch_size=BATCH, seed=0, format=fmt)
    xe, ye = data.cifar10_exact_subset()
    recorder = AlphaRecorder()
    t0 = time.perf_counter()
    pruner = DAISSearch(
        budget, train, search, epochs=10, batch_size=BATCH,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_epoch=STEPS // 10, verbose=0, eval_data=(xe.astype("float32"), ye),
        callbacks=[recorder], **overrides,
    )
    result = pruner(models.pretrained("resnet20"))
    print(json.dumps(result.convergence), time.perf_counter() - t0)
    np.savez(out, alphas=np.stack(recorder.alphas), T=np.array(recorder.temperatures))


if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})
