"""ESPNet (Mehta et al., ECCV 2018), p=2, q=8, 20 classes: the fixed Cityscapes segmenter of the
label -> photo FCN-score.

The module is written from the paper and the key layout of the released weights
(``espnet_p_2_q_8_cityscapes.pth``; layout and preprocessing in ``shared/weights/README.md``);
its ``state_dict`` loads *strict* from that file. The file has no ``num_batches_tracked``
buffers (it predates them); ``BatchNorm2d`` fills them in on load, so strict loading holds.

:class:`EspnetScorer` does the exact preprocessing of the released evaluation script:
RGB -> **BGR**, float 0..255, subtract the BGR mean, divide by the BGR std, resize to 1024x512
(bilinear, half-pixel centres: OpenCV's ``INTER_LINEAR``), **then divide by 255**. Logits come
out at 1024x512; the scorer resizes the *logits* back to the input resolution (bilinear,
half-pixel centres, no antialiasing) and takes the argmax there (a smoother choice than
nearest-neighbour on the full-resolution argmax; the two differ by < 0.003 in every score on
the 100-image check). Class 19 (void) becomes ``ignore_index`` (255).

How the FCN-score turns these predictions into numbers (which ground-truth pixels count, and
what a void prediction means) is in :mod:`semicycle.evaluation.fcn`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from semicycle.errors import SemicycleError

NUM_CLASSES = 20  # 19 Cityscapes trainIds + void
VOID_CLASS = 19
INPUT_SIZE = (512, 1024)  # (H, W) the network was trained and evaluated at
MEAN_BGR = (72.3923111, 82.90893555, 73.15840149)
STD_BGR = (45.3192215, 46.15289307, 44.91483307)
WEIGHTS_CONFIG_KEY = "eval.segmenter_weights"
DEFAULT_WEIGHTS_NAME = "espnet_p_2_q_8_cityscapes.pth"


# --------------------------------------------------------------------------- building blocks
class _Conv(nn.Module):
    """Bias-free 'same' convolution, kept in a ``.conv`` attribute (the weights' key layout)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        pad = (kernel - 1) // 2 * dilation
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, pad, dilation=dilation, bias=False)

    def forward(self, x):
        return self.conv(x)


class _BnAct(nn.Module):
    """BatchNorm (eps 1e-3) then PReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=1e-3)
        self.act = nn.PReLU(channels)

    def forward(self, x):
        return self.act(self.bn(x))


class _ConvBnAct(_BnAct):
    """Convolution, BatchNorm (eps 1e-3), PReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(c_out)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, bias=False)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class _EspBranches(nn.Module):
    """Reduce (``c1``), split into dilated 3x3 branches d1..d16, merge hierarchically.

    With n = out // 5 and n1 = out - 4n, d1 gives n1 channels and the others n each; the
    merge is ``cat[d1, d2, d2+d4, d2+d4+d8, d2+d4+d8+d16]`` (sums undo gridding artefacts).
    """

    def __init__(self, c_in: int, c_out: int, reduce_kernel: int, reduce_stride: int):
        super().__init__()
        n = c_out // 5
        n1 = c_out - 4 * n
        self.c1 = _Conv(c_in, n, reduce_kernel, reduce_stride)
        self.d1 = _Conv(n, n1, 3, dilation=1)
        self.d2 = _Conv(n, n, 3, dilation=2)
        self.d4 = _Conv(n, n, 3, dilation=4)
        self.d8 = _Conv(n, n, 3, dilation=8)
        self.d16 = _Conv(n, n, 3, dilation=16)

    def branches(self, x):
        reduced = self.c1(x)
        s2 = self.d2(reduced)
        s4 = s2 + self.d4(reduced)
        s8 = s4 + self.d8(reduced)
        s16 = s8 + self.d16(reduced)
        return torch.cat([self.d1(reduced), s2, s4, s8, s16], dim=1)


