"""Config files: resolution order, scale presets, overrides, validation, the
shipped configs and the round trip through a run folder."""

import pathlib

import pytest
import yaml

from dais_keras.select import baselines
from dais_keras.experiments import config as C
CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
EXPERIMENTS = sorted((CONFIGS / "cifar10").glob("*/*-*.yaml"))


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


# ----------------------------------------------------------- shipped files


def test_every_model_method_and_budget_has_a_config():
    names = {(p.parent.name, p.stem) for p in EXPERIMENTS}
    for method in C.methods():
        for model, budgets in (("resnet20", (30, 50, 70)), ("resnet56", (30, 50, 70)),
                               ("vgg16", (50,)), ("mobilenet_v2", (50,))):
            for b in budgets:
                assert (model, f"{method}-{b}") in names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_config_resolves(path):
    cfg = C.load(path)
    method, _, pct = path.stem.rpartition("-")
    assert cfg["method"] == method
    assert cfg["budget"] == int(pct) / 100
    assert cfg["model"]["name"] == path.parent.name
    assert cfg["scale"] == "cpu" and set(cfg["scales"]) == {"cpu", "full"}
    full = C.load(path, ["scale=full"])
    assert full["finetune"]["epochs"] >= 100 and full["search"]["epochs"] >= 50
    assert full["data"]["limit"] is None
    assert cfg["finetune"]["epochs"] <= 2 and cfg["data"]["limit"] <= 2048


def test_resnet56_cpu_preset_overrides_the_shared_one():
    assert C.load(CONFIGS / "cifar10/resnet56/uniform-50.yaml")["data"]["limit"] == 1024
    assert C.load(CONFIGS / "cifar10/resnet20/uniform-50.yaml")["data"]["limit"] == 2048


def test_methods_cover_every_baseline():
    assert C.methods() == ["dais"] + baselines.available()


# ------------------------------------------------------------- resolution


def test_defaults_resolve_and_are_complete():
    cfg = C.load()
    assert cfg == C.validate(cfg)
    assert cfg["method"] == "dais" and cfg["budget"] == 0.5
    assert cfg["scale"] is None and cfg["scales"] == {}


def test_base_chain_presets_and_overrides_order(tmp_path):
    _write(tmp_path / "scales.yaml", {"scales": {"s": {"finetune": {"epochs": 7, "lr": 0.5}}}})
    _write(tmp_path / "m" / "base.yaml", {"base": "../scales.yaml", "scale": "s",
                                          "model": {"name": "vgg16"}, "finetune": {"lr": 0.2}})
    exp = _write(tmp_path / "m" / "exp.yaml", {"base": ["base.yaml"], "method": "random",
                                               "budget": 0.3})
    cfg = C.load(exp)
    assert cfg["model"]["name"] == "vgg16"
    assert cfg["finetune"]["epochs"] == 7  # from the preset
    assert cfg["finetune"]["lr"] == 0.2  # explicit file value beats the preset
    assert cfg["finetune"]["momentum"] == 0.9  # default
    cfg = C.load(exp, ["finetune.epochs=3", "budget=0.7", "model.kwargs.num_classes=100"])
    assert cfg["finetune"]["epochs"] == 3 and cfg["budget"] == 0.7
    assert cfg["model"]["kwargs"] == {"num_classes": 100}
    # Choosing another preset from the command line.
    cfg = C.load(exp, ["scales.t.finetune.epochs=11", "scale=t"])
    assert cfg["finetune"]["epochs"] == 11


def test_override_values_are_yaml():
    cfg = C.resolve({}, ["round_to=8", "data.limit=null", "search.single_level=true",
                         "finetune.schedule=step", "min_width=0.25", "data.variant=jpeg"])
    assert cfg["round_to"] == 8 and cfg["data"]["limit"] is None
    assert cfg["search"]["single_level"] is True
    assert cfg["finetune"]["schedule"] == "step" and cfg["min_width"] == 0.25


def test_written_config_round_trips(tmp_path):
    cfg = C.load(CONFIGS / "cifar10/resnet20/l1-global-50.yaml", ["seed=3", "round_to=8"])
    run = C.make_run_dir(cfg, out=tmp_path / "run")
    path = C.write(cfg, run, command="dais prune ...", overrides=["seed=3"],
                   sources=[CONFIGS / "cifar10/resnet20/l1-global-50.yaml"])
    text = path.read_text()
    assert text.startswith("# Resolved dais-keras config") and "# override: seed=3" in text
    assert C.load(path) == cfg


def test_run_dirs_do_not_clobber(tmp_path):
    cfg = C.resolve({"method": "uniform", "budget": 0.3, "round_to": 8,
                     "output": {"dir": str(tmp_path)}})
    first = C.make_run_dir(cfg)
    assert first.name == "resnet20-uniform-30-r8"
    (first / "x").write_text("")
    second = C.make_run_dir(cfg)
    assert second.name == "resnet20-uniform-30-r8-2"
    named = C.resolve({"output": {"dir": str(tmp_path), "name": "mine"}})
    assert C.make_run_dir(named) == tmp_path / "mine"
    zoo = C.resolve({"model": {"zoo": "resnet20-cifar10-dais50@1"}})
    assert C.run_name(zoo) == "resnet20-cifar10-dais50_v1-dais-50"


