"""Tests of dais_keras.models: CIFAR builders, the option-A layer, the registry
and the exact ports of the pretrained akamaster CIFAR-10 ResNets."""

import functools
import os
from pathlib import Path

import numpy as np
import pytest

import keras

import dais_keras
from dais_keras import models
from dais_keras.models import ZeroPadShortcut
from dais_keras.models import weights as weights_module

SHARED = Path(dais_keras.__file__).resolve().parents[1].parent / "shared"

#: Required top-1 of the ports on the 1,017 exact-pixel test images (the
#: PyTorch originals score 91.6 / 92.8 / 93.4 / 92.7 %).
PORT_TARGETS = {"resnet20": 0.915, "resnet32": 0.925, "resnet44": 0.930, "resnet56": 0.925}

#: Trainable parameters with 10 classes, option A. Per basic block of width w
#: (same in/out): 2 * 9 * w * w + 4 * w; stem 432 + 32; logits 650; the
#: first blocks of stages 2 and 3 have 16 * 32 * 9 and 32 * 64 * 9 in conv1.
RESNET_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962}


def _weights_available():
    try:
        for name in models.available_pretrained():
            models.find_weights(name)
    except FileNotFoundError:
        return False
    return True


def _require_weights():
    assert _weights_available(), (
        "pretrained CIFAR ResNet weights not found: put them in ../shared/weights/"
        f"resnet-cifar10 or set {models.WEIGHTS_ENV}"
    )


# The weights ship with every checkout's ../shared: their absence is a failure.
needs_weights = pytest.mark.usefixtures("_weights_present")


@pytest.fixture
def _weights_present():
    _require_weights()


@pytest.fixture(scope="module")
def exact_subset():
    """(x uint8 NHWC, y) of the 1,017 exact-pixel CIFAR-10 test images."""
    # The exact subset ships with every checkout's ../shared: absence fails.
    from dais_keras import data

    x, y = data.cifar10_exact_subset()
    return np.asarray(x), np.asarray(y)


def _random_images(n, shape=(32, 32, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n,) + shape).astype("float32")


