"""Baselines under latency budgets: the band search meets the latency a
(synthetic) measured table predicts, `"halp"` ranks importance per
millisecond saved, and MACs budgets choose exactly what they chose before
latency budgets existed."""

import hashlib
import json

import numpy as np
import pytest

import dais_keras as dk
from dais_keras import latency as L
from dais_keras import testing
from dais_keras.select import baselines
from dais_keras.select.group_norm import normalised_group_importance
from dais_keras.select.problem import PruningProblem

LATENCY_METHODS = ("group-norm-global", "halp", "uniform")


def _shape_timer(fn):
    """A timer of one-layer models: `fn(layer name, c_in, c_out)` in ms."""

    def timer(one):
        name = one.layers[-1].name.removeprefix("probe_")
        return fn(name, int(one.inputs[0].shape[-1]), int(one.outputs[0].shape[-1]))

    return timer


def bilinear(name, c_in, c_out):
    return 0.01 + 0.002 * c_in + 0.003 * c_out + 0.0005 * c_in * c_out


def fixed_weights(model, seed=0):
    """Weights drawn with numpy (the same on every backend); variances > 0."""
    rng = np.random.default_rng(seed)
    model.set_weights([
        np.abs(rng.normal(size=w.shape)).astype(w.dtype) + 0.1 if "variance" in v.path
        else rng.normal(size=w.shape).astype(w.dtype)
        for w, v in zip(model.get_weights(), model.weights)
    ])
    return model


def cost_model(model, tmp_path, fn=bilinear):
    table = L.build_latency_table(model, cache_dir=str(tmp_path), timer=_shape_timer(fn),
                                  max_points=(4, 5), verbose=0)
    return L.latency_model(model, table=table, calibrate=False)


def kept_mask(problem, keep):
    """The flat mask (the plain model's group order) of a baseline's `keep`."""
    m = np.ones(problem.num_channels)
    for g, group in enumerate(problem.groups):
        if group.id in keep:
            start = problem.offsets[g]
            m[start:problem.offsets[g + 1]] = 0.0
            m[start + np.asarray(keep[group.id], dtype=np.int64)] = 1.0
    return m


@pytest.fixture(scope="module")
def toy():
    return fixed_weights(testing.toy_model(widths=(16, 24)))


@pytest.fixture(scope="module")
def toy_latency(toy, tmp_path_factory):
    return cost_model(toy, tmp_path_factory.mktemp("latency"))


@pytest.mark.parametrize("method", LATENCY_METHODS)
@pytest.mark.parametrize("budget", [{"latency": 0.5}, {"latency": 0.35}, {"latency_ms": 0.6}])
@pytest.mark.parametrize("round_to", [None, 4])
def test_predicted_latency_of_the_kept_widths_meets_the_target(toy, toy_latency, method, budget,
                                                               round_to):
    lm = toy_latency
    keep, report = baselines.select(toy, method, budget, cost=lm, round_to=round_to)
    target = budget.get("latency_ms") or budget.get("latency", 0) * lm.total
    predicted = lm.exact(kept_mask(PruningProblem(toy), keep))
    assert predicted <= target
    assert report.feasible and report.met, report.message
    assert report.latency["after_ms"] == pytest.approx(predicted)
    assert report.latency["target_ms"] == pytest.approx(target)
    assert report.latency["total_ms"] == pytest.approx(lm.total)
    assert report.latency["runtime"] == lm.table.runtime
    assert report.budget == budget and report.target_macs is None
    if round_to:
        for g in report.groups:
            assert g["kept"] == g["size"] or g["kept"] % round_to == 0


def test_prune_under_a_latency_budget_builds_the_kept_widths(toy, toy_latency):
    pruned, report = baselines.prune(toy, "halp", {"latency": 0.5}, cost=toy_latency)
    assert report.macs == dk.count_macs(pruned)
    assert report.params_after is not None and report.params_after < report.params_before
    text = report.summary()
    assert "predicted latency" in text and "ms" in text
    json.dumps(report.as_dict())


def test_halp_drops_the_lowest_importance_per_millisecond_first(tmp_path):
    """The stem's channels are all equally important (normalised importance
    1) but cost 10 ms each in the stem and the conv that reads them; the
    other groups' channels vary in importance and cost microseconds. The
    least important channel lies outside the stem; the least important
    per millisecond saved is a stem channel."""
    model = fixed_weights(testing.toy_model())
    weights = {v.path: w for v, w in zip(model.weights, model.get_weights())}
    for v in model.weights:
        w = weights[v.path]
        if v.path.startswith(("conv1/", "bn1/")):
            weights[v.path] = np.broadcast_to(w[..., :1], w.shape).copy()
        elif v.path == "conv2/kernel":
            weights[v.path] = np.broadcast_to(w[:, :, :1, :], w.shape).copy()
    model.set_weights([weights[v.path] for v in model.weights])

    def costs(name, c_in, c_out):
        return {"conv1": 10.0 * c_out, "conv2": 10.0 * c_in}.get(name, 0.0) + 0.001 * c_in * c_out

    lm = cost_model(model, tmp_path, costs)
    problem = PruningProblem(model)
    stem = [g for g, group in enumerate(problem.groups) if group.name == "conv1"][0]
    importance = problem.flat(normalised_group_importance(problem.graph))
    np.testing.assert_allclose(importance[problem.offsets[stem]:problem.offsets[stem + 1]], 1.0)
    per_ms = importance / lm.marginal(np.ones(problem.num_channels))
    lowest, lowest_per_ms = int(np.argmin(importance)), int(np.argmin(per_ms))
    assert not problem.offsets[stem] <= lowest < problem.offsets[stem + 1]
    assert problem.offsets[stem] <= lowest_per_ms < problem.offsets[stem + 1]

    # A target one stem channel below the total: one step of either kind meets it.
    budget = {"latency_ms": lm.total - 1e-3}
    removed = {}
    for method in ("halp", "group-norm-global"):
        keep, report = baselines.select(model, method, budget, cost=lm, band=0.5)
        removed[method] = np.flatnonzero(kept_mask(problem, keep) == 0).tolist()
        assert report.latency["after_ms"] <= budget["latency_ms"]
    # Every stem channel ties: the last in index order goes first.
    assert removed["halp"] == [int(problem.offsets[stem + 1]) - 1]
    assert removed["group-norm-global"] == [lowest]


