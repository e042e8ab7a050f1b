"""Run folders: where a config's run writes its results.

`make_run_dir` picks the folder (`output.dir/output.name`, or `run_name`,
never overwriting a run), `write` saves the resolved config as
`config.yaml` with the command that produced it.
"""

import datetime
import os
import pathlib

import yaml

from dais_keras.experiments.schema import budget_label
from dais_keras.utils.io import atomic_write

CONFIG_FILE = "config.yaml"

def run_name(config):
    """Default run-folder name: `<model>-<method>-<budget %>[-r<round_to>]`."""
    model = config["model"]
    if model["file"]:
        base = pathlib.Path(model["file"]).stem
    elif model["zoo"]:
        base = model["zoo"].replace("@", "_v")
    else:
        base = model["name"]
    name = f"{base}-{config['method']}-{budget_label(config['budget'])}"
    if config["round_to"]:
        name += f"-r{config['round_to']}"
    return name


def make_run_dir(config, out=None):
    """Creates the run folder and returns its path.

    Args:
        config: A resolved config.
        out: An explicit folder (created if needed; files in it are
            replaced). Default: `output.dir/output.name` (or `run_name`),
            with `-2`, `-3`, ... appended if that folder is not empty.

    Returns:
        A `pathlib.Path`.
    """
    if out is not None:
        path = pathlib.Path(out).expanduser()
    else:
        parent = pathlib.Path(config["output"]["dir"]).expanduser()
        name = config["output"]["name"] or run_name(config)
        path = parent / name
        k = 1
        while path.exists() and any(path.iterdir()):
            k += 1
            path = parent / f"{name}-{k}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def dump(config):
    """The config as YAML text (keys in schema order)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def write(config, run_dir, command=None, overrides=(), sources=()):
    """Writes the resolved config into `run_dir/config.yaml`.

    The header records the command, the source files and the overrides;
    `load(run_dir / "config.yaml")` gives `config` back.

    Args:
        config: A resolved config.
        run_dir: The run folder.
        command: The command line that produced it (a string).
        overrides: The overrides applied.
        sources: The config files read.

    Returns:
        The written file's path.
    """
    path = pathlib.Path(run_dir) / CONFIG_FILE
    header = [f"# Resolved dais-keras config, {datetime.datetime.now().isoformat(timespec='seconds')}"]
    if command:
        header.append(f"# command: {command}")
    for source in sources:
        header.append(f"# from: {os.fspath(source)}")
    for text in overrides:
        header.append(f"# override: {text}")
    atomic_write(path, "\n".join(header) + "\n" + dump(config))
    return path


