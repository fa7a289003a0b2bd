"""examples/finetune_vgg16.py runs end to end on a generated image folder,
with generated weights of a reduced VGG-16 in the Lasagne pickle format."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .zoo_helpers import WIDTH, lasagne_param_values, small_vgg16, write_lasagne_pickle

EXAMPLE = Path(__file__).parents[2] / "examples" / "finetune_vgg16.py"


def make_shapes_folder(root, per_class=12, size=32, seed=0):
    """Two classes of coloured shapes on noisy backgrounds, saved as PNG."""
    Image = pytest.importorskip("PIL.Image")
    ImageDraw = pytest.importorskip("PIL.ImageDraw")
    rng = np.random.default_rng(seed)
    for shape in ("circle", "square"):
        (root / shape).mkdir(parents=True)
        for i in range(per_class):
            background = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            image = Image.fromarray(background)
            draw = ImageDraw.Draw(image)
            x, y = rng.integers(4, 12, 2)
            r = int(rng.integers(8, 12))
            colour = tuple(int(c) for c in rng.integers(150, 256, 3))
            (draw.ellipse if shape == "circle" else draw.rectangle)([x, y, x + 2 * r, y + 2 * r], fill=colour)
            image.save(root / shape / f"{shape}{i:02d}.png")


def run_example(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTENSOR_FLAGS": "mode=FAST_COMPILE"}
    env.pop("CONVNET_DEVICE", None)
    return subprocess.run([sys.executable, str(EXAMPLE), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.fixture
def data(tmp_path):
    make_shapes_folder(tmp_path / "shapes")
    weights = tmp_path / "vgg16_small.pkl"
    write_lasagne_pickle(weights, lasagne_param_values(small_vgg16(num_classes=1000)))
    return tmp_path / "shapes", weights


def test_finetune_example_end_to_end(data, tmp_path):
    folder, weights = data
    saved = tmp_path / "finetuned.npz"
    result = run_example(folder, "--weights", weights, "--allow-pickle", "--width-multiplier", WIDTH,
                         "--image-size", 32, "--epochs", 2, "--batch-size", 8, "--freeze-up-to", "conv1_2",
                         "--save", saved)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "24 images of 2 classes (circle, square): 18 for training, 6 for validation" in out
    assert "pre-processing Preprocessing(channel_order='BGR'" in out
    assert "Frozen: 4 parameters up to conv1_2" in out
    assert re.search(r"^\s+2 \| +[\d.]+ \| +[\d.]+ \| +[\d.]+% \| +[\d.]+s$", out, re.MULTILINE), out
    accuracy = float(re.search(r"Final validation accuracy: ([\d.]+) %", out).group(1))
    assert 0 <= accuracy <= 100
    with np.load(saved) as archive:
        assert archive["fc8.W"].shape == (32, 2)


def test_finetune_example_refuses_a_pickle_without_allow_pickle(data):
    folder, weights = data
    result = run_example(folder, "--weights", weights, "--width-multiplier", WIDTH, "--image-size", 32)
    assert result.returncode != 0
    assert "unpickling runs code stored in the file: pass allow_pickle=True" in result.stderr
