"""The optional packages of the runtimes (onnx, tf2onnx, onnxruntime,
ai-edge-litert): importing them with an error that says what to install."""

import importlib
from importlib import metadata


def require(modules, extra, purpose, install=None):
    """Imports `modules`, or raises an `ImportError` naming what to install.

    Args:
        modules: Module names, e.g. `["tf2onnx", "onnx"]`.
        extra: The dais-keras extra that installs them, e.g. `"onnx"`.
        purpose: What needs them, for the message, e.g. `"ONNX export"`.
        install: The install command to suggest, when not the extra.

    Returns:
        The imported modules, in order.

    Raises:
        ImportError: If one of them cannot be imported.
    """
    imported, missing = [], []
    for name in modules:
        try:
            imported.append(importlib.import_module(name))
        except ImportError:
            missing.append(name)
    if missing:
        default = f'pip install "dais-keras[{extra}]"'
        raise ImportError(
            f"{purpose} needs the optional package(s) {', '.join(modules)}, "
            f"but {', '.join(missing)} could not be imported. Install them "
            f"with: {install or default}"
        )
    return imported


def version(module, dist):
    """The installed version of distribution `dist` (else `module.__version__`)."""
    try:
        return metadata.version(dist)
    except Exception:
        return getattr(importlib.import_module(module), "__version__", "?")
