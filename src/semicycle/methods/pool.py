"""Image pool (Shrivastava et al. 2017; CycleGAN sec. 4): discriminators see a history of fakes."""

from __future__ import annotations

import torch


class ImagePool:
    """Keep up to ``size`` generated images; each query returns, per image, with probability 0.5
    a stored older image (replacing it by the new one) once the pool is full.

    The pool has its own random generator, saved in checkpoints, so resumed runs are exact. Images are
    kept and returned in float32 whatever the training precision (bf16 fakes are widened exactly).
    """

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images.float()
        out = []
        for image in images.detach().float():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand((), generator=self.generator)) < 0.5:
                slot = int(torch.randint(0, self.size, (1,), generator=self.generator))
                out.append(self.images[slot].clone())
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        stored = torch.cat(self.images, 0).cpu() if self.images else torch.empty(0)
        return {"images": stored, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        stored = state["images"]
        self.images = [img.unsqueeze(0).to(device) for img in stored] if stored.numel() else []
        self.generator.set_state(state["generator"])
