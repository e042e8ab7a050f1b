"""Exact ports of the pretrained CIFAR-10 ResNets of akamaster/pytorch_resnet_cifar10.

The weights are the checkpoints of Yerlan Idelbayev's
akamaster/pytorch_resnet_cifar10, released under the BSD-2-Clause licence
(Copyright (c) 2018, Yerlan Idelbayev; the licence text is the `LICENSE` file
beside the weights, e.g. `../shared/weights/resnet-cifar10/LICENSE`; keep it
with any copy). They are stored as `.npz` files of the PyTorch state dict
(`module.` prefix stripped; `conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`,
..., `linear.weight`), which this module maps onto the layer names of
`dais_keras.models.cifar_resnet`: OIHW kernels become HWIO, `(out, in)` linear
weights become `(in, out)`, BN `weight, bias, running_mean, running_var`
become `gamma, beta, moving_mean, moving_variance`.

The weight files are never part of the package. They are looked up, in order,
in the `weights_dir` argument, the `DAIS_WEIGHTS_DIR` environment variable and
`../shared/weights/resnet-cifar10` next to the repository.
"""

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from dais_keras.models.resnet import cifar_resnet
from dais_keras.utils.paths import repo_root

#: Environment variable naming a directory that holds `resnet{N}-*.npz`.
WEIGHTS_ENV = "DAIS_WEIGHTS_DIR"

#: Pretrained models: depth, SHA-256 of the `.npz`, and the top-1 accuracy of
#: the PyTorch original on the first 1,017 CIFAR-10 test images (exact pixels).
PRETRAINED = {
    "resnet20": {
        "depth": 20,
        "sha256": "ef390b25c0bd77a1d993ba3e82815a15587ea4ba6d00f99503aecbeccd137822",
        "reference_top1_exact_subset": 0.916,
    },
    "resnet32": {
        "depth": 32,
        "sha256": "ab114bd9e72206206abb4bb493a21d5c2c6560702ca250105ba9512961b5d433",
        "reference_top1_exact_subset": 0.928,
    },
    "resnet44": {
        "depth": 44,
        "sha256": "05a4b8603e4d84ef04e5da7cf49996bf55b29c21b7caf429be150b082b7210e3",
        "reference_top1_exact_subset": 0.934,
    },
    "resnet56": {
        "depth": 56,
        "sha256": "f222bdf1125caa30541208723397bf1b29cd1c875c2fb8e2afd36d6a2c2e0161",
        "reference_top1_exact_subset": 0.927,
    },
}

_KERAS_TO_TORCH = [
    (re.compile(r"^stem_conv$"), "conv1"),
    (re.compile(r"^stem_bn$"), "bn1"),
    (re.compile(r"^logits$"), "linear"),
    (re.compile(r"^stage(\d+)_block(\d+)_(conv|bn)(\d)$"), r"layer\1.\2.\3\4"),
    (re.compile(r"^stage(\d+)_block(\d+)_shortcut_conv$"), r"layer\1.\2.shortcut.0"),
    (re.compile(r"^stage(\d+)_block(\d+)_shortcut_bn$"), r"layer\1.\2.shortcut.1"),
]
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")
_IGNORED_SUFFIX = ".num_batches_tracked"


def available_pretrained():
    """Names accepted by `pretrained()`: `["resnet20", ..., "resnet56"]`."""
    return list(PRETRAINED)


def default_weights_dirs(weights_dir=None):
    """The directories searched for weight files, in order.

    Args:
        weights_dir: Optional directory given by the caller (searched first).

    Returns:
        A list of `pathlib.Path`: `weights_dir` (if given), `$DAIS_WEIGHTS_DIR`
        (if set), and `../shared/weights/resnet-cifar10` beside the
        repository that holds `dais_keras`.
    """
    dirs = []
    if weights_dir is not None:
        dirs.append(Path(weights_dir).expanduser())
    if os.environ.get(WEIGHTS_ENV):
        dirs.append(Path(os.environ[WEIGHTS_ENV]).expanduser())
    root = repo_root()
    if root is not None:
        dirs.append(root.parent / "shared" / "weights" / "resnet-cifar10")
    return dirs


