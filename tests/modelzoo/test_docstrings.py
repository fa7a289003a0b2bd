"""The examples in convnet.modelzoo's docstrings run as written."""
import doctest
import importlib

import pytest

MODULES = ["convnet.modelzoo", "convnet.modelzoo.finetune", "convnet.modelzoo.network",
           "convnet.modelzoo.preprocessing", "convnet.modelzoo.resnet", "convnet.modelzoo.vgg",
           "convnet.modelzoo.weights"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
