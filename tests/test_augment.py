"""The augmentations of data/augment.py: CutMix moves images and pseudo-labels together, the strong pair
augmentation (paired.augment=strong) keeps label maps to their classes and photo and label aligned."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from semicycle.data import load_data
from semicycle.data.augment import CUTMIX_AREA, cutmix, cutmix_box, photometric
from semicycle.data.batches import PairedBatches
from semicycle.data.transforms import to_float
from semicycle.engine.trainer import train
from semicycle.errors import ConfigError
from tiny_runs import tiny_config


def test_cutmix_moves_image_and_pseudo_label_pixels_together():
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (4, 32, 32), generator=gen)
    images = labels.float()[:, None].expand(-1, 3, -1, -1) / 4 * 2 - 1  # each pixel's colour says its class
    confident = torch.rand(4, 32, 32, generator=gen) > 0.5
    boxes = torch.stack([cutmix_box(32, 32, gen, prob=1.0) for _ in range(3)] + [cutmix_box(32, 32, gen, prob=0.0)])
    areas = boxes.float().mean((1, 2))
    assert ((areas[:3] >= CUTMIX_AREA[0] * 0.5) & (areas[:3] <= CUTMIX_AREA[1] * 1.2)).all() and areas[3] == 0
    mixed_images, mixed_labels, mixed_confident = cutmix(boxes, images, labels, confident)
    # the colour still says the class everywhere: image and pseudo-label pixels moved by the same box
    assert torch.equal(((mixed_images[:, 0] + 1) / 2 * 4).round().long(), mixed_labels)
    partner = [1, 2, 3, 0]
    for i in range(4):
        inside = boxes[i]
        assert torch.equal(mixed_labels[i][inside], labels[partner[i]][inside])
        assert torch.equal(mixed_confident[i][inside], confident[partner[i]][inside])
        assert torch.equal(mixed_labels[i][~inside], labels[i][~inside])
        assert torch.equal(mixed_confident[i][~inside], confident[i][~inside])
    assert torch.equal(mixed_images[3], images[3])  # no box: unchanged


def test_photometric_views_change_colours_not_geometry():
    photo = torch.rand(3, 32, 32) * 2 - 1
    photo[:, :, :16] = -1  # a dark left half
    views = [photometric(photo, torch.Generator().manual_seed(seed), blur_prob=0.0) for seed in range(8)]
    assert all(v.shape == photo.shape and v.min() >= -1 and v.max() <= 1 for v in views)
    assert sum(not torch.allclose(v, photo) for v in views) >= 5  # jitter 0.8, grayscale 0.2
    assert all(v[:, :, :16].mean() < v[:, :, 16:].mean() for v in views)  # the dark half stays where it was


def strong_pairs(data, count: int = 8, seed: int = 0, augment: str = "strong") -> PairedBatches:
    return PairedBatches(data, list(range(count)), count, 32, True, seed, augment=augment)


def test_strong_pair_augmentation_keeps_label_maps_to_palette_classes(synthetic_root, tmp_path):
    data = load_data(tiny_config(tmp_path, synthetic_root, "data.palette=synthetic").data, "train", tmp_path, progress=False)
    palette_colours = {tuple(c) for c in data.palette.colors}
    plain = strong_pairs(data, augment="none").items(0, range(8))
    for epoch in range(3):
        pairs = strong_pairs(data, seed=epoch).items(epoch, range(8))
        assert pairs.A.shape == pairs.B.shape == (8, 3, 32, 32) and pairs.labels_B.shape == (8, 32, 32)
        assert set(pairs.labels_B.unique().tolist()) <= set(range(data.palette.num_classes)) | {data.palette.ignore_index}
        colours = ((pairs.B + 1) * 127.5).round().long().permute(0, 2, 3, 1).reshape(-1, 3).unique(dim=0)
        assert {tuple(c) for c in colours.tolist()} <= palette_colours  # no blended colour in the rendering
        assert torch.equal(data.palette.to_index(((pairs.B + 1) * 127.5).round().to(torch.uint8)), pairs.labels_B)
    assert not torch.equal(plain.labels_B, strong_pairs(data).items(0, range(8)).labels_B)  # it does rescale


def test_strong_pair_augmentation_keeps_photo_and_label_aligned():
    """A gray photo whose brightness encodes its class: after scale, crop, flip and jitter, the pixels of each class
    (away from class borders, which resizing blends) share one brightness, and brightness still orders the classes."""
    gen = torch.Generator().manual_seed(1)
    labels = F.interpolate(torch.randint(0, 4, (6, 1, 6, 6), generator=gen).float(), size=(48, 48), mode="nearest")[:, 0]
    levels = torch.tensor([0.35, 0.45, 0.55, 0.65]) * 255
    photos = levels[labels.long()].round().to(torch.uint8)[:, None].expand(-1, 3, -1, -1).contiguous()
    data = SimpleNamespace(A=photos, B=photos.clone(), labels_B=labels.to(torch.uint8))
    for epoch in range(4):
        pairs = PairedBatches(data, list(range(6)), 6, 32, True, seed=epoch, augment="strong").items(epoch, range(6))
        label = pairs.labels_B
        padded = F.pad(label[:, None].float(), (2, 2, 2, 2), mode="replicate")
        interior = (F.max_pool2d(padded, 5, 1) == -F.max_pool2d(-padded, 5, 1))[:, 0]  # 5x5 of one class
        for photo, classes, inner in zip(pairs.A.mean(1), label, interior):
            means = []
            for c in classes[inner].unique().tolist():
                values = photo[inner & (classes == c)]
                assert values.std(unbiased=False) < 0.02, (epoch, c)
                means.append(values.mean())
            assert means == sorted(means), epoch


@pytest.mark.parametrize("augment", ["none", "strong"])
def test_pairs_without_strong_augmentation_are_crop_and_flip_as_before(augment, synthetic_root, tmp_path):
    data = load_data(tiny_config(tmp_path, synthetic_root, "data.palette=synthetic").data, "train", tmp_path, progress=False)
    pairs = strong_pairs(data, augment=augment).items(0, range(8))
    crops_of_the_original = [any(torch.equal(pairs.A[i], to_float(data.A[row][:, t : t + 32, l : l + 32]).flip(-1) if f else
                                             to_float(data.A[row][:, t : t + 32, l : l + 32]))
                                 for t in range(5) for l in range(5) for f in (False, True)) for i, row in enumerate(pairs.rows_A)]
    assert all(crops_of_the_original) == (augment == "none")


def test_a_paired_segmenter_trains_with_strong_augmentation_and_pix2pix_refuses_it(synthetic_root, tmp_path):
    common = ("train.method=paired", "data.max_images=8", "train.max_steps=2", "log.sample_every=0", "log.log_every=1")
    train(tiny_config(tmp_path / "seg", synthetic_root, *common, "paired.task=segment", "paired.augment=strong"))
    state = torch.load(tmp_path / "seg" / "ckpt" / "latest.pt", weights_only=True)
    assert state["progress"]["iteration"] == 2 and state["config"]["paired"]["augment"] == "strong"
    with pytest.raises(ConfigError, match="set paired.task=segment or paired.augment=none"):
        train(tiny_config(tmp_path / "pix", synthetic_root, *common, "paired.augment=strong"))