def _check_name(name):
    if name not in PRETRAINED:
        raise ValueError(
            f"Unknown pretrained model {name!r}. Valid names: "
            f"{available_pretrained()}."
        )


def find_weights(name, weights_dir=None):
    """Path of the weight file of pretrained model `name`.

    Args:
        name: One of `available_pretrained()`.
        weights_dir: Optional directory searched before the defaults.

    Returns:
        The `pathlib.Path` of the first `"{name}-*.npz"` found.

    Raises:
        ValueError: if `name` is unknown, or one directory holds several
            matching files.
        FileNotFoundError: if no directory holds a matching file; the message
            lists the directories searched.
    """
    _check_name(name)
    pattern = f"{name}-*.npz"
    searched = default_weights_dirs(weights_dir)
    for directory in searched:
        matches = sorted(directory.glob(pattern)) if directory.is_dir() else []
        if len(matches) > 1:
            raise ValueError(
                f"Several weight files for {name!r} in {directory}: "
                f"{[m.name for m in matches]}. Keep exactly one file "
                f"matching {pattern!r} there."
            )
        if matches:
            return matches[0]
    where = "\n".join(f"  - {d}" for d in searched)
    raise FileNotFoundError(
        f"No weight file matching {pattern!r} for pretrained model {name!r}. "
        f"Searched, in order:\n{where}\nPass weights_dir=... or set the "
        f"environment variable {WEIGHTS_ENV} to a directory holding "
        f"{pattern!r} (the akamaster/pytorch_resnet_cifar10 state dict as "
        f".npz, see dais_keras.models.weights)."
    )


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _torch_prefix(layer_name):
    for pattern, replacement in _KERAS_TO_TORCH:
        if pattern.match(layer_name):
            return pattern.sub(replacement, layer_name)
    return None


def _expected_arrays(layer, prefix):
    """(state-dict key, transform) for each weight of `layer`, in order."""
    kind = type(layer).__name__
    if kind == "Conv2D":
        keys = [(prefix + ".weight", lambda w: np.transpose(w, (2, 3, 1, 0)))]
        if layer.use_bias:
            keys.append((prefix + ".bias", None))
        return keys
    if kind == "Dense":
        return [(prefix + ".weight", np.transpose), (prefix + ".bias", None)]
    if kind == "BatchNormalization":
        if not (layer.scale and layer.center):
            raise ValueError(
                f"Layer '{layer.name}': a PyTorch BatchNorm2d port needs "
                f"center=True and scale=True."
            )
        return [(f"{prefix}.{k}", None) for k in _BN_KEYS]
    raise ValueError(
        f"Layer '{layer.name}' ({kind}) has weights but no PyTorch "
        f"counterpart; expected only Conv2D, BatchNormalization and Dense."
    )


