#!/usr/bin/env python
"""Fine-tune a pretrained VGG-16 on a folder of images, one sub-folder per class.

The convolutions come from a weights file (a Lasagne model-zoo pickle, a
torchvision ``state_dict`` or convnet's own ``.npz``); the dense layers are
replaced by global average pooling and a new classifier, so any image size
works. The pretrained layers learn at a tenth of the new classifier's rate
(Nesterov momentum), the lowest ones can be frozen, and the training images
are randomly cropped and flipped. A quarter of each class is held out to
measure the accuracy.

Usage::

    python examples/finetune_vgg16.py flowers/ --weights vgg16.pkl --allow-pickle
    python examples/finetune_vgg16.py flowers/ --weights vgg16-397923af.pth --freeze-up-to conv3_3
    # a VGG-16 at 1/16 of the width, for a laptop CPU (weights of that width):
    python examples/finetune_vgg16.py shapes/ --weights small.npz --preprocessing caffe \\
        --width-multiplier 0.0625 --image-size 32 --epochs 10
"""
import argparse
import math
import time

import numpy as np
import pytensor
import pytensor.tensor as pt
from tqdm import tqdm

import convnet
from convnet import layers, objectives, updates
from convnet.augmentation import CenterCrop, Compose, RandomCrop, RandomFlip
from convnet.datasets import ImageFolder
from convnet.modelzoo import Preprocessing, freeze, load_weights, save_weights, split_params, vgg16

PREPROCESSINGS = {"caffe": Preprocessing.caffe, "torchvision": Preprocessing.torchvision}


def stratified_split(labels, valid_fraction, rng):
    """Indices of the training and validation images: ``valid_fraction`` of
    each class (at least one image) held out."""
    train, valid = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = max(1, math.ceil(valid_fraction * len(members)))
        valid.extend(members[:count])
        train.extend(members[count:])
    return np.array(train), np.array(valid)


def compile_functions(net, learning_rate):
    """The training step (two learning rates) and the validation function."""
    X, y = net["input"].input_var, pt.ivector("y")
    loss = objectives.categorical_crossentropy(layers.get_output(net["prob"]), y).mean()
    pretrained, new = split_params(net, ["fc8"])
    step = updates.nesterov_momentum(loss, new, learning_rate)
    step.update(updates.nesterov_momentum(loss, pretrained, 0.1 * learning_rate))
    train_fn = pytensor.function([X, y], loss, updates=step)
    prediction = layers.get_output(net["prob"], deterministic=True)
    valid_loss = objectives.categorical_crossentropy(prediction, y).mean()
    valid_fn = pytensor.function([X, y], [valid_loss, objectives.categorical_accuracy(prediction, y).mean()])
    return train_fn, valid_fn


