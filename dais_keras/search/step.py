"""The backend's part of the DAIS search step, chosen once per backend.

Keras picks its trainer once, from `keras.backend.backend()`
(`keras/src/models/model.py`); the search does the same. `get()` returns the
`SearchStep` of the current backend: the `STEP` object of the module
`dais_keras.search.step_<backend>` (`step_tensorflow`, `step_jax`,
`step_torch`), or this module's `SearchStep()` for a backend without one.
A new backend is one new module. The backend-free parts of the step (the
temperature, the penalty, the search's Adam, the NaN guard) are in
`dais_keras.search.objective`.
"""

import functools
import importlib
import importlib.util

import keras


class SearchStep:
    """What `DAISModel` asks of a backend; these defaults train the weights
    the way Keras does and cannot search.

    Subclasses (one per backend module) override what their backend does
    differently; methods take the `DAISModel` as their first argument.
    """

    #: Whether `train_step` runs the DAIS search (`configure_search` refuses
    #: a search mode otherwise).
    supports_search = False

    def train_step(self, model, *args):
        """The model's `train_step`: `weight_step` in plain training (no
        search mode), `search_step` during a search."""
        if model._dais.mode is None:
            return self.weight_step(model, *args)
        return self.search_step(model, *args)

    def weight_step(self, model, *args):
        """Plain training: the weights learn, the indicators stay fixed
        (Keras' own step here)."""
        return keras.Model.train_step(model, *args)

    def search_step(self, model, *args):
        """One DAIS search step (see `dais_keras.search.model`)."""
        raise NotImplementedError(
            f"The DAIS search does not run on the '{keras.backend.backend()}' backend."
        )

    def build_optimizer(self, model):
        """Builds the compiled optimizer on every trainable variable."""
        model.optimizer.build(model.trainable_variables)

    def search_train_function(self, function, feed):
        """Wraps Keras' train `function` so that each step receives
        `(training batch, search batch)` from `feed`."""
        raise NotImplementedError(
            f"The DAIS search does not run on the '{keras.backend.backend()}' "
            "backend."
        )

    def iterate(self, model, dataset):
        """An iterator over the `tf.data.Dataset` of search batches, in the
        form (and distribution) the train step expects."""
        return self.iterate_batches(model, dataset.as_numpy_iterator())

    def iterate_batches(self, model, batches):
        """An iterator over `batches` (an endless iterator of numpy
        batches), in the form (and distribution) the train step expects."""
        return batches

    def local_build_batch(self, model, iterator):
        """A batch to build `model` from before its first step, when Keras'
        own way (a distributed batch reduced across replicas) fails under
        the model's distribution; `None` leaves it to Keras."""
        return None

    def explain_error(self, model, error):
        """An error that says what went wrong and how to fix it, for a
        known backend failure `error` raised by `fit`; `None` leaves
        `error` as it is."""
        return None

    def read_variable(self, model, variable):
        """The current value of `variable` as numpy."""
        return keras.ops.convert_to_numpy(variable.value)

    def sync_variables(self, model):
        """Makes the model's variables hold the current values, also in the
        middle of a `fit`, so that they can be changed between steps."""


def alpha_variables(state):
    """The indicator step's variables of a `DAISModel`'s search `state`
    (`model._dais`): alphas, Adam moments, iterations (stateful steps
    snapshot and restore them)."""
    variables = [l.alpha for l in state.indicators]
    for m, v in state.moments:
        variables += [m, v]
    variables.append(state.vars["iterations"])
    return variables


@functools.cache
def get(backend=None):
    """The `SearchStep` of `backend` (default: `keras.backend.backend()`)."""
    backend = backend or keras.backend.backend()
    name = f"{__name__}_{backend}"
    if importlib.util.find_spec(name) is None:
        return SearchStep()
    return importlib.import_module(name).STEP


class ZipFeed:
    """Pairs each training batch with the next search batch of `feed`."""

    def __init__(self, iterator, feed):
        self._iterator = iterator
        self._feed = feed

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._iterator)
        return (batch, self._feed.next())