def _randomise_bn(model, seed=0):
    """Non-trivial BN statistics, so that saving/loading them is tested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, c),
                    rng.normal(0, 0.1, c),
                    rng.normal(0, 0.1, c),
                    rng.uniform(0.5, 1.5, c),
                ]
            )
    return model


def _trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# --------------------------------------------------------------------------
# Pretrained ports


@needs_weights
@pytest.mark.parametrize("name", sorted(PORT_TARGETS))
def test_port_accuracy_on_exact_subset(name, exact_subset):
    x, y = exact_subset
    model = models.pretrained(name)
    assert model.name == name
    logits = model.predict(x, batch_size=1024, verbose=0)
    assert logits.shape == (len(x), 10)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y))
    assert accuracy >= PORT_TARGETS[name], (name, accuracy)


def _numpy_conv(x, w, stride):
    """PyTorch Conv2d(padding=k//2, bias=False): x NHWC, w OIHW."""
    k = w.shape[2]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h_out = (x.shape[1] + 2 * p - k) // stride + 1
    w_out = (x.shape[2] + 2 * p - k) // stride + 1
    out = np.zeros((x.shape[0], h_out, w_out, w.shape[0]))
    for i in range(k):
        for j in range(k):
            patch = xp[:, i : i + stride * h_out : stride, j : j + stride * w_out : stride]
            out += patch @ w[:, :, i, j].T
    return out


def _numpy_resnet(sd, x, n):
    """Independent float64 reference of akamaster's option-A ResNet."""

    def bn(t, key):
        return (t - sd[key + ".running_mean"]) / np.sqrt(
            sd[key + ".running_var"] + 1e-5
        ) * sd[key + ".weight"] + sd[key + ".bias"]

    relu = lambda t: np.maximum(t, 0)
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    t = (x / 255.0 - mean) / std
    t = relu(bn(_numpy_conv(t, sd["conv1.weight"], 1), "bn1"))
    for stage, planes in enumerate((16, 32, 64), start=1):
        for b in range(n):
            stride = 2 if stage > 1 and b == 0 else 1
            key = f"layer{stage}.{b}"
            out = relu(bn(_numpy_conv(t, sd[key + ".conv1.weight"], stride), key + ".bn1"))
            out = bn(_numpy_conv(out, sd[key + ".conv2.weight"], 1), key + ".bn2")
            if stride != 1 or t.shape[-1] != planes:
                q = planes // 4
                t = np.pad(t[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (q, q)))
            t = relu(out + t)
    t = t.mean(axis=(1, 2))
    return t @ sd["linear.weight"].T + sd["linear.bias"]


@needs_weights
def test_port_matches_independent_numpy_reference(exact_subset):
    x = exact_subset[0][:8].astype("float64")
    with np.load(models.find_weights("resnet20")) as d:
        sd = {k: d[k].astype("float64") for k in d.files}
    expected = _numpy_resnet(sd, x, n=3)
    got = models.pretrained("resnet20")(x.astype("float32"), training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected, rtol=1e-4, atol=1e-4)


@needs_weights
def test_port_loads_every_tensor_and_checks_shapes():
    path = models.find_weights("resnet20")
    with np.load(path) as d:
        sd = {k: d[k] for k in d.files}
    model = models.cifar_resnet(20)
    before = [w.copy() for w in model.get_weights()]
    models.load_pytorch_resnet_weights(model, dict(sd, **{"bn1.num_batches_tracked": np.array(5)}))
    after = model.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(before, after) if a.size > 1)
    np.testing.assert_array_equal(
        model.get_layer("stage2_block0_conv1").kernel.numpy(),
        sd["layer2.0.conv1.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        model.get_layer("logits").kernel.numpy(), sd["linear.weight"].T
    )
    np.testing.assert_array_equal(
        model.get_layer("stem_bn").moving_variance.numpy(), sd["bn1.running_var"]
    )
    # "module." prefixes (DataParallel) are accepted.
    models.load_pytorch_resnet_weights(
        models.cifar_resnet(20), {"module." + k: v for k, v in sd.items()}
    )
    with pytest.raises(ValueError, match=r"Shape mismatch.*logits"):
        models.load_pytorch_resnet_weights(models.cifar_resnet(20, num_classes=100), sd)
    with pytest.raises(ValueError, match=r"no 'layer1\.3\.conv1\.weight'"):
        models.load_pytorch_resnet_weights(models.cifar_resnet(32), sd)
    with pytest.raises(ValueError, match=r"no 'layer2\.0\.shortcut\.0\.weight'"):
        models.load_pytorch_resnet_weights(models.cifar_resnet(20, "B"), sd)
    with pytest.raises(ValueError, match=r"not used.*extra\.weight"):
        models.load_pytorch_resnet_weights(
            models.cifar_resnet(20), dict(sd, **{"extra.weight": np.zeros(3)})
        )
    with pytest.raises(ValueError, match="no PyTorch counterpart"):
        models.load_pytorch_resnet_weights(models.cifar_vgg16(), sd)


@needs_weights
def test_weight_search_order_and_checksum(tmp_path, monkeypatch):
    real = models.find_weights("resnet20")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / real.name).symlink_to(real)
    monkeypatch.setenv(models.WEIGHTS_ENV, str(second))
    assert models.find_weights("resnet20") == second / real.name
    assert models.find_weights("resnet20", weights_dir=first) == second / real.name
    (first / "resnet20-0000.npz").symlink_to(real)
    assert models.find_weights("resnet20", weights_dir=first) == first / "resnet20-0000.npz"
    (first / "resnet20-1111.npz").symlink_to(real)
    with pytest.raises(ValueError, match="Several weight files"):
        models.find_weights("resnet20", weights_dir=first)

    bad = tmp_path / "bad"
    bad.mkdir()
    np.savez(bad / "resnet20-bad.npz", **{"conv1.weight": np.zeros((16, 3, 3, 3))})
    with pytest.raises(ValueError, match="SHA-256"):
        models.pretrained("resnet20", weights_dir=bad)
    with pytest.raises(ValueError, match="no 'bn1.weight'"):
        models.pretrained("resnet20", weights_dir=bad, verify_checksum=False)


def test_missing_weights_error_names_places_and_pattern(tmp_path, monkeypatch):
    fake_root = tmp_path / "elsewhere" / "repo"
    monkeypatch.setattr(weights_module, "repo_root", lambda: fake_root)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(models.WEIGHTS_ENV, str(tmp_path / "env_dir"))
    with pytest.raises(FileNotFoundError) as info:
        models.pretrained("resnet44", weights_dir=empty)
    message = str(info.value)
    assert "DAIS_WEIGHTS_DIR" in message
    assert "resnet44-*.npz" in message
    assert str(empty) in message and str(tmp_path / "env_dir") in message
    assert str(tmp_path / "elsewhere" / "shared" / "weights" / "resnet-cifar10") in message


def test_pretrained_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        models.pretrained("resnet110")
    for name in ("resnet20", "resnet32", "resnet44", "resnet56"):
        assert name in str(info.value)


