"""Classic architectures, their pretrained weights, and fine-tuning.

* Builders return a :class:`NetworkDict` of named layers (Lasagne's model-zoo
  names): :func:`vgg16`, :func:`vgg19` (any :func:`vgg` head and width) and
  :func:`resnet_cifar`.
* :func:`load_weights` reads Lasagne model-zoo pickles, torchvision
  ``state_dict`` files and convnet's own ``.npz`` (:func:`save_weights`) by
  layer name, all or nothing, and sets the matching :class:`Preprocessing`.
* :func:`load_pretrained` and :func:`fetch_weights` download the published
  VGG-16/19 weights (Lasagne Recipes, torchvision; :data:`PRETRAINED`) into
  the cache, verified against their checksums.
* :func:`replace_head`, :func:`freeze`, :func:`split_params` and
  :func:`fc_to_conv` adapt a pretrained network to a new task.

Examples
--------
>>> from convnet.modelzoo import vgg16, replace_head, split_params
>>> net = vgg16(input_shape=(None, 3, 64, 64), width_multiplier=1 / 16)
>>> net = replace_head(net, num_classes=3)
>>> pretrained, new = split_params(net, ['fc8'])
>>> net['prob'].output_shape, len(pretrained), len(new)
((None, 3), 26, 2)
"""
from .finetune import fc_to_conv, freeze, global_pool_head, replace_head, softmax_over_channels, split_params
from .network import NetworkDict
from .pretrained import PRETRAINED, PretrainedWeights, fetch_weights, load_pretrained
from .preprocessing import CAFFE_VGG_MEAN_BGR, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, Preprocessing
from .resnet import resnet_cifar
from .vgg import VGG_CONFIGS, vgg, vgg16, vgg19, vgg_weight_layer_names
from .weights import WEIGHT_FORMATS, Weights, load_weights, read_weights, save_weights

__all__ = [
    "NetworkDict",
    "Preprocessing",
    "CAFFE_VGG_MEAN_BGR",
    "IMAGENET_MEAN_RGB",
    "IMAGENET_STD_RGB",
    "VGG_CONFIGS",
    "vgg",
    "vgg16",
    "vgg19",
    "vgg_weight_layer_names",
    "resnet_cifar",
    "WEIGHT_FORMATS",
    "Weights",
    "read_weights",
    "load_weights",
    "save_weights",
    "PRETRAINED",
    "PretrainedWeights",
    "fetch_weights",
    "load_pretrained",
    "global_pool_head",
    "replace_head",
    "freeze",
    "split_params",
    "fc_to_conv",
    "softmax_over_channels",
]