def test_halp_is_registered_and_greedy_one_step_at_a_time(toy):
    assert "halp" in baselines.available()
    plan = baselines.get("halp").plan(PruningProblem(toy, 0.5))
    assert plan.per_mac and plan.widths is None and plan.chunk == 0.0
    assert "HALP" in baselines.get("halp").plan.__doc__


def test_latency_budget_needs_the_latency_model_of_this_model(toy, toy_latency):
    with pytest.raises(ValueError, match="needs `cost=`.*LatencyModel"):
        baselines.select(toy, "halp", {"latency": 0.5})
    with pytest.raises(ValueError, match="needs `cost=`.*LatencyModel"):
        baselines.select(toy, "uniform", {"latency": 0.5}, cost=PruningProblem(toy).cost)
    other = testing.toy_model(widths=(8, 16))
    with pytest.raises(ValueError, match="`cost` covers 64 channels but the model has 40"):
        baselines.select(other, "uniform", {"latency": 0.5}, cost=toy_latency)
    with pytest.raises(ValueError, match="`budget` must be a MACs fraction"):
        baselines.select(toy, "uniform", {"latency": 1.5}, cost=toy_latency)


# MACs budgets: sha256 (first 16 hex digits) of the sorted `keep` dict and the
# exact MACs, per `method/budget/round_to`, on `fixed_weights(toy_model(widths=
# (16, 24)))`, recorded with the code before latency budgets reached the
# baselines.
MACS_CHOICES = {
    "uniform/0.3/None": "076a6efc9576f72d 290352", "uniform/0.3/8": "72949cdfb9e959d1 276544",
    "uniform/0.5/None": "1996d73545a33e46 497156", "uniform/0.5/8": "d75b9ca3b230f89d 424000",
    "uniform/0.7/None": "de80e7df149f2379 677456", "uniform/0.7/8": "50371600a9a12303 608352",
    "l1-layer/0.3/None": "a568fdbeea187ddd 290352", "l1-layer/0.3/8": "bd05b51079476074 276544",
    "l1-layer/0.5/None": "03c11bde87443aa2 497156", "l1-layer/0.5/8": "4b710ae8ee54fd81 424000",
    "l1-layer/0.7/None": "d3cc8f9684676367 677456", "l1-layer/0.7/8": "d5d2bbc0f5637757 608352",
    "l1-global/0.3/None": "9f4388749b56ea7f 294932", "l1-global/0.3/8": "bd05b51079476074 276544",
    "l1-global/0.5/None": "6f218643441a129a 479272", "l1-global/0.5/8": "4b710ae8ee54fd81 424000",
    "l1-global/0.7/None": "de737d6e0ddd88ed 663612", "l1-global/0.7/8": "d5d2bbc0f5637757 608352",
    "random/0.3/None": "95bd5fdffe7a1a3e 294968", "random/0.3/8": "9ae8b4419645ef7b 276544",
    "random/0.5/None": "56029c1085b87073 485068", "random/0.5/8": "62f9721b564df5a4 424000",
    "random/0.7/None": "79ee2637b5db6f4a 687828", "random/0.7/8": "fc3d1cf0d6ec3d73 608352",
    "cpmc/0.3/None": "ae9b1a2e24b247c3 294932", "cpmc/0.3/8": "546d017b503babb6 276544",
    "cpmc/0.5/None": "368c8280c82da57f 479272", "cpmc/0.5/8": "db05b59402eb903e 424000",
    "cpmc/0.7/None": "c4dc9453293f7255 663612", "cpmc/0.7/8": "21d0684a00e71348 608352",
    "group-norm/0.3/None": "872047716dcee5bc 290352",
    "group-norm/0.3/8": "c71fdc93d6d4f32b 276544",
    "group-norm/0.5/None": "870b80949391208f 497156",
    "group-norm/0.5/8": "73a1b0eb557f4fe4 424000",
    "group-norm/0.7/None": "a558ca557fb466a5 677456",
    "group-norm/0.7/8": "882799fbaa2716f4 608352",
    "group-norm-global/0.3/None": "4207482252feb7f6 295540",
    "group-norm-global/0.3/8": "c71fdc93d6d4f32b 276544",
    "group-norm-global/0.5/None": "870b80949391208f 497156",
    "group-norm-global/0.5/8": "73a1b0eb557f4fe4 424000",
    "group-norm-global/0.7/None": "db8cbf62bb39ec7b 693012",
    "group-norm-global/0.7/8": "882799fbaa2716f4 608352",
}


def test_macs_budgets_choose_what_they_chose_before(toy):
    got = {}
    for key in MACS_CHOICES:
        method, budget, round_to = key.split("/")
        keep, report = baselines.select(toy, method, float(budget),
                                        round_to=None if round_to == "None" else int(round_to))
        digest = hashlib.sha256(json.dumps(
            {str(k): v for k, v in sorted(keep.items())}).encode()).hexdigest()[:16]
        got[key] = f"{digest} {report.macs}"
        assert report.latency is None and report.budget == float(budget)
    assert got == MACS_CHOICES