def test_pretrained_docstring_names_licence():
    doc = models.pretrained.__doc__
    assert "BSD-2-Clause" in doc and "akamaster/pytorch_resnet_cifar10" in doc


# --------------------------------------------------------------------------
# Architecture


@pytest.mark.parametrize("depth", sorted(RESNET_PARAMS))
def test_resnet_parameter_count_and_layout(depth):
    model = models.cifar_resnet(depth)
    assert _trainable_params(model) == RESNET_PARAMS[depth]
    n = (depth - 2) // 6
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 6 * n + 1  # stem + 2 per block; option A has no shortcut conv
    assert len([l for l in model.layers if isinstance(l, ZeroPadShortcut)]) == 2
    assert len([l for l in model.layers if isinstance(l, keras.layers.Add)]) == 3 * n


def test_resnet20_structure_and_macs():
    """Exact conv geometry of ResNet-20: 40,551,040 MACs (conv + dense)."""
    model = models.cifar_resnet(20)
    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, c = layer.output.shape
            assert c == cout and layer.use_bias is False
            macs += kh * kw * cin * cout * h * w
        elif isinstance(layer, keras.layers.Dense):
            macs += int(np.prod(layer.kernel.shape))
    assert macs == 40_551_040
    assert model.get_layer("stage1_block2_out").output.shape == (None, 32, 32, 16)
    assert model.get_layer("stage2_block0_out").output.shape == (None, 16, 16, 32)
    assert model.get_layer("stage3_block2_out").output.shape == (None, 8, 8, 64)
    # Stride-2 convolutions are padded symmetrically, like PyTorch.
    for prefix in ("stage2_block0", "stage3_block0"):
        pad = model.get_layer(prefix + "_pad1")
        conv = model.get_layer(prefix + "_conv1")
        assert pad.padding == ((1, 1), (1, 1))
        assert conv.padding == "valid" and conv.strides == (2, 2)
        shortcut = model.get_layer(prefix + "_shortcut")
        planes = conv.filters
        assert (shortcut.pad_before, shortcut.pad_after, shortcut.stride) == (
            planes // 4,
            planes // 4,
            2,
        )
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert layer.epsilon == 1e-5 and layer.momentum == pytest.approx(0.9)
    norm = model.get_layer("normalize")
    assert isinstance(norm, keras.layers.Normalization)
    x = _random_images(2)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(norm(x)), (x / 255 - mean) / std, rtol=1e-5, atol=1e-5
    )


def test_other_parameter_counts():
    assert _trainable_params(models.cifar_resnet(20, shortcut="B")) == 269_722 + 2_752
    assert _trainable_params(models.cifar_vgg16()) == 14_724_042
    assert _trainable_params(models.cifar_mobilenet_v2()) == 2_236_682
    mbv2 = models.cifar_mobilenet_v2()
    assert mbv2.get_layer("head_relu").output.shape == (None, 4, 4, 1280)
    # CIFAR adaptation: stride 1 in the stem and the 24-channel stage
    # (block1, block2); the first 32-channel block (block3) has stride 2.
    assert mbv2.get_layer("stem_conv").output.shape == (None, 32, 32, 32)
    assert mbv2.get_layer("block1_dw_conv").output.shape == (None, 32, 32, 96)
    assert mbv2.get_layer("block2_dw_conv").output.shape == (None, 32, 32, 144)
    assert mbv2.get_layer("block3_dw_conv").output.shape == (None, 16, 16, 144)
    assert len([l for l in mbv2.layers if isinstance(l, keras.layers.Add)]) == 10


@pytest.mark.parametrize(
    "name", ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "vgg16", "mobilenet_v2"]
)
def test_registry_builders_output_shapes(name):
    model = models.get(name, num_classes=7)
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 7)
    y = model(_random_images(2), training=False)
    assert tuple(y.shape) == (2, 7)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(y)))


@pytest.mark.parametrize(
    "build",
    [
        lambda: models.cifar_resnet(8, shortcut="B", input_shape=(None, None, 3)),
        lambda: models.cifar_mobilenet_v2(alpha=0.5, input_shape=(None, None, 3)),
        lambda: models.cifar_vgg16(num_classes=100, input_shape=(None, None, 3)),
    ],
    ids=["resnet8_B", "mobilenet_v2_0.5", "vgg16_100"],
)
def test_variable_input_size(build):
    model = build()
    y = model(_random_images(1, (40, 40, 3)), training=False)
    assert tuple(y.shape) == (1, model.output_shape[-1])