def evaluate(valid_fn, batches):
    """The mean validation loss and accuracy over ``batches``."""
    totals, count = np.zeros(2), 0
    for Xb, yb in batches:
        totals += np.array(valid_fn(Xb, yb)) * len(yb)
        count += len(yb)
    return totals / count


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image_folder", help="a folder with one sub-folder of images per class")
    parser.add_argument("--weights", required=True,
                        help="pretrained VGG-16 weights: a Lasagne .pkl, a torchvision .pth or a convnet .npz")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="allow a Lasagne pickle (unpickling runs code from the file: trusted files only)")
    parser.add_argument("--preprocessing", choices=["auto", *PREPROCESSINGS], default="auto",
                        help="how the weights expect images (default: as the file says; needed for .npz)")
    parser.add_argument("--width-multiplier", type=float, default=1.0,
                        help="width of the VGG, that of the weights (default 1; 0.0625 for a laptop CPU)")
    parser.add_argument("--image-size", type=int, default=224, help="the network's input size (default 224)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--batch-size", type=int, default=16, help="mini-batch size (default 16)")
    parser.add_argument("--lr", type=float, default=0.01,
                        help="learning rate of the new classifier; the pretrained layers get a tenth (default 0.01)")
    parser.add_argument("--freeze-up-to", metavar="LAYER", help="do not train this layer and those below it")
    parser.add_argument("--valid-fraction", type=float, default=0.25,
                        help="fraction of each class held out for validation (default 0.25)")
    parser.add_argument("--mode", choices=["cpu", "c", "jax", "cuda"], default=None,
                        help="where to compile: cpu (Numba, default), c, jax (XLA; GPU if visible), cuda")
    parser.add_argument("--save", metavar="FILE", help="write the fine-tuned parameters to FILE (.npz)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.mode:
        convnet.config.set_device(args.mode)
    rng = np.random.default_rng(args.seed)
    convnet.random.set_rng(np.random.RandomState(args.seed))

    # Images are loaded a little larger (256 for 224) so that the random crops move.
    load_size = round(args.image_size * 256 / 224)
    try:
        images = ImageFolder(args.image_folder, load_size)
    except (OSError, ValueError) as e:
        raise SystemExit(f"finetune_vgg16.py: {e}") from None
    if len(images.class_names) < 2:
        raise SystemExit(f"finetune_vgg16.py: {args.image_folder} needs one sub-folder per class, at least two")
    labels, class_names = images.labels, images.class_names
    train, valid = stratified_split(labels, args.valid_fraction, rng)
    print(f"Data: {len(labels)} images of {len(class_names)} classes ({', '.join(class_names)}): "
          f"{len(train)} for training, {len(valid)} for validation")

    net = vgg16(num_classes=len(class_names), input_shape=(None, 3, args.image_size, args.image_size),
                head="global_pool", width_multiplier=args.width_multiplier)
    try:
        loaded = load_weights(net, args.weights, allow_pickle=args.allow_pickle, exclude=["fc6", "fc7", "fc8"])
    except ValueError as e:
        hint = " (--allow-pickle)" if "allow_pickle" in str(e) else ""
        raise SystemExit(f"finetune_vgg16.py: {e}{hint}") from None
    if args.preprocessing != "auto":
        net.preprocessing = PREPROCESSINGS[args.preprocessing]()
    elif loaded is None:
        raise SystemExit(f"finetune_vgg16.py: {args.weights} does not say how to pre-process images; "
                         "pass --preprocessing caffe or torchvision")
    print(f"Weights: {args.weights}, pre-processing {net.preprocessing}")
    if args.freeze_up_to:
        frozen = freeze(net, up_to=args.freeze_up_to)
        print(f"Frozen: {len(frozen)} parameters up to {args.freeze_up_to}")

    # The images are read from disk batch by batch, in background threads.
    augment = Compose([RandomCrop(args.image_size), RandomFlip()])
    batches = images.batch_iterator(train, batch_size=args.batch_size, shuffle=True, transform=augment,
                                    preprocess=net.preprocess, seed=args.seed)
    valid_batches = images.batch_iterator(valid, batch_size=args.batch_size, transform=CenterCrop(args.image_size),
                                          preprocess=net.preprocess)

    print(f"VGG-16 x {args.width_multiplier:g}: {layers.count_params(net['prob'], trainable=True):,} trainable "
          "parameters. Compiling...")
    learning_rate = pytensor.shared(np.float32(args.lr))
    train_fn, valid_fn = compile_functions(net, learning_rate)

    print(f"{'epoch':>5} | {'train loss':>10} | {'valid loss':>10} | {'valid acc':>9} | {'time':>7}")
    print("-" * 56)
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        total, count = 0.0, 0
        with tqdm(batches, total=len(batches), desc=f"epoch {epoch}", leave=False, disable=None,
                  unit="batch") as bar:
            for Xb, yb in bar:
                loss = float(train_fn(Xb, yb))
                total += loss * len(yb)
                count += len(yb)
                bar.set_postfix(loss=f"{loss:.4f}")
        valid_loss, valid_accuracy = evaluate(valid_fn, valid_batches)
        print(f"{epoch:>5} | {total / count:>10.6f} | {valid_loss:>10.6f} | {100 * valid_accuracy:>8.2f}% | "
              f"{time.perf_counter() - start:>6.1f}s", flush=True)

    print(f"Final validation accuracy: {100 * valid_accuracy:.2f} %")
    if args.save:
        save_weights(net, args.save)
        print(f"Parameters written to {args.save}")
    return valid_accuracy


if __name__ == "__main__":
    main()
