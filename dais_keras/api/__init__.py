"""`dais_keras.prune` and the pipeline behind it.

* `one_call`: `prune`, the whole pipeline in one call;
* `pipeline`: `run_pipeline`, the one driver of evaluate -> prune ->
  evaluate -> fine-tune -> evaluate (used by `prune`, the `dais` command,
  the demo and the benchmarks);
* `pruners`: the pruning step, DAIS (`DAISSearch`) or a baseline;
* `report`: `PruneReport`.
"""

from dais_keras.api.one_call import prune
from dais_keras.api.pipeline import PipelineResult
from dais_keras.api.pipeline import run_pipeline
from dais_keras.api.pruners import BaselinePruning
from dais_keras.api.pruners import DAISSearch
from dais_keras.api.pruners import Pruning
from dais_keras.api.report import PruneReport
from dais_keras.finetune.accuracy import accuracy
from dais_keras.finetune.inputs import DEFAULT_SEARCH_FRACTION
from dais_keras.finetune.inputs import split_search

__all__ = [
    "BaselinePruning",
    "DAISSearch",
    "DEFAULT_SEARCH_FRACTION",
    "PipelineResult",
    "PruneReport",
    "Pruning",
    "accuracy",
    "prune",
    "run_pipeline",
    "split_search",
]