class _EspDown(_EspBranches):
    """Strided ESP block (3x3 stride-2 reduction), then BN + PReLU (keys ``bn``, ``act``)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, reduce_kernel=3, reduce_stride=2)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)
        self.act = nn.PReLU(c_out)

    def forward(self, x):
        return self.act(self.bn(self.branches(x)))


class _Esp(_EspBranches):
    """ESP block with a 1x1 reduction, optional identity residual, then ``bn`` = BN + PReLU."""

    def __init__(self, c_in: int, c_out: int, residual: bool = True):
        super().__init__(c_in, c_out, reduce_kernel=1, reduce_stride=1)
        self.bn = _BnAct(c_out)
        self.residual = residual

    def forward(self, x):
        merged = self.branches(x)
        return self.bn(x + merged if self.residual else merged)


def _pyramid(x, times: int):
    for _ in range(times):
        x = F.avg_pool2d(x, 3, stride=2, padding=1)  # count_include_pad, as nn.AvgPool2d
    return x


class EspnetEncoder(nn.Module):
    """ESPNet-C: three levels at 1/2, 1/4 and 1/8 resolution with input-image reinforcement."""

    def __init__(self, classes: int = NUM_CLASSES, p: int = 2, q: int = 8):
        super().__init__()
        self.level1 = _ConvBnAct(3, 16, 3, stride=2)
        self.b1 = _BnAct(16 + 3)
        self.level2_0 = _EspDown(16 + 3, 64)
        self.level2 = nn.ModuleList(_Esp(64, 64) for _ in range(p))
        self.b2 = _BnAct(128 + 3)
        self.level3_0 = _EspDown(128 + 3, 128)
        self.level3 = nn.ModuleList(_Esp(128, 128) for _ in range(q))
        self.b3 = _BnAct(256)
        self.classifier = _Conv(256, classes, 1)

    def features(self, image):
        """Return (1/2-res features, 1/4-res concat, 1/8-res concat) for the decoder."""
        out0 = self.level1(image)
        cat0 = self.b1(torch.cat([out0, _pyramid(image, 1)], dim=1))
        out1_0 = self.level2_0(cat0)
        out1 = out1_0
        for block in self.level2:
            out1 = block(out1)
        cat1 = self.b2(torch.cat([out1, out1_0, _pyramid(image, 2)], dim=1))
        out2_0 = self.level3_0(cat1)
        out2 = out2_0
        for block in self.level3:
            out2 = block(out2)
        cat2 = self.b3(torch.cat([out2_0, out2], dim=1))
        return out0, cat1, cat2

    def forward(self, image):
        return self.classifier(self.features(image)[2])


class Espnet(nn.Module):
    """ESPNet: the ESPNet-C encoder plus the light decoder that upsamples to full resolution.

    Input: preprocessed (N, 3, H, W) with H, W multiples of 8; output: logits (N, 20, H, W).
    """

    def __init__(self, classes: int = NUM_CLASSES, p: int = 2, q: int = 8):
        super().__init__()
        self.encoder = EspnetEncoder(classes, p, q)
        self.level3_C = _Conv(128 + 3, classes, 1)
        self.br = nn.BatchNorm2d(classes, eps=1e-3)
        self.conv = _ConvBnAct(16 + classes, classes, 3)
        self.up_l3 = nn.Sequential(nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False))
        self.combine_l2_l3 = nn.Sequential(
            _BnAct(2 * classes), _Esp(2 * classes, classes, residual=False)
        )
        self.up_l2 = nn.Sequential(
            nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False), _BnAct(classes)
        )
        self.classifier = nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False)

    def forward(self, image):
        out0, cat1, cat2 = self.encoder.features(image)
        up3 = self.up_l3(self.br(self.encoder.classifier(cat2)))
        up2 = self.up_l2(self.combine_l2_l3(torch.cat([self.level3_C(cat1), up3], dim=1)))
        return self.classifier(self.conv(torch.cat([up2, out0], dim=1)))


# --------------------------------------------------------------------------- scorer
def load_espnet(weights_path: str | os.PathLike, device: str | torch.device = "cpu") -> Espnet:
    """Build :class:`Espnet` and load the released Cityscapes weights strictly (no code runs)."""
    path = Path(weights_path)
    if not path.is_file():
        raise SemicycleError(
            f"{path}: segmenter weights not found; set {WEIGHTS_CONFIG_KEY}=PATH to "
            f"{DEFAULT_WEIGHTS_NAME} (sacmehta/ESPNet pretrained/decoder/espnet_p_2_q_8.pth)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, non-tensor content
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SemicycleError(
            f"{path}: cannot read the segmenter weights ({reason}); re-download the file or "
            f"set {WEIGHTS_CONFIG_KEY} to another copy"
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    model = Espnet()
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SemicycleError(
            f"{path}: not the ESPNet p=2 q=8 Cityscapes state_dict ({reason}); set "
            f"{WEIGHTS_CONFIG_KEY} to espnet_p_2_q_8.pth"
        ) from exc
    return model.eval().to(device)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (N, 3, H, W) -> the network input (N, 3, 512, 1024), as the released script.

    BGR order, ``(x - mean) / std`` on 0..255 values, bilinear resize to 1024x512 (half-pixel
    centres, no antialiasing: OpenCV ``INTER_LINEAR``), then ``/ 255``.
    """
    x = images.flip(1).float()  # RGB -> BGR
    mean = x.new_tensor(MEAN_BGR).view(1, 3, 1, 1)
    std = x.new_tensor(STD_BGR).view(1, 3, 1, 1)
    x = (x - mean) / std
    if tuple(x.shape[-2:]) != INPUT_SIZE:
        x = F.interpolate(x, size=INPUT_SIZE, mode="bilinear", align_corners=False)
    return x / 255.0


