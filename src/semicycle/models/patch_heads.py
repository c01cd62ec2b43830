"""CUT's projection heads (Park et al. 2020, sec. 3.2): per encoder layer l, a two-layer MLP H_l (Linear - ReLU -
Linear, ``units`` wide, then L2 normalisation) applied to the layer's features at sampled spatial locations."""

import torch
import torch.nn.functional as F
from torch import nn


def sample_locations(features: list[torch.Tensor], count: int, generator: torch.Generator) -> list[torch.Tensor]:
    """For each (N, C, H, W) feature map, ``count`` distinct locations of its H x W grid (every location where the map
    has fewer), drawn from ``generator``; the same locations for every image of the batch (sec. 3.2: S locations)."""
    return [torch.randperm(f.shape[-2] * f.shape[-1], generator=generator)[:count].to(f.device) for f in features]


class PatchProjection(nn.Module):
    """The MLP heads H_l of every layer CUT compares: ``forward(features, locations)`` gives, per layer, the (N, S,
    units) unit vectors z_l^s = H_l(F_l(x)^s) / ||H_l(F_l(x)^s)|| at the S locations of ``locations``. ``arch`` is
    stored in checkpoints like a registry network's."""

    def __init__(self, channels: tuple[int, ...] | list[int], units: int = 256):
        super().__init__()
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(c, units), nn.ReLU(True), nn.Linear(units, units)) for c in channels)
        self.arch = {"name": "patch_projection", "kwargs": {"channels": list(channels), "units": units}}

    def forward(self, features: list[torch.Tensor], locations: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for head, feature, where in zip(self.heads, features, locations):
            patches = feature.flatten(2).transpose(1, 2)[:, where]  # (N, S, C)
            out.append(F.normalize(head(patches).float(), dim=-1))
        return out
