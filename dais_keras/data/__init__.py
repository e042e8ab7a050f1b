"""Datasets: CIFAR-10 from local archives, the shared data or tfds.

See `dais_keras.data.cifar` for where the data comes from, its order and cache.
"""

from dais_keras.data.cifar import CLASS_NAMES
from dais_keras.data.cifar import CACHE_DIR_ENV
from dais_keras.data.cifar import DATA_DIR_ENV
from dais_keras.data.cifar import DEFAULT_SEARCH_FRACTION
from dais_keras.data.cifar import IMAGE_SHAPE
from dais_keras.data.cifar import NUM_CLASSES
from dais_keras.data.cifar import SPLITS
from dais_keras.data.cifar import VARIANTS
from dais_keras.data.cifar import CifarSource
from dais_keras.data.cifar import CorruptDataError
from dais_keras.data.cifar import DataNotFoundError
from dais_keras.data.cifar import cache_path
from dais_keras.data.cifar import cifar10
from dais_keras.data.cifar import cifar10_augmentation
from dais_keras.data.cifar import cifar10_exact_subset
from dais_keras.data.cifar import cifar10_numpy
from dais_keras.data.cifar import cifar10_original_labels
from dais_keras.data.cifar import cifar10_source
from dais_keras.data.cifar import split_indices
