"""CIFAR models: ResNets (option A/B), VGG-16-BN, MobileNetV2, and exact ports
of the pretrained CIFAR-10 ResNets of akamaster/pytorch_resnet_cifar10.

Every model takes raw RGB pixels in `[0, 255]`, normalises them in its first
layer and returns logits. Layer names are deterministic.

Example:

```python
from dais_keras import models
net = models.cifar_resnet(56, shortcut="A")
port = models.pretrained("resnet20")          # 91.6 % top-1 (exact subset)
vgg = models.get("vgg16", num_classes=100)
models.available()  # ['resnet20', ..., 'vgg16', 'mobilenet_v2']
```
"""

from dais_keras.models.layers import ZeroPadShortcut
from dais_keras.models.layers import input_normalization
from dais_keras.models.mobilenet import cifar_mobilenet_v2
from dais_keras.models.weights import PRETRAINED
from dais_keras.models.weights import WEIGHTS_ENV
from dais_keras.models.weights import available_pretrained
from dais_keras.models.weights import find_weights
from dais_keras.models.weights import load_pytorch_resnet_weights
from dais_keras.models.weights import pretrained
from dais_keras.models.registry import BUILDERS
from dais_keras.models.registry import available
from dais_keras.models.registry import get
from dais_keras.models.resnet import cifar_resnet
from dais_keras.models.vgg import cifar_vgg16
