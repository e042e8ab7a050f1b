"""Publishes the unpruned reference entries of the zoo.

The exact Keras ports of the pretrained CIFAR-10 ResNets (BSD-2-Clause weights
of akamaster/pytorch_resnet_cifar10), evaluated on the full JPEG CIFAR-10 test
set and on the 1,017 exact-pixel test images.

Usage: python scripts/publish_references.py [resnet20 resnet56 ...]
"""

import sys

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

from dais_keras import data  # noqa: E402
from dais_keras import models  # noqa: E402
from dais_keras.deploy import zoo  # noqa: E402
from dais_keras.finetune.accuracy import evaluate  # noqa: E402


def main(names):
    x_jpeg, y_jpeg = data.cifar10_numpy("test", variant="jpeg")
    x_exact, y_exact = data.cifar10_exact_subset()
    for name in names or ["resnet20", "resnet56"]:
        model = models.pretrained(name)
        metrics = evaluate(model, {
            "cifar10-jpeg-test-10000": (x_jpeg, y_jpeg),
            "cifar10-exact-subset-1017": (x_exact, y_exact),
        }, batch_size=250)
        entry = zoo.publish(
            model,
            f"{name}-cifar10",
            metrics=metrics,
            budget=1.0,
            base=name,
            dataset="cifar10",
            dataset_variant="cifar10-original",
            licence="BSD-2-Clause",
            command="python scripts/publish_references.py " + name,
            description=(
                f"Unpruned reference: exact Keras port of the pretrained CIFAR-10 "
                f"{name} of akamaster/pytorch_resnet_cifar10 (BSD-2-Clause; trained "
                "on the original CIFAR-10 pixels). Takes raw 0-255 RGB pixels. "
                "Accuracy on the JPEG re-encoded test set is about 10 points lower "
                "than on the original pixels because of the lossy re-encoding."
            ),
        )
        print(entry.key, metrics)


if __name__ == "__main__":
    main(sys.argv[1:])
