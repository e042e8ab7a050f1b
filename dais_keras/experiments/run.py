"""One run of a config-driven `dais` command and its folder.

A `Run` resolves the config (file, flags, `--set` overrides), creates the
run folder (`dais_keras.experiments.run_folder`) and writes into it, each
file atomically: `config.yaml`, `log.txt`, `metrics.json`, the models and
per-epoch CSV histories.
"""

import json
import os
import pathlib
import sys

from dais_keras.experiments import config as config_lib
from dais_keras.utils.io import atomic_path
from dais_keras.utils.io import atomic_write


def json_default(value):
    """`json.dumps(default=...)` for numpy values and paths."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pathlib.Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_model(model, path):
    """`model.save(path)` (a `.keras` file), atomically."""
    with atomic_path(path) as tmp:
        staged = f"{tmp}.keras"  # Keras picks the format from the suffix
        try:
            model.save(staged)
            os.replace(staged, tmp)
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
    return pathlib.Path(path)


class Run:
    """One run: its resolved config, log, metrics and folder.

    Args:
        args: The parsed command line (`config`, `quiet`, `out`).
        command: The command's name (e.g. `"prune"`).
        overrides: `"key=value"` strings applied to the config.
        folder: Create the run folder (`False`: print only).
    """

    def __init__(self, args, command, overrides, folder=True):
        self.overrides = overrides
        self.config = config_lib.load(args.config, overrides)
        self.verbose = 0 if args.quiet else 1
        self.command = command
        self.dir = None
        self.metrics = {"command": command, "config": str(args.config) if args.config else None}
        if folder:
            self.dir = config_lib.make_run_dir(self.config, args.out)
            config_lib.write(
                self.config, self.dir,
                command=" ".join(["dais"] + sys.argv[1:]) if sys.argv else command,
                overrides=overrides, sources=[args.config] if args.config else [],
            )
            self.log(f"dais {command}: run folder {self.dir}")

    def log(self, text, echo=True):
        """Prints `text` (with `echo`) and appends it to `log.txt`."""
        if echo:
            print(text)
        if self.dir is not None:
            with open(self.dir / "log.txt", "a", encoding="utf-8") as f:
                f.write(str(text) + "\n")

    def path(self, name):
        return self.dir / name

    def callbacks(self, name):
        """`fit` callbacks writing `<name>_history.csv` (none without a folder)."""
        import keras

        return [keras.callbacks.CSVLogger(str(self.path(f"{name}_history.csv")))] if self.dir else []

    def save_model(self, model, name):
        path = save_model(model, self.path(name))
        self.metrics.setdefault("files", {})[name.split(".")[0]] = str(path)
        self.log(f"saved {path}")
        return path

    def write_metrics(self):
        path = self.path("metrics.json")
        atomic_write(path, json.dumps(self.metrics, indent=2, default=json_default) + "\n")
        self.log(f"metrics: {path}")
        return path
