"""Loading `.keras` files that may come from someone else, without running
their code.

`keras.saving.load_model(..., safe_mode=True)` alone is not enough: once
`keras.config.enable_unsafe_deserialization()` has been called anywhere in
the process, Keras' global flag overrides the argument and a `Lambda` layer's
byte code runs during the load. Every load of a file the library did not
write in the same call (zoo entries, export inputs, the reload check of
`zoo.publish`) goes through `load_model_safely`, which pins safe mode for the
duration of the load.
"""

import keras
from keras.src.saving import serialization_lib


def load_model_safely(path, custom_objects=None, compile=False):
    """Loads a `.keras` file with safe mode pinned on.

    Args:
        path: The `.keras` file.
        custom_objects: Passed to `keras.saving.load_model` (registered
            library classes, not code from the file).
        compile: Whether to compile the loaded model.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: If the file needs code to load (a `Lambda` layer),
            whatever `keras.config.enable_unsafe_deserialization()` said.

    Example:

    ```python
    model = load_model_safely("downloaded.keras")
    ```
    """
    with serialization_lib.SafeModeScope(True):
        return keras.saving.load_model(
            path, custom_objects=custom_objects, compile=compile, safe_mode=True
        )
