"""Palettes on the real facades / cityscapes / CMP labels, and their exact behaviour."""

import csv
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from semicycle.data import load_data
from semicycle.config import Config, apply_overrides
from semicycle.data.palettes import (
    LABEL_DECODINGS,
    Palette,
    cmp_png_to_index,
    decode_generated_labels,
    decode_label_image,
    get_palette,
    list_palettes,
)
from semicycle.data.labels import label_input
from semicycle.errors import ConfigError, DataError


def load_halves(folder, count):
    """(photo, label) halves of ``count`` evenly spaced A|B files, each (N, 3, 256, 256) uint8."""
    paths = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem))
    paths = paths[:: max(1, len(paths) // count)][:count]
    images = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]))
    images = images.permute(0, 3, 1, 2)
    return images[..., :256].contiguous(), images[..., 256:].contiguous()


def interior(index):
    """Pixels whose 5x5 neighbourhood holds a single class, for (N, H, W) index maps."""
    x = index.unsqueeze(1).float()
    return (F.max_pool2d(x, 5, 1, 2) == -F.max_pool2d(-x, 5, 1, 2)).squeeze(1)


def jpeg(rgb, quality=75):
    """JPEG-encode and decode a (3, H, W) uint8 tensor with Pillow."""
    buffer = io.BytesIO()
    Image.fromarray(rgb.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=quality)
    return torch.from_numpy(np.asarray(Image.open(buffer).convert("RGB")).copy()).permute(2, 0, 1)


@pytest.mark.parametrize("dataset", ["facades", "cityscapes"])
def test_real_labels_survive_rerendering_and_jpeg_on_region_interiors(data_root, dataset):
    palette = get_palette(dataset)
    _, labels = load_halves(data_root / dataset / "train", 30)
    reference = palette.to_index(labels)
    noisy = torch.stack([jpeg(image) for image in palette.to_color(reference)])
    recovered = palette.to_index(noisy)
    mask = interior(reference)
    assert mask.float().mean() > 0.5  # interiors are most of the image
    # the issue asks for > 0.95; measured on 30 (and on 400) files: facades 0.99996,
    # cityscapes 0.9995
    assert (recovered[mask] == reference[mask]).float().mean() > 0.99
    assert len(reference.unique()) > palette.num_classes // 2  # the sample covers many classes


def test_decoded_facades_match_cmp_ground_truth(data_root):
    """pix2pix facades are the CMP base facades resized to 256x256, so the PNGs are exact labels."""
    palette = get_palette("facades")
    with open(data_root / "facades" / "cmp_correspondence.csv", newline="") as f:
        rows = list(csv.DictReader(f))[::5]
    agreement = []
    for row in rows:
        half = np.asarray(Image.open(data_root / "facades" / row["split"] / row["file"]).convert("RGB"))
        decoded = palette.to_index(half[:, 256:])
        png = Image.open(data_root / "cmp_facade_base" / "base" / f"{row['cmp_base_id']}.png")
        truth = cmp_png_to_index(np.asarray(png.resize((256, 256), Image.NEAREST)))
        mask = interior(truth[None])[0]
        agreement.append((decoded[mask] == truth[mask]).float().mean().item())
    # measured on all 311 pairs: mean 0.9992, worst image 0.987
    assert len(agreement) >= 60
    assert np.mean(agreement) > 0.995
    assert min(agreement) > 0.97


def test_cmp_palette_decodes_the_png_colours_to_the_png_indices(data_root):
    png = Image.open(data_root / "cmp_facade_base" / "base" / "cmp_b0001.png")
    decoded = get_palette("cmp").to_index(np.asarray(png.convert("RGB")))
    assert torch.equal(decoded, cmp_png_to_index(np.asarray(png)))
    assert torch.equal(cmp_png_to_index(np.array([[0, 1, 12]])), torch.tensor([[255, 0, 11]]))


@pytest.mark.parametrize("name", list_palettes())
def test_to_color_and_to_index_round_trip_exactly(name):
    palette = get_palette(name)
    index = torch.randint(0, palette.num_classes, (2, 16, 24), generator=torch.Generator().manual_seed(0))
    rgb = palette.to_color(index)
    assert rgb.dtype == torch.uint8 and rgb.shape == (2, 3, 16, 24)
    assert torch.equal(palette.to_index(rgb), index)
    assert torch.equal(palette.to_index(rgb[0]), index[0])
    assert torch.equal(palette.to_index(rgb[0].permute(1, 2, 0).numpy()), index[0])
    assert palette.distance_to_palette(rgb).max() == 0


