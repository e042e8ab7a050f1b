"""CIFAR-10 as it is stored: classes, image shape and the on-disk formats.

Three formats can hold the data set, each as a directory or a tar archive:

* `"python"`: the pickled batches of `cifar-10-python.tar.gz` (exact pixels),
* `"binary"`: the fixed-size records of `cifar-10-binary.tar.gz` (exact pixels),
* `"jpeg"`: `train|test/<class>/NNNN.jpg` in `cifar10-jpg.tar.gz` (lossy).

`LAYOUTS` says where each sits in a data directory, in order of preference.
"""

import re
from pathlib import Path

CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)
VARIANTS = ("original", "jpeg")

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
# Base names of the batch files of a format, training batches first.
FORMAT_FILES = {
    "python": TRAIN_BATCHES + (TEST_BATCH,),
    "binary": tuple(f"{n}.bin" for n in TRAIN_BATCHES + (TEST_BATCH,)),
}
# One binary record: 1 label byte, then 3072 pixel bytes (CHW).
RECORD_BYTES = 1 + 32 * 32 * 3
JPEG_MEMBER = re.compile(r"^(?:\./)?(train|test)/([^/]+)/(\d+)\.jpe?g$")

# The exact-pixel subset shipped in the shared data (with all original labels).
EXACT_TEST_FILE = Path("cifar10-exact-subset") / "test_first1017.npz"
EXACT_TRAIN_FILE = Path("cifar10-exact-subset") / "train_batch1_first1102.npz"

# (format, relative path, kind) in order of preference inside a data dir.
LAYOUTS = (
    ("python", "cifar-10-batches-py", "dir"),
    ("python", "cifar-10-python.tar.gz", "tar"),
    ("binary", "cifar-10-batches-bin", "dir"),
    ("binary", "cifar-10-binary.tar.gz", "tar"),
    ("jpeg", "cifar10-jpeg/cifar10-jpg.tar.gz", "tar"),
    ("jpeg", "cifar10-jpg.tar.gz", "tar"),
)

EXPECTED_LAYOUT = """\
  cifar-10-batches-py/   data_batch_1 .. data_batch_5, test_batch (python pickles)
  cifar-10-python.tar.gz (the same, as downloaded from
                          https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz)
  cifar-10-batches-bin/  data_batch_1.bin .. data_batch_5.bin, test_batch.bin
  cifar-10-binary.tar.gz (the same, as downloaded from
                          https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz)
  cifar10-jpeg/cifar10-jpg.tar.gz  (train|test/<class>/NNNN.jpg, lossy JPEG copy)"""


def variant_of(fmt):
    """`"jpeg"` for the lossy JPEG format, else `"original"`."""
    return "jpeg" if fmt == "jpeg" else "original"
