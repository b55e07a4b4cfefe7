"""Network definitions: Meso-4 (the reference peer) and SepNet (our default).

Both are plain Keras 3 functional models with no backend-specific ops, so a
model trained on another Keras backend loads here under TensorFlow.
"""

from __future__ import annotations

import keras
from keras import layers

MESO4_INPUT = 256


def meso4() -> keras.Model:
    """Meso-4 as described by Afchar et al. (WIFS 2018). Output: P(real).

    Layer names match the ones stored in the published weight files, so
    ``load_weights(..., by_name)``-style loading is unambiguous even though
    several convolutions share a shape.
    """
    x_in = keras.Input((MESO4_INPUT, MESO4_INPUT, 3), name="input_1")
    x = x_in
    specs = [(8, 3, 2), (8, 5, 2), (16, 5, 2), (16, 5, 4)]
    for i, (filters, kernel, pool) in enumerate(specs, start=1):
        x = layers.Conv2D(filters, kernel, padding="same", activation="relu", name=f"conv2d_{i + 4}")(x)
        x = layers.BatchNormalization(name=f"batch_normalization_{i + 4}")(x)
        x = layers.MaxPooling2D(pool, padding="same", name=f"max_pooling2d_{i}")(x)
    x = layers.Flatten(name="flatten_1")(x)
    x = layers.Dropout(0.5, name="dropout_1")(x)
    x = layers.Dense(16, name="dense_3")(x)
    x = layers.LeakyReLU(negative_slope=0.1, name="leaky_re_lu_1")(x)
    x = layers.Dropout(0.5, name="dropout_2")(x)
    out = layers.Dense(1, activation="sigmoid", name="dense_4")(x)
    return keras.Model(x_in, out, name="meso4")


def _sep_block(x, filters: int, stride: int, name: str):
    """Two depthwise-separable convolutions with a residual shortcut."""
    shortcut = x
    y = layers.SeparableConv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_sep1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_sep2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(shortcut)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def sepnet(input_size: int = 160, widths: tuple[int, ...] = (32, 64, 128, 192), dropout: float = 0.3) -> keras.Model:
    """Small Xception-style network for face-swap detection. Output: logit of P(fake).

    Why this shape: face-swap artefacts are local (blending seams, texture and
    resolution mismatch), so a fully convolutional stack of cheap
    depthwise-separable blocks with global pooling fits them at a cost that
    trains on two CPU cores. The model outputs a logit (no sigmoid) so that
    temperature calibration is a plain division.
    """
    x_in = keras.Input((input_size, input_size, 3), name="image")
    # Inputs arrive in [0, 1]; centre them so the first conv starts balanced.
    x = layers.Rescaling(2.0, offset=-1.0, name="centre")(x_in)
    x = layers.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, filters in enumerate(widths):
        x = _sep_block(x, filters, stride=1 if i == 0 else 2, name=f"block{i + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    logit = layers.Dense(1, name="logit")(x)
    return keras.Model(x_in, logit, name="sepnet")


# What ``deepfake train`` can build: networks whose output is the logit of P(fake). Meso-4 is not
# among them: it exists to load the published MesoNet weights, whose output is P(real).
ARCHITECTURES = {"sepnet": sepnet}