def test_one_hot_shapes_and_void_channel():
    palette = get_palette("facades")
    index = torch.tensor([[[0, 11], [255, 3]]])
    encoded = palette.one_hot(index)
    assert encoded.shape == (1, 13, 2, 2) and encoded.dtype == torch.float32
    assert encoded[0, :, 1, 0].tolist() == [0] * 12 + [1]  # ignore -> the void channel, the last
    assert encoded[0, 11, 0, 1] == 1 and encoded[0, 3, 1, 1] == 1 and encoded.sum() == 4
    assert palette.one_hot(index[0], dtype=torch.uint8).shape == (13, 2, 2)
    legacy = palette.one_hot(index, void_channel=False)  # the encoding of networks trained before
    assert legacy.shape == (1, 12, 2, 2) and legacy[0, :, 1, 0].sum() == 0 and legacy.sum() == 3
    assert torch.equal(legacy, encoded[:, :12])
    assert palette.to_color(index)[0, :, 1, 0].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="outside"):
        palette.to_color(torch.tensor([[12]]))


def test_real_cityscapes_masks_are_one_hot_at_every_pixel(data_root, tmp_path):
    cfg = apply_overrides(Config(), ["data.dataset=aligned", f"data.root={data_root / 'cityscapes'}", "data.palette=cityscapes",
                                     "data.max_images=6", "data.load_size=64", "data.crop_size=64"])
    data = load_data(cfg.data, "train", tmp_path, progress=False)
    labels = data.labels_B.long()
    void = labels == data.palette.ignore_index
    assert void.float().mean() > 0.01  # real masks have void pixels (12.6% of the training pixels at 256 px)
    masks = label_input(labels, data.palette)
    assert masks.shape == (6, 20, 64, 64)
    assert torch.equal(masks.sum(dim=1), torch.ones_like(labels, dtype=masks.dtype))
    assert torch.equal(masks[:, 19].bool(), void) and torch.equal(masks[:, :19].argmax(1)[~void], labels[~void])


def test_generated_cityscapes_labels_never_decode_to_void():
    palette = get_palette("cityscapes")
    generator = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8, generator=generator)
    voids = torch.tensor(palette.ignore_colors, dtype=torch.uint8).T.reshape(3, 1, -1)
    for rgb in (noise, voids):
        decoded = decode_generated_labels(rgb, palette)
        assert decoded.min() >= 0 and decoded.max() < palette.num_classes  # never ignore_index
        assert torch.equal(decoded, palette.to_class_index(rgb))
    assert (decode_generated_labels(voids, palette, "classes_and_void") == 255).all()  # the old decoding
    assert decode_generated_labels(voids[:, :, :1], palette).item() == 14  # black -> truck (0, 0, 70), the nearest class
    # the two decodings agree wherever the nearest colour is a class colour
    old = decode_generated_labels(noise, palette, "classes_and_void")
    assert torch.equal(old[old != 255], decode_generated_labels(noise, palette)[old != 255])
    from semicycle.config import _CHOICES

    assert tuple(LABEL_DECODINGS) == _CHOICES["eval.label_decoding"] == ("classes", "classes_and_void")  # one list
    with pytest.raises(ConfigError, match="eval.label_decoding='nearest' is not one of: classes, classes_and_void"):
        decode_generated_labels(noise, palette, "nearest")


def test_cityscapes_void_colours_map_to_ignore():
    palette = get_palette("cityscapes")
    voids = torch.tensor(palette.ignore_colors, dtype=torch.uint8).T.reshape(3, 1, -1)
    assert len(palette.ignore_colors) == 10
    assert (palette.to_index(voids) == 255).all()
    assert palette.to_index(torch.tensor([128, 64, 128], dtype=torch.uint8).reshape(3, 1, 1)).item() == 0
    assert palette.to_index(torch.tensor([119, 11, 32], dtype=torch.uint8).reshape(3, 1, 1)).item() == 18
    assert palette.num_classes == 19


def test_distance_to_palette_is_euclidean():
    black = torch.zeros(3, 1, 1, dtype=torch.uint8)
    nearest = (173, 0, 3)  # shop
    assert get_palette("facades").distance_to_palette(black).item() == pytest.approx(np.linalg.norm(nearest))


@pytest.mark.parametrize("dataset", ["facades", "cityscapes"])
def test_decode_label_image_accepts_labels_and_rejects_photos(data_root, dataset):
    photos, labels = load_halves(data_root / dataset / "val", 4)
    for label in labels:
        assert torch.equal(decode_label_image(label, dataset), get_palette(dataset).to_index(label))
    with pytest.raises(DataError, match=r"^val/1\.jpg: \d+\.\d% of pixels are far .*data\.a_side"):
        decode_label_image(photos[0].permute(1, 2, 0).numpy(), get_palette(dataset), path="val/1.jpg")


def test_unknown_palette_lists_the_valid_names():
    with pytest.raises(ConfigError, match="cityscapes.*facades.*synthetic"):
        get_palette("facade")
    assert {"facades", "cmp", "cityscapes", "synthetic"} <= set(list_palettes())


def test_palette_needs_one_colour_per_class():
    with pytest.raises(ConfigError, match="one colour per class"):
        Palette(name="broken", class_names=("a", "b"), colors=((0, 0, 0),))
    palette = get_palette("facades")
    assert hash(palette) == hash(get_palette("facades"))
    assert palette.color_array.shape == (12, 3) and palette.color_array.dtype == np.uint8
