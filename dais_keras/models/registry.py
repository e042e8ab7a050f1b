"""Registry of the CIFAR model builders, by name.

`BUILDERS` maps a name to a callable returning a fresh, untrained
`keras.Model`; `get(name, **kwargs)` calls it. Names: `resnet20`, `resnet32`,
`resnet44`, `resnet56`, `resnet110`, `vgg16`, `mobilenet_v2`.
"""

import types

from dais_keras.models.mobilenet import cifar_mobilenet_v2
from dais_keras.models.resnet import STANDARD_DEPTHS
from dais_keras.models.resnet import cifar_resnet
from dais_keras.models.vgg import cifar_vgg16


def _resnet_builder(depth):
    def build(shortcut="A", num_classes=10, input_shape=(32, 32, 3), name=None):
        return cifar_resnet(
            depth,
            shortcut=shortcut,
            num_classes=num_classes,
            input_shape=input_shape,
            name=name,
        )

    build.__name__ = f"resnet{depth}"
    build.__qualname__ = build.__name__
    build.__doc__ = (
        f"`cifar_resnet({depth}, shortcut, num_classes, input_shape, name)`: "
        f"the CIFAR ResNet-{depth}."
    )
    return build


_builders = {f"resnet{d}": _resnet_builder(d) for d in STANDARD_DEPTHS}
_builders["vgg16"] = cifar_vgg16
_builders["mobilenet_v2"] = cifar_mobilenet_v2

#: Read-only mapping of builder names to callables returning a `keras.Model`.
BUILDERS = types.MappingProxyType(_builders)


def available():
    """Names of the registered CIFAR model builders.

    Returns:
        A list of names, e.g. `["resnet20", ..., "vgg16", "mobilenet_v2"]`.
    """
    return list(BUILDERS)


def get(name, **kwargs):
    """Builds the CIFAR model registered under `name` (untrained).

    Args:
        name: One of `available()`.
        **kwargs: Passed to the builder (e.g. `num_classes`, `shortcut` for
            the ResNets, `alpha` for MobileNetV2).

    Returns:
        A fresh `keras.Model`.

    Raises:
        ValueError: if `name` is not registered; the message lists the valid
            names.

    Example:

    ```python
    model = dais_keras.models.get("resnet56", num_classes=100)
    ```
    """
    if name not in BUILDERS:
        raise ValueError(
            f"Unknown model {name!r}. Valid names: {available()}. For "
            f"pretrained weights use dais_keras.models.pretrained()."
        )
    return BUILDERS[name](**kwargs)
