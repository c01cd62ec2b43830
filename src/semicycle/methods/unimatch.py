"""UniMatch (Yang et al., CVPR 2023, "Revisiting weak-to-strong consistency in semi-supervised semantic
segmentation"): the photo -> label segmenter of ``paired.task=segment``, trained on the pairs and on unlabelled
photos by weak-to-strong consistency. FixMatch (Sohn et al. 2020) is its special case: one strong view and no
feature perturbation (``unimatch.strong_views=1 unimatch.feature_perturbation=off``).

Each step takes pairs (x_l, y_l) and unlabelled photos x_w (the weak view: crop and flip), and computes

    p_w  = softmax G(x_w)          pseudo-labels argmax p_w, kept where max p_w >= tau (no gradient)
    p_fp = G_dec(Dropout2d(G_enc(x_w)))              the feature-perturbed weak view (FP stream, sec. 3.2)
    p_s1, p_s2 = G(x_s1), G(x_s2)                    two strong views (sec. 3.3): colour jitter, grayscale,
                 blur, each CutMixed with the next unlabelled photo by its own box, the pseudo-labels and the
                 confidence mask cut by the same box (French et al. 2020)

    L = L_s + weight_fp * L_fp + weight_strong * (L_s1 + L_s2)

L_s: cross-entropy on the pairs, void ignored (as ``paired.task=segment``); L_fp, L_s1, L_s2: the masked
cross-entropy of sec. 3.1 (:func:`~semicycle.losses.masked_cross_entropy`) against the (mixed) pseudo-labels.
The paper's unsupervised loss (sec. 3.3) is L_u = lambda L_fp + (1 - lambda) / 2 (L_s1 + L_s2) with lambda = 0.5:
the defaults 0.5 and 0.25. Its total, (L_s + L_u) / 2 (sec. 3.1), is L halved, which Adam's steps do not see
(up to its epsilon).

Batches: ``train.batch_size`` unlabelled photos (the unpaired stream of domain A, as every semi-supervised
method) and ``pairs.batch_size`` pairs at every step, the pairs replicated over the epoch (as mondal). The strong
views and CutMix boxes come with the batch (:class:`~semicycle.data.batches.StrongViewBatches`), a function of
(seed, epoch, step), so resumed runs see the same views; the FP stream's dropout draws from torch's generator,
which checkpoints hold. CutMix mixes within a process's batch: one unlabelled photo per process mixes with itself.

Feature perturbation needs a network whose encoder splits from its decoder (``separable_encoder``: resnet_*,
mobilenet_v2_unet). The U-Nets interleave encoder and decoder in nested skip blocks, so no single set of encoder
features feeds the decoder: ``feature_perturbation=auto`` skips the stream for them (saying so), ``on`` refuses.
"""

from __future__ import annotations

import sys

import torch

from .. import losses
from ..data.augment import cutmix
from ..data.batches import StrongViewBatches
from ..errors import ConfigError
from ..method_settings import UniMatchSettings
from .base import Method, replicated_pairs_batches, segmentation_network


def pseudo_labels(logits: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K, H, W) logits of the weak view -> (argmax classes, max softmax >= ``threshold``), both (N, H, W)."""
    confidence, classes = torch.softmax(logits.detach().float(), dim=1).max(dim=1)
    return classes, confidence >= threshold


def perturbation_dropout(settings: UniMatchSettings, network) -> float | None:
    """The FP stream's dropout probability for ``network``, or None where the stream is off."""
    splits = getattr(network, "separable_encoder", False)
    if settings.feature_perturbation == "on" and not splits:
        raise ConfigError(f"unimatch.feature_perturbation=on needs an encoder that splits from the decoder, which "
                          f"{network.arch['name']} lacks; use a resnet_* or mobilenet_v2_unet generator, or feature_perturbation=auto")
    if settings.feature_perturbation == "off" or not splits or settings.weight_fp == 0:
        return None
    return settings.feature_dropout


class UniMatch(Method):
    name = "unimatch"

    @classmethod
    def make_batches(cls, cfg, sets, rank=0, world_size=1):
        if sets.palette is None:
            raise ConfigError("unimatch trains a segmenter on class labels: set data.palette (facades, cityscapes, ...) "
                              "or data.dataset=cmp; for image -> image translation use okada or shukla")
        if cfg.data.direction != "AtoB":
            raise ConfigError("unimatch maps images (A) to labels (B): set data.direction=AtoB")
        u = cfg.unimatch
        joint = replicated_pairs_batches(cfg, sets, rank, world_size, needed_by="unimatch")
        return StrongViewBatches(joint, u.strong_views, u.cutmix_prob)

    def __init__(self, cfg, sets, runtime):
        super().__init__(cfg, sets, runtime)
        segmenter = segmentation_network(cfg, self.palette, runtime)
        self.networks = {"G_IS": segmenter}
        self.translators = {"AtoB": "G_IS"}
        self.optimizers = {"G": self.adam(segmenter)}
        self.feature_dropout = perturbation_dropout(cfg.unimatch, segmenter)
        u = cfg.unimatch
        if u.feature_perturbation == "auto" and u.weight_fp and self.feature_dropout is None and runtime.is_main:
            print(f"unimatch: {segmenter.arch['name']} has no encoder that splits from its decoder; training without "
                  "the feature-perturbation stream", file=sys.stderr)

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        u, G = self.cfg.unimatch, self.replicas["G_IS"]
        pairs, weak = batch.pairs, batch.images.A
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            terms = {"ce": losses.pixel_cross_entropy(G(pairs.A), pairs.labels_B, share=self.runtime.mean_over_processes)}
            if self.feature_dropout is None:
                with torch.no_grad():
                    weak_logits = G(weak)
            else:  # one encoder pass: the decoder reads the clean features (-> pseudo-labels) and the dropped ones
                weak_logits, fp_logits = G(weak, feature_dropout=self.feature_dropout).chunk(2)
            labels, confident = pseudo_labels(weak_logits, u.threshold)
            if self.feature_dropout is not None:
                terms["fp"] = u.weight_fp * losses.masked_cross_entropy(fp_logits, labels, confident)
            if u.weight_strong:
                for view, (strong, box) in enumerate(zip(batch.strong, batch.boxes), start=1):
                    mixed, mixed_labels, mixed_confident = cutmix(box, strong, labels, confident)
                    terms[f"strong{view}"] = u.weight_strong * losses.masked_cross_entropy(G(mixed), mixed_labels, mixed_confident)
        self.optimize("G", sum(terms.values()))
        return {**{k: v.detach() for k, v in terms.items()}, "confident": confident.float().mean()}
