"""The one fine-tune recipe: SGD with momentum, a learning-rate schedule over
the whole run, and optional knowledge distillation from the unpruned model.

`dais_keras.prune`, the `dais` commands and the benchmarks all fine-tune
through `FinetuneRecipe.fit`, so that every method is fine-tuned the same way.
"""

import dataclasses

from dais_keras.finetune import inputs
from dais_keras.utils.checks import check_choice
from dais_keras.utils.checks import check_int
from dais_keras.utils.checks import check_number
from dais_keras.utils.checks import check_seed
from dais_keras.utils.losses import check_from_logits
from dais_keras.utils.losses import classification_loss

SCHEDULES = ("cosine", "step", "constant")


def sgd(learning_rate, momentum=0.9, nesterov=False, weight_decay=0.0):
    """`keras.optimizers.SGD` with the recipe's arguments (a weight decay of 0
    means none)."""
    import keras

    return keras.optimizers.SGD(
        learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
        weight_decay=weight_decay or None,
    )


def _sublayers(model):
    """`model` and every layer inside it (nested models included)."""
    return [model] + list(model._flatten_layers(include_self=False, recursive=True))


@dataclasses.dataclass
class FinetuneRecipe:
    """How a (pruned) model is fine-tuned.

    Attributes:
        epochs: Passes over the data (>= 1).
        lr: Initial learning rate of SGD.
        momentum: SGD momentum in [0, 1).
        nesterov: Nesterov momentum.
        weight_decay: Decoupled weight decay (0: none).
        schedule: `"cosine"` (to 0 over the run), `"step"` (x0.1 at 50 % and
            75 % of the steps) or `"constant"`. Without a known number of
            steps per epoch the rate stays constant.
        distill: Distil from a teacher (`dais_keras.distill.Distiller`).
        distill_temperature: Softening temperature of the distillation.
        distill_weight: Weight of the distillation term in [0, 1].
        seed: Seed set (`keras.utils.set_random_seed`) before training, so
            that every model of a comparison starts alike; `None`: not set.

    Example:

    ```python
    recipe = FinetuneRecipe(epochs=5, distill=True)
    history = recipe.fit(pruned, (x_train, y_train), teacher=model, batch_size=64)
    ```
    """

    epochs: int
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "cosine"
    distill: bool = False
    distill_temperature: float = 4.0
    distill_weight: float = 0.7
    seed: int = None

    def __post_init__(self):
        self.epochs = check_int("epochs", self.epochs, low=1)
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_number("momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        check_number("weight_decay", self.weight_decay, low=0.0)
        check_choice("schedule", self.schedule, SCHEDULES)
        if self.seed is not None:
            self.seed = check_seed(self.seed)

    @classmethod
    def from_config(cls, section, seed=None):
        """The recipe of a config's `finetune` section (`teacher` is not part
        of the recipe: pass the teacher model to `fit`)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(seed=seed, **{k: v for k, v in section.items() if k in fields and k != "seed"})

    def learning_rate(self, steps_per_epoch=None):
        """The learning rate: a float or a `keras.optimizers.schedules`
        schedule over `epochs * steps_per_epoch` steps."""
        import keras

        if not steps_per_epoch or self.schedule == "constant":
            return self.lr
        total = max(1, self.epochs * steps_per_epoch)
        if self.schedule == "cosine":
            return keras.optimizers.schedules.CosineDecay(self.lr, decay_steps=total)
        bounds = sorted({max(1, int(total * 0.5)), max(2, int(total * 0.75))})
        values = [self.lr, self.lr * 0.1, self.lr * 0.01][: len(bounds) + 1]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)

    def optimizer(self, steps_per_epoch=None):
        """A fresh SGD optimizer with the recipe's schedule."""
        return sgd(self.learning_rate(steps_per_epoch), self.momentum, self.nesterov,
                   self.weight_decay)

    def describe(self, steps_per_epoch=None, teacher=None):
        """One line for logs."""
        steps = "?" if steps_per_epoch is None else steps_per_epoch
        text = f"fine-tuning {self.epochs} epoch(s) x {steps} steps, lr {self.lr} ({self.schedule})"
        if self.distill and teacher is not None:
            text += (f", distilling from '{teacher.name}' (T={self.distill_temperature:g}, "
                     f"weight {self.distill_weight:g})")
        return text

    def fit(self, model, data, *, teacher=None, optimizer=None, loss=None,
            metrics=("accuracy",), batch_size=64, steps_per_epoch=None, callbacks=None,
            verbose=0):
        """Fine-tunes `model` in place.

        Args:
            model: The model to train (e.g. the pruned model).
            data: `(x, y)` arrays, or a `tf.data.Dataset` or a
                `keras.utils.PyDataset` of batches (no TensorFlow needed).
            teacher: The model to distil from (with `distill=True`). Its
                layers' `trainable` flags are given back afterwards.
            optimizer: Replaces the recipe's SGD.
            loss: Task loss (default: sparse categorical cross-entropy,
                from logits unless `model` ends in a softmax).
            metrics: Metrics of `fit`.
            batch_size: Batch size for arrays.
            steps_per_epoch: For datasets of unknown length or endless ones
                (`repeat()`).
            callbacks: Callbacks of `fit`.
            verbose: `fit`'s verbosity.

        Returns:
            The history: metric name -> one float per epoch.

        Raises:
            ValueError: With `distill=True` and no teacher.
        """
        import keras

        from dais_keras.finetune.distill import Distiller

        if self.distill and teacher is None:
            raise ValueError(
                "The fine-tune recipe has distill=True but no `teacher` was given; pass "
                "the unpruned model as `teacher` or set distill=False."
            )
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        steps = steps_per_epoch or inputs.steps_per_epoch(data, batch_size)
        loss = loss or classification_loss(model)
        check_from_logits(model, loss)
        trainee = model
        flags = []
        if teacher is not None:
            flags = [(layer, layer.trainable) for layer in _sublayers(teacher)]
        try:
            if self.distill:
                trainee = Distiller(
                    model, teacher, temperature=self.distill_temperature,
                    distill_weight=self.distill_weight,
                    from_logits=getattr(loss, "from_logits", True),
                )
            trainee.compile(optimizer=optimizer or self.optimizer(steps), loss=loss,
                            metrics=list(metrics or []))
            args, kwargs = inputs.fit_arguments(data, batch_size)
            history = trainee.fit(*args, epochs=self.epochs, steps_per_epoch=steps_per_epoch,
                                  callbacks=list(callbacks or []), verbose=verbose, **kwargs)
        finally:
            # The Distiller freezes the teacher (often the caller's model):
            # give every layer its own flag back.
            for layer, flag in flags:
                layer.trainable = flag
        return {k: [float(v) for v in values] for k, values in history.history.items()}