# ------------------------------------------------------------- validation


def test_latency_budgets_resolve_and_name_runs(tmp_path):
    cfg = C.resolve({"output": {"dir": str(tmp_path)}},
                    ["budget={latency: 0.5}", "search.runtime=onnxruntime"])
    assert cfg["budget"] == {"latency": 0.5}
    assert C.run_name(cfg) == "resnet20-dais-lat50"
    assert C.run_name(C.resolve({}, ["budget={latency_ms: 0.6}"])) == "resnet20-dais-lat0.6ms"
    assert C.budget_text({"latency": 0.5}) == "50.0% of the latency"
    assert C.resolve({}, ["budget={macs: 0.3}", "method=uniform"])["budget"] == {"macs": 0.3}


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["budget=1.5"], "Config key 'budget' must be a number in \\(0, 1\\); got 1.5"),
        (["budget=half"], "Config key 'budget' must be a number in \\(0, 1\\)"),
        (["method=l3"], "Config key 'method' must be one of \\['dais', 'uniform'"),
        (["finetune.lrr=0.1"], "Unknown config key 'finetune.lrr'.*Valid keys under 'finetune': "
                               "distill, distill_temperature, distill_weight, epochs, lr"),
        (["budgett=0.1"], "Unknown config key 'budgett'.*Valid keys at the top level: band, budget"),
        (["round_to=0"], "Config key 'round_to' must be an integer >= 1; got 0"),
        (["min_width=0"], "Config key 'min_width' must be an integer >= 1"),
        (["seed=-1"], "Config key 'seed' must be an integer >= 0"),
        (["data.batch_size=1.5"], "Config key 'data.batch_size' must be an integer >= 1"),
        (["data.variant=png"], "Config key 'data.variant' must be one of \\[None, 'original', 'jpeg'\\]"),
        (["finetune.schedule=linear"], "'finetune.schedule' must be one of \\['cosine', 'step', 'constant'\\]"),
        (["finetune.momentum=1"], "'finetune.momentum' must be a number in \\[0, 1\\)"),
        (["finetune.distill_weight=1.5"], "'finetune.distill_weight' must be a number in \\[0, 1\\]"),
        (["finetune.distill_temperature=0"], "'finetune.distill_temperature' must be a number > 0"),
        (["eval.test=yes please"], "Config key 'eval.test' must be true or false"),
        (["search.T_min=0"], "Config section 'search' \\(DAISCallback arguments\\): `T_min`"),
        (["search.foo=1"], "Unknown config key 'search.foo'.*lambda_budget"),
        (["scale=huge"], "Config key 'scale' is 'huge', which is not one of the presets"),
        (["model.file=a.keras", "model.zoo=x@1"], "'model.file' and 'model.zoo' are exclusive"),
        (["budget"], "Override 'budget' must look like KEY=VALUE"),
        (["=3"], "has an empty key"),
        (["data..limit=3"], "has an empty key"),
        (["scales.cpu.finetune.foo=1"], "Unknown config key 'finetune.foo' \\(in config: scales.cpu\\)"),
        (["budget={latency: 1.5}"], "Config key 'budget' must be a number in \\(0, 1\\) \\(MACs\\) or a "
                                    "mapping \\{latency: fraction\\}"),
        (["budget={speed: 0.5}"], "Config key 'budget' must be a number in \\(0, 1\\) \\(MACs\\) or a"),
        (["method=uniform", "budget={latency: 0.5}", "search.lambda_budget=2"],
         "Config section 'search' has lambda_budget, which method 'uniform' does not use"),
        (["method=halp", "budget={latency: 0.5}", "search.runtime=tvm"], "`runtime` must be one of"),
        (["budget={latency: 0.5}", "search.runtime=tvm"], "`runtime` must be one of"),
    ],
)
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        C.resolve({}, overrides)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such config file"):
        C.load(tmp_path / "missing.yaml")
    bad = _write(tmp_path / "bad.yaml", "method: [unclosed\n")
    with pytest.raises(ValueError, match="is not valid YAML"):
        C.load(bad)
    listing = _write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        C.load(listing)
    unknown = _write(tmp_path / "unknown.yaml", {"fine_tune": {"epochs": 1}})
    with pytest.raises(ValueError, match=f"'fine_tune' \\(in {unknown}\\)"):
        C.load(unknown)
    a = _write(tmp_path / "a.yaml", {"base": "b.yaml"})
    _write(tmp_path / "b.yaml", {"base": "a.yaml"})
    with pytest.raises(ValueError, match="cycle"):
        C.load(a)
    nobase = _write(tmp_path / "nobase.yaml", {"base": "nothere.yaml"})
    with pytest.raises(FileNotFoundError, match="nothere.yaml"):
        C.load(nobase)
    empty = _write(tmp_path / "empty.yaml", "")
    assert C.load(empty) == C.load()


def test_describe_lists_every_key():
    text = C.describe()
    for key in ("model.name", "data.limit", "finetune.schedule", "search.epochs", "round_to", "T_min"):
        assert key in text