def load_pytorch_resnet_weights(model, state_dict):
    """Loads an akamaster-style PyTorch CIFAR ResNet state dict into `model`.

    Every weight of `model` is set and every entry of `state_dict` is used
    (except BN `num_batches_tracked`); shapes are checked tensor by tensor.
    Works for option-A and option-B (`shortcut.0`/`shortcut.1`) checkpoints
    and any depth or class count, as long as the model comes from
    `cifar_resnet` with matching arguments.

    Args:
        model: A model built by `dais_keras.models.cifar_resnet`.
        state_dict: A mapping of state-dict keys to arrays (e.g. the loaded
            `.npz`), or the path of an `.npz` file. A `module.` prefix
            (from `DataParallel`) is stripped.

    Returns:
        `model`, with its weights set (in place).

    Raises:
        ValueError: if a key is missing or unused, a shape does not match, or
            the model has layers with no PyTorch counterpart.
    """
    if isinstance(state_dict, (str, os.PathLike)):
        with np.load(state_dict) as data:
            state_dict = {k: data[k] for k in data.files}
    arrays = {}
    for key, value in state_dict.items():
        key = key[len("module.") :] if key.startswith("module.") else key
        if not key.endswith(_IGNORED_SUFFIX):
            arrays[key] = np.asarray(value)

    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = _torch_prefix(layer.name)
        if prefix is None:
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) of model "
                f"'{model.name}' has weights but no PyTorch counterpart. "
                f"load_pytorch_resnet_weights expects a model built by "
                f"dais_keras.models.cifar_resnet."
            )
        expected = _expected_arrays(layer, prefix)
        if len(expected) != len(layer.weights):
            raise ValueError(
                f"Layer '{layer.name}' has {len(layer.weights)} weights; "
                f"expected {len(expected)} ({[k for k, _ in expected]})."
            )
        values = []
        for (key, transform), variable in zip(expected, layer.weights):
            if key not in arrays:
                raise ValueError(
                    f"State dict has no {key!r}, needed for layer "
                    f"'{layer.name}' ({variable.path}). Is this checkpoint "
                    f"for a different depth or shortcut type?"
                )
            value = arrays[key]
            value = transform(value) if transform is not None else value
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"Shape mismatch for layer '{layer.name}' "
                    f"({variable.path}): the model expects "
                    f"{tuple(variable.shape)}, the state dict's {key!r} gives "
                    f"{tuple(arrays[key].shape)} (after conversion "
                    f"{tuple(value.shape)}). Check depth, shortcut type and "
                    f"num_classes."
                )
            values.append(value.astype(variable.dtype))
            used.add(key)
        layer.set_weights(values)
    unused = sorted(set(arrays) - used)
    if unused:
        raise ValueError(
            f"{len(unused)} state-dict entries were not used by model "
            f"'{model.name}': {unused[:8]}{' ...' if len(unused) > 8 else ''}. "
            f"The checkpoint does not match the architecture (depth or "
            f"shortcut type)."
        )
    return model


def pretrained(name, weights_dir=None, verify_checksum=True):
    """A CIFAR-10 ResNet with the pretrained weights of akamaster/pytorch_resnet_cifar10.

    Builds `cifar_resnet(depth, "A")` and loads the exact weights of the
    PyTorch original. Top-1 on the first 1,017 CIFAR-10 test images (exact
    pixels): the PyTorch originals score 91.6 / 92.8 / 93.4 / 92.7 %
    (ResNet-20/32/44/56); the ports reproduce their logits to float32
    round-off (see `bench/port_accuracy.py`).

    Licence: the weights are BSD-2-Clause, Copyright (c) 2018, Yerlan
    Idelbayev (akamaster/pytorch_resnet_cifar10); see the `LICENSE` file
    beside them (`../shared/weights/resnet-cifar10/LICENSE`). Keep it with any
    copy of the weights or of a model derived from them.

    The model takes raw RGB pixels in `[0, 255]` (uint8 or float) and
    returns logits for the 10 CIFAR-10 classes.

    Args:
        name: One of `"resnet20"`, `"resnet32"`, `"resnet44"`, `"resnet56"`.
        weights_dir: Optional directory holding `"{name}-*.npz"`, searched
            before `$DAIS_WEIGHTS_DIR` and `../shared/weights/resnet-cifar10`
            beside the repository.
        verify_checksum: Whether to check the file's SHA-256 against the
            known checkpoint (set `False` for your own conversion).

    Returns:
        A `keras.Model` named `name`, with its weights loaded.

    Raises:
        ValueError: if `name` is unknown (the message lists the valid names),
            the checksum or any tensor shape does not match.
        FileNotFoundError: if no weight file is found; the message lists the
            directories searched and the expected file pattern.

    Example:

    ```python
    model = dais_keras.models.pretrained("resnet20")
    logits = model.predict(x_uint8)   # x_uint8: (n, 32, 32, 3) RGB
    ```
    """
    _check_name(name)
    spec = PRETRAINED[name]
    path = find_weights(name, weights_dir)
    if verify_checksum:
        digest = _sha256(path)
        if digest != spec["sha256"]:
            raise ValueError(
                f"Weight file {path} has SHA-256 {digest}, but the "
                f"{name!r} checkpoint has {spec['sha256']}. The file is "
                f"corrupt or a different checkpoint; replace it, or pass "
                f"verify_checksum=False to load it anyway."
            )
    model = cifar_resnet(spec["depth"], shortcut="A", num_classes=10, name=name)
    return load_pytorch_resnet_weights(model, path)
