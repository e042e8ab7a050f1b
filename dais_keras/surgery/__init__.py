"""Model surgery: rebuild a functional model with fewer channels.

`apply(indicator_model)` turns a model with (binarised) indicators into a plain
Keras model; `prune(model, keep)` removes the channels you name.
"""

from dais_keras.surgery.rebuild import apply
from dais_keras.surgery.rebuild import keep_from_indicators
from dais_keras.surgery.rebuild import prune
