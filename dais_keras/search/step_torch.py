"""The `DAISModel` train step on PyTorch: plain weight training only.

The DAIS search itself runs on TensorFlow and JAX; on PyTorch a `DAISModel`
trains like any Keras model, with its indicators held fixed (`alpha` is
never updated, whatever the optimizer's weight decay).
"""

import keras

from dais_keras.search.step import SearchStep


class TorchStep(SearchStep):
    """Keras' torch train step over the weights without `alpha`."""

    def train_step(self, model, data):
        import torch

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        model.zero_grad()
        y_pred = model(x, training=True) if model._call_has_training_arg else model(x)
        loss = model._compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        model._loss_tracker.update_state(
            loss, sample_weight=next(i for i in keras.tree.flatten(x) if i is not None).shape[0]
        )
        if model.optimizer is not None:
            loss = model.optimizer.scale_loss(loss)
        variables = model._dais.weight_variables
        if variables:
            loss.backward()
            grads = [v.value.grad for v in variables]
            with torch.no_grad():
                model.optimizer.apply(grads, variables)
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


STEP = TorchStep()