def test_zero_pad_shortcut_matches_numpy_reference():
    x = np.random.default_rng(1).normal(size=(2, 7, 6, 5)).astype("float32")
    layer = ZeroPadShortcut(pad_before=3, pad_after=2, stride=2)
    y = keras.ops.convert_to_numpy(layer(x))
    expected = np.pad(x[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (3, 2)))
    np.testing.assert_array_equal(y, expected)
    assert layer.compute_output_shape(x.shape) == y.shape == (2, 4, 3, 10)
    assert layer.compute_output_shape((None, None, 5, 5)) == (None, None, 3, 10)
    assert not layer.weights
    same = ZeroPadShortcut(0, 0, stride=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(same(x)), x)


def test_option_a_shortcut_in_model_matches_numpy():
    model = models.cifar_resnet(20)
    probe = keras.Model(
        model.input,
        [
            model.get_layer("stage1_block2_out").output,
            model.get_layer("stage2_block0_shortcut").output,
        ],
    )
    before, after = (keras.ops.convert_to_numpy(t) for t in probe(_random_images(2)))
    expected = np.pad(before[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (8, 8)))
    np.testing.assert_array_equal(after, expected)


def test_zero_pad_shortcut_validates_and_serializes():
    for bad in (dict(pad_before=-1, pad_after=0), dict(pad_before=1.5, pad_after=0),
                dict(pad_before=1, pad_after=1, stride=0)):
        with pytest.raises(ValueError, match="ZeroPadShortcut"):
            ZeroPadShortcut(**bad)
    with pytest.raises(ValueError, match="4D"):
        ZeroPadShortcut(1, 1)(np.zeros((2, 3), "float32"))
    layer = ZeroPadShortcut(pad_before=4, pad_after=5, stride=3, name="sc")
    config = layer.get_config()
    assert {k: config[k] for k in ("pad_before", "pad_after", "stride")} == {
        "pad_before": 4,
        "pad_after": 5,
        "stride": 3,
    }
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, ZeroPadShortcut)
    assert restored.get_config() == config
    assert keras.saving.get_registered_name(ZeroPadShortcut) == "dais_keras>ZeroPadShortcut"


@pytest.mark.parametrize("shape, stride", [((2, 7, 6, 9), 2), ((2, 8, 8, 9), 1), ((1, 9, 5, 9), 3)])
def test_builtin_option_a_shortcut_equals_the_layer(shape, stride):
    """The built-in form surgery emits is exactly the layer."""
    from dais_keras.groups.handlers import CallKeep
    from dais_keras.groups.handlers import ChannelPaddingHandler
    from dais_keras.models.layers import ZeroPadShortcutHandler

    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    layer = ZeroPadShortcut(pad_before=4, pad_after=3, stride=stride, name="sc")
    for _ in range(3):
        keep_in = rng.random(shape[-1]) < 0.6
        keep_out = np.concatenate([rng.random(4) < 0.5, keep_in, rng.random(3) < 0.5])
        keep = CallKeep([keep_in], [keep_out])
        with_layer = ChannelPaddingHandler().rebuild(layer, keep)
        assert isinstance(with_layer, ZeroPadShortcut)
        inp = keras.Input((None, None, int(keep_in.sum())))
        builtin = keras.Model(inp, ZeroPadShortcutHandler().rebuild(layer, keep)(inp))
        assert not any(isinstance(l, ZeroPadShortcut) for l in builtin.layers)
        want = keras.ops.convert_to_numpy(with_layer(x[..., keep_in]))
        got = keras.ops.convert_to_numpy(builtin(x[..., keep_in]))
        assert got.shape == want.shape
        assert np.abs(got - want).max() == 0.0


_LOAD_WITHOUT_DAIS_KERAS = """
import sys
sys.modules["dais_keras"] = None  # any import of dais_keras fails
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1])
data = np.load(sys.argv[2])
out = keras.ops.convert_to_numpy(model(data["x"], training=False))
assert not [m for m in sys.modules if m.startswith("dais_keras") and sys.modules[m]]
print("max_abs_diff", float(np.abs(out - data["reference"]).max()))
"""


def test_pruned_option_a_resnet_loads_without_dais_keras(tmp_path):
    """A pruned CIFAR ResNet is plain Keras."""
    import subprocess
    import sys

    from dais_keras import testing

    model = _randomise_bn(models.cifar_resnet(20, shortcut="A"))
    search = dais_keras.attach_indicators(model)
    testing.random_half_masks(search)
    pruned = dais_keras.surgery.apply(search)
    assert not any(isinstance(l, ZeroPadShortcut) for l in pruned.layers)
    x = _random_images(4, seed=5)
    reference = keras.ops.convert_to_numpy(search(x, training=False))
    out = keras.ops.convert_to_numpy(pruned(x, training=False))
    assert np.abs(out - reference).max() <= 1e-5 * np.abs(reference).max()
    pruned.save(tmp_path / "pruned.keras")
    np.savez(tmp_path / "data.npz", x=x, reference=out)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_WITHOUT_DAIS_KERAS,
         str(tmp_path / "pruned.keras"), str(tmp_path / "data.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    diff = float(result.stdout.split("max_abs_diff")[-1])
    assert diff <= 1e-6 * np.abs(out).max()


# --------------------------------------------------------------------------
# Serialization and determinism

SAVE_CASES = {
    "resnet20_A": lambda: models.cifar_resnet(20),
    "resnet20_B": lambda: models.cifar_resnet(20, shortcut="B"),
    "vgg16": lambda: models.cifar_vgg16(),
    "mobilenet_v2": lambda: models.cifar_mobilenet_v2(alpha=0.5),
}


@functools.lru_cache(maxsize=None)
def _save_case(case):
    """The model of `SAVE_CASES[case]`, built once per session (its BN
    statistics randomised: the checks below read configs and outputs)."""
    return _randomise_bn(SAVE_CASES[case]())


@pytest.mark.parametrize("case", sorted(SAVE_CASES))
def test_save_and_reload_safe_mode(case, tmp_path):
    model = _save_case(case)
    x = _random_images(4, seed=3)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    path = tmp_path / f"{case}.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert [l.name for l in restored.layers] == [l.name for l in model.layers]
    got = keras.ops.convert_to_numpy(restored(x, training=False))
    np.testing.assert_array_equal(got, expected)


@needs_weights
def test_pretrained_saves_and_reloads(tmp_path, exact_subset):
    model = models.pretrained("resnet20")
    x = exact_subset[0][:16]
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    model.save(tmp_path / "resnet20.keras")
    restored = keras.saving.load_model(tmp_path / "resnet20.keras", safe_mode=True)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(x, training=False)), expected
    )


@pytest.mark.parametrize("case", sorted(SAVE_CASES))
def test_every_layer_config_round_trips(case):
    model = _save_case(case)
    for layer in model.layers:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config, layer.name
    rebuilt = keras.Model.from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()


@pytest.mark.parametrize("name", ["resnet20", "resnet56", "vgg16", "mobilenet_v2"])
def test_structure_is_deterministic(name):
    def signature(model):
        return (
            model.name,
            [(l.name, type(l).__name__, tuple(l.output.shape)) for l in model.layers],
            [(w.path, tuple(w.shape)) for w in model.weights],
        )

    a, b = models.get(name), models.get(name)
    assert signature(a) == signature(b)
    assert a.get_config() == b.get_config()
    assert all(not l.name.startswith(("conv2d", "batch_normalization", "re_lu", "add"))
               for l in a.layers), "every layer has an explicit name"


# --------------------------------------------------------------------------
# Errors


def test_registry_lists_and_rejects_unknown_names():
    assert models.available() == [
        "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "vgg16", "mobilenet_v2"
    ]
    assert set(models.BUILDERS) == set(models.available())
    with pytest.raises(ValueError) as info:
        models.get("resnet18")
    for name in models.available():
        assert name in str(info.value)
    with pytest.raises(TypeError):
        models.BUILDERS["mine"] = models.cifar_vgg16  # read-only


@pytest.mark.parametrize("depth", [18, 0, 2, 21, 20.0, "20", True])
def test_bad_depth_lists_valid_values(depth):
    with pytest.raises(ValueError, match=r"`depth`.*20, 32, 44, 56, 110"):
        models.cifar_resnet(depth)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match=r"`shortcut`.*'A', 'B'"):
        models.cifar_resnet(20, shortcut="C")
    assert models.cifar_resnet(8, shortcut="b").name == "cifar_resnet8b"
    with pytest.raises(ValueError, match="num_classes"):
        models.cifar_resnet(20, num_classes=0)
    with pytest.raises(ValueError, match="input_shape"):
        models.cifar_resnet(20, input_shape=(32, 32, 1))
    with pytest.raises(ValueError, match="alpha"):
        models.cifar_mobilenet_v2(alpha=0)
    with pytest.raises(ValueError, match="at least 32"):
        models.cifar_vgg16(input_shape=(16, 16, 3))
