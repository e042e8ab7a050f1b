"""The one fine-tune recipe and the loss that suits a classifier's output."""

import warnings

import numpy as np
import pytest

import keras

from dais_keras.experiments.config import DEFAULTS
from dais_keras.finetune.recipe import FinetuneRecipe
from dais_keras.utils.losses import check_from_logits
from dais_keras.utils.losses import classification_loss

L = keras.layers


def test_learning_rate_schedules():
    cosine = FinetuneRecipe(4, lr=0.1).learning_rate(10)
    assert float(cosine(0)) == pytest.approx(0.1) and float(cosine(40)) == pytest.approx(0.0)
    step = FinetuneRecipe(4, lr=0.1, schedule="step").learning_rate(10)
    assert [float(step(s)) for s in (19, 21, 31)] == pytest.approx([0.1, 0.01, 0.001])
    assert FinetuneRecipe(4, schedule="constant").learning_rate(10) == 0.01
    assert FinetuneRecipe(4).learning_rate(None) == 0.01  # unknown length: constant


def test_recipe_from_the_config_section_and_argument_checks():
    section = dict(DEFAULTS["finetune"], epochs=3, lr=0.05, nesterov=True, teacher="t.keras")
    recipe = FinetuneRecipe.from_config(section, seed=2)
    assert (recipe.epochs, recipe.lr, recipe.nesterov, recipe.seed) == (3, 0.05, True, 2)
    optimizer = recipe.optimizer(10)
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.nesterov
    with pytest.raises(ValueError, match="`schedule`"):
        FinetuneRecipe(1, schedule="linear")
    with pytest.raises(ValueError, match="`epochs`"):
        FinetuneRecipe(0)
    with pytest.raises(ValueError, match="`momentum`"):
        FinetuneRecipe(1, momentum=1.0)


def test_distillation_needs_a_teacher(toy):
    x, y = toy.data(16)
    with pytest.raises(ValueError, match="no `teacher`"):
        FinetuneRecipe(1, distill=True).fit(toy.model(), (x, y))


def _classifier(head):
    inp = keras.Input((4,))
    return keras.Model(inp, head(L.Dense(3)(inp)))


@pytest.mark.parametrize("head", [
    lambda x: L.Dense(3, activation="softmax")(x),
    lambda x: L.Activation("softmax")(x),
    lambda x: L.Softmax()(x),
    lambda x: keras.Sequential([keras.Input((3,)), L.Dense(3, activation="softmax")])(x),
])
def test_a_softmax_output_gets_a_probability_loss_and_a_warning(head):
    model = _classifier(head)
    assert classification_loss(model).from_logits is False
    with pytest.warns(UserWarning, match="ends in a softmax"):
        assert check_from_logits(model, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_from_logits(model, classification_loss(model))
        assert not check_from_logits(model, "sparse_categorical_crossentropy")


def test_logits_get_a_logits_loss_without_warning():
    model = _classifier(lambda x: x)
    loss = classification_loss(model)
    assert loss.from_logits is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_from_logits(model, loss)
    assert np.isfinite(float(loss(np.array([0]), model(np.zeros((1, 4))))))