class EspnetScorer:
    """Segments photos with the fixed ESPNet into Cityscapes trainIds (the FCN-score segmenter).

    ``segment(images)`` takes uint8 RGB (N, 3, H, W) of any size and returns long (N, H, W):
    trainIds 0..18, and ``ignore_index`` where ESPNet predicts void (class 19).
    """

    num_classes = NUM_CLASSES - 1
    protocol = (
        "ESPNet p=2 q=8 (Mehta et al. 2018, Cityscapes weights) on the photo resized to 1024x512 "
        "(bilinear; BGR mean/std as released), logits resized back to the label resolution "
        "(bilinear), argmax; void -> ignore"
    )

    def __init__(
        self,
        weights_path: str | os.PathLike,
        device: str | torch.device = "cpu",
        batch_size: int = 4,
        ignore_index: int = 255,
    ) -> None:
        self.device = torch.device(device)
        self.model = load_espnet(weights_path, self.device)
        self.weights_path = Path(weights_path)
        self.batch_size = max(1, int(batch_size))
        self.ignore_index = ignore_index
        if self.device.type == "cpu":  # oneDNN: ~1.0 instead of ~1.5 s/image on 2 cores
            self.model = self.model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Raw logits (N, 20, 512, 1024) of uint8 RGB images (N, 3, H, W)."""
        _check_images(images)
        x = preprocess(images.to(self.device))
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    @torch.inference_mode()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """trainId maps (N, H, W) long at the input resolution; void -> ``ignore_index``."""
        _check_images(images)
        height, width = images.shape[-2:]
        outputs = []
        for start in range(0, images.shape[0], self.batch_size):
            logits = self.logits(images[start : start + self.batch_size])
            if tuple(logits.shape[-2:]) != (height, width):
                logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
            labels = logits.argmax(dim=1)
            labels[labels == VOID_CLASS] = self.ignore_index
            outputs.append(labels.cpu())
        return torch.cat(outputs) if outputs else torch.empty(0, height, width, dtype=torch.long)


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 \
            or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        dtype = images.dtype if isinstance(images, torch.Tensor) else ""
        raise TypeError(f"expected uint8 RGB images (N, 3, H, W), got {dtype} {shape}")
