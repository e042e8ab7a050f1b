"""What a config names, built: the model, the teacher, CIFAR-10 splits and
the evaluation sets."""

import pathlib


def load_model_file(path, key):
    """Loads a `.keras` file in safe mode (no code from the file runs, whatever
    `keras.config.enable_unsafe_deserialization()` said); `key` names the
    config key in errors."""
    from dais_keras.utils.saving import load_model_safely

    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{key}: no such model file '{path}'.")
    return load_model_safely(path)


def build_model(config):
    """The model a config names: a file, a zoo entry, ported weights or a builder."""
    from dais_keras import models
    from dais_keras.deploy import zoo

    spec = config["model"]
    if spec["file"]:
        return load_model_file(spec["file"], "model.file")
    if spec["zoo"]:
        return zoo.load(spec["zoo"])
    if spec["pretrained"]:
        if spec["kwargs"]:
            raise ValueError(
                f"model.kwargs {spec['kwargs']} cannot be used with model.pretrained=true: the "
                "ported weights fix the architecture. Set model.pretrained=false to build "
                "a fresh model with these arguments."
            )
        if spec["name"] not in models.available_pretrained():
            raise ValueError(
                f"model.pretrained=true: no pretrained weights for '{spec['name']}'; "
                f"available: {models.available_pretrained()}. Set model.pretrained=false "
                "or point model.file at a trained .keras model."
            )
        return models.pretrained(spec["name"])
    return models.get(spec["name"], **spec["kwargs"])


def describe_model(config):
    spec = config["model"]
    return spec["file"] or spec["zoo"] or (
        f"{spec['name']}" + (" (pretrained)" if spec["pretrained"] else " (untrained)")
    )


def load_teacher(config):
    """The model `finetune.teacher` names (a .keras file or zoo key), or None."""
    from dais_keras.deploy import zoo

    spec = config["finetune"]["teacher"]
    if not spec:
        return None
    path = pathlib.Path(spec).expanduser()
    if path.suffix == ".keras" or path.is_file():
        return load_model_file(path, "finetune.teacher")
    return zoo.load(spec)


def data_format(requested="auto"):
    """The `format` of `dais_keras.data.cifar10` for `requested`: `"auto"`
    (or `None`) is `"tf"` on the TensorFlow backend and `"pydataset"` on the
    others (which then run without TensorFlow); `"tf"` and `"pydataset"`
    are kept."""
    import keras

    if requested in (None, "auto"):
        return "tf" if keras.backend.backend() == "tensorflow" else "pydataset"
    return requested


def cifar(config, split, augment=None):
    """Batches of a CIFAR-10 split, per the config: a `tf.data.Dataset` or a
    `keras.utils.PyDataset` (`data.format`, default `"auto"`: see
    `data_format`)."""
    from dais_keras import data

    d = config["data"]
    limit = d["limit"]
    fraction = d["search_fraction"]
    if split == "search" and limit:
        limit = max(1, round(limit * fraction / (1 - fraction)))
    return data.cifar10(
        split, batch_size=d["batch_size"],
        augment=d["augment"] if augment is None else augment,
        format=data_format(d.get("format")),
        search_fraction=fraction if split in ("weight", "search") else None,
        seed=config["seed"], limit=limit, data_dir=d["data_dir"], variant=d["variant"],
    )


def eval_sets(config):
    """`{name: (x, y)}` of the evaluation sets the config asks for (float32
    pixels)."""
    from dais_keras import data

    d = config["data"]
    sets = {}
    if config["eval"]["exact_subset"]:
        x, y = data.cifar10_exact_subset(d["data_dir"])
        sets[f"cifar10-exact-subset-{len(y)}"] = (x.astype("float32"), y)
    if config["eval"]["test"]:
        source = data.cifar10_source(d["data_dir"], d["variant"])
        x, y = data.cifar10_numpy("test", limit=d["test_limit"], data_dir=d["data_dir"],
                                  variant=d["variant"])
        sets[f"{source.name}-test-{len(y)}"] = (x.astype("float32"), y)
    return sets
