"""The fastest correct dtype policy for training on this machine, and a
float32 copy of a model trained under another policy.

Measured on a 2-core AMD EPYC with avx512_bf16 (bench/results/
backends_tf_variants.json and bench/results/demo_runs.json):
on TensorFlow, `mixed_bfloat16` (bfloat16 compute, float32 variables) runs
the ResNet plain step 1.16-1.21x and the DAIS step 1.17x faster than
float32, and the whole demo 1.26x faster at the same accuracy. Without a
bfloat16 instruction set the CPU emulates bfloat16 and is slower. On JAX and
torch (bench/results/backends_bf16_jax_torch.json) the ResNet-20 DAIS step
was not faster (0.99x, 1.02x) and their bfloat16 search was not checked for
accuracy, so everywhere but TensorFlow the default stays float32.
"""

import contextlib

from dais_keras.utils.machine import cpu_flags

POLICIES = ("float32", "mixed_bfloat16")
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def fastest_policy(backend=None, flags=None):
    """`"mixed_bfloat16"` for TensorFlow on a CPU with bfloat16 instructions
    (`avx512_bf16` or `amx_bf16`), `"float32"` otherwise.

    Args:
        backend: A Keras backend name (default: the current one).
        flags: CPU flags (default: `cpu_flags()`).
    """
    import keras

    backend = backend or keras.backend.backend()
    flags = cpu_flags() if flags is None else set(flags)
    if backend == "tensorflow" and flags & set(_BF16_FLAGS):
        return "mixed_bfloat16"
    return "float32"


@contextlib.contextmanager
def dtype_policy(name):
    """Keras' global dtype policy set to `name` inside the block, and put
    back afterwards (layers read it when they are built).

    Example:

    ```python
    with dtype_policy(fastest_policy()):
        model = build_model()
    ```
    """
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _float32_config(config):
    """`config` with every dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {key: _float32_config(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_config(value) for value in config]
    return config


def as_float32(model):
    """A float32 copy of a functional or sequential `model` trained under
    another dtype policy (its variables are float32 already; only the
    compute dtype changes), so that the saved model and its exports compute
    in float32 wherever they are loaded.

    Returns `model` itself when every layer already computes in float32.
    """
    layers = model._flatten_layers(include_self=True, recursive=True)
    if all(getattr(layer, "compute_dtype", "float32") == "float32" for layer in layers):
        return model
    config = _float32_config(model.get_config())
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy
