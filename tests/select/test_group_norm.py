"""Group-norm importance (DepGraph / Torch-Pruning): exact norms over every
parameter of a channel (producers, biases, BatchNorm, consumers), counted
once; the two baselines built on it rank a zeroed channel last."""

import numpy as np
import pytest

import keras
from keras import layers as L

import dais_keras as dk
from dais_keras import testing
from dais_keras.select import baselines
from dais_keras.select import group_norm


def chain_cnn(seed=0):
    """8x8x2 -> 5 logits: conv 'c1' (8 channels) -> BN -> conv 'c2' (16) ->
    BN -> global pooling -> Dense 'fc'; every weight random and non-zero."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 2))
    x = L.ReLU()(L.BatchNormalization(name="bn1")(L.Conv2D(8, 3, padding="same", name="c1")(inp)))
    x = L.ReLU()(L.BatchNormalization(name="bn2")(L.Conv2D(16, 3, padding="same", name="c2")(x)))
    model = keras.Model(inp, L.Dense(5, name="fc")(L.GlobalAveragePooling2D()(x)), name="chain")
    testing.randomize_weights(model, seed=seed)
    # Large moving statistics: they are not parameters and must not count.
    for bn in ("bn1", "bn2"):
        layer = model.get_layer(bn)
        layer.moving_mean.assign(np.full(layer.moving_mean.shape, 100.0, "float32"))
        layer.moving_variance.assign(np.full(layer.moving_variance.shape, 50.0, "float32"))
    return model


@pytest.fixture(scope="module")
def chain():
    return chain_cnn()


def _w(model, name):
    return [w.astype(np.float64) for w in model.get_layer(name).get_weights()]


def _bn_squares(model, name):
    gamma, beta, _, _ = _w(model, name)
    return gamma**2 + beta**2


def _scores(model, method, group_name):
    """The plan's scores of one group, and the group."""
    problem = baselines.Problem(model, 0.5, 0.05, None, 1, 0, None)
    group = problem.graph[group_name]
    g = [x.id for x in problem.groups].index(group.id)
    plan = baselines.get(method).plan(problem)
    return plan, plan.scores[problem.offsets[g] : problem.offsets[g + 1]], group


def test_group_norm_is_the_l2_norm_of_every_parameter_of_the_channel(chain):
    k1, b1 = _w(chain, "c1")
    k2, b2 = _w(chain, "c2")
    fc, _ = _w(chain, "fc")
    expected_c1 = np.sqrt(
        (k1**2).sum(axis=(0, 1, 2)) + b1**2 + _bn_squares(chain, "bn1") + (k2**2).sum(axis=(0, 1, 3))
    )
    expected_c2 = np.sqrt(
        (k2**2).sum(axis=(0, 1, 2)) + b2**2 + _bn_squares(chain, "bn2") + (fc**2).sum(axis=1)
    )
    graph = dk.channel_groups(chain)
    norms = baselines.group_norms(graph)
    np.testing.assert_allclose(norms[graph["c1"].id], expected_c1, rtol=1e-6)
    np.testing.assert_allclose(norms[graph["c2"].id], expected_c2, rtol=1e-6)
    assert set(norms) == {g.id for g in graph.prunable}
    # The baseline's scores are these norms (uniform widths); the global
    # variant's are the squares over their group mean (Torch-Pruning).
    _, scores, _ = _scores(chain, "group-norm", "c1")
    np.testing.assert_allclose(scores, expected_c1, rtol=1e-6)
    _, uniform = baselines.select(chain, "uniform", 0.5)
    _, report = baselines.select(chain, "group-norm", 0.5)
    assert [g["kept"] for g in report.groups] == [g["kept"] for g in uniform.groups]
    plan, scores, _ = _scores(chain, "group-norm-global", "c2")
    np.testing.assert_allclose(scores, expected_c2**2 / np.mean(expected_c2**2), rtol=1e-6)
    assert plan.widths is None and not plan.per_mac


def test_per_channel_layers_count_once():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 3))
    x = L.Conv2D(4, 1, name="expand")(inp)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)
    x = L.PReLU(name="act")(x)
    x = L.SeparableConv2D(5, 3, padding="same", name="sep")(x)
    x = L.Conv2D(5, 3, padding="same", groups=5, name="grouped")(x)  # one input per group
    x = L.Flatten()(L.MaxPooling2D(3)(x))
    model = keras.Model(inp, L.Dense(3, name="fc")(x))
    testing.randomize_weights(model)
    graph = dk.channel_groups(model)
    norms = baselines.group_norms(graph)
    ke, be = _w(model, "expand")
    kd, bd = _w(model, "dw")  # (3, 3, 4, 2): output channel 2c + j reads c
    (alpha,) = _w(model, "act")  # (6, 6, 8)
    sd, sp, sb = _w(model, "sep")  # (3, 3, 8, 1), (1, 1, 8, 5)
    kg, bg = _w(model, "grouped")  # (3, 3, 1, 5)
    fc, _ = _w(model, "fc")  # (2 * 2 * 5, 3), channels fastest
    dw_out = (kd**2).sum(axis=(0, 1)).reshape(-1) + bd**2 + (alpha**2).sum(axis=(0, 1))
    dw_out = dw_out + (sd**2).sum(axis=(0, 1, 3)) + (sp**2).sum(axis=(0, 1, 3))
    expand = (ke**2).sum(axis=(0, 1, 2)) + be**2 + dw_out.reshape(4, 2).sum(axis=1)
    np.testing.assert_allclose(norms[graph["expand"].id], np.sqrt(expand), rtol=1e-6)
    sep = (sp**2).sum(axis=(0, 1, 2)) + sb**2 + (kg**2).sum(axis=(0, 1, 2)) + bg**2
    sep = sep + (fc**2).sum(axis=1).reshape(-1, 5).sum(axis=0)
    np.testing.assert_allclose(norms[graph["sep"].id], np.sqrt(sep), rtol=1e-6)


def _zero_channel(model, c, consumer_scale=0.0):
    """A copy of `model` whose channel `c` of 'c1' has all-zero producer
    parameters (kernel, bias, BN gamma and beta) and its consumer slice in
    'c2' scaled by `consumer_scale`."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    k1, b1 = copy.get_layer("c1").get_weights()
    k1[..., c], b1[c] = 0.0, 0.0
    copy.get_layer("c1").set_weights([k1, b1])
    bn = copy.get_layer("bn1").get_weights()
    bn[0][c], bn[1][c] = 0.0, 0.0
    copy.get_layer("bn1").set_weights(bn)
    k2, b2 = copy.get_layer("c2").get_weights()
    k2[:, :, c, :] *= consumer_scale
    copy.get_layer("c2").set_weights([k2, b2])
    return copy


@pytest.mark.parametrize("method", ["group-norm", "group-norm-global"])
def test_a_zeroed_channel_ranks_last_and_is_pruned_first(chain, method):
    model = _zero_channel(chain, 3)
    _, scores, group = _scores(model, method, "c1")
    assert scores[3] == 0.0 and np.all(np.delete(scores, 3) > 0)
    problem = baselines.Problem(model, 0.5, 0.05, None, 1, 0, None)
    assert problem.order(scores)[0][-1] == 3
    for budget in (0.3, 0.5, 0.7):
        _, report = baselines.select(model, method, budget)
        assert report.feasible, report.message
        if group.id in report.keep:
            assert 3 not in report.keep[group.id], (budget, report.keep[group.id])
    _, report = baselines.select(model, "group-norm", 0.5)
    assert group.id in report.keep  # the uniform widths prune every group


def test_consumers_count(chain):
    # Producer side zero, consumer slice ten times larger: the channel still
    # matters to the next layer. L1 per layer ranks it last, group norm not.
    model = _zero_channel(chain, 3, consumer_scale=10.0)
    _, scores, _ = _scores(model, "group-norm", "c1")
    assert np.argmin(scores) != 3 and np.argmax(scores) == 3
    _, l1, _ = _scores(model, "l1-layer", "c1")
    assert np.argmin(l1) == 3


def test_registry_rules_and_fallback(chain):
    assert group_norm.PARAMETER_NORMS.lookup(chain.get_layer("bn1")) is not None

    class MyConv(L.Conv2D):  # a subclass inherits the Conv2D rule
        pass

    assert group_norm.PARAMETER_NORMS.lookup(MyConv(2, 1)) is group_norm.PARAMETER_NORMS.lookup(
        chain.get_layer("c1")
    )
    # A layer with a kernel rule only: kernel (both sides) and bias.
    dense = chain.get_layer("fc")
    out, inp = group_norm.kernel_and_bias(dense)
    kernel, bias = _w(chain, "fc")
    np.testing.assert_allclose(out, (kernel**2).sum(axis=0) + bias**2, rtol=1e-6)
    np.testing.assert_allclose(inp, (kernel**2).sum(axis=1), rtol=1e-6)
    assert group_norm.kernel_and_bias(L.ReLU()) == (None, None)
