"""Tests for semicycle.data.io: robust reading, conversions, errors and atomic saving."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from semicycle.data.io import (
    ConversionLog,
    list_images,
    load_index_png,
    load_rgb,
    save_image,
    split_side_by_side,
)
from semicycle.errors import DataError


def random_rgb(height=32, width=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_plain_rgb_has_no_note(tmp_path):
    pixels = random_rgb()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    array, note = load_rgb(tmp_path / "a.png")
    assert note is None
    assert array.dtype == np.uint8 and array.shape == (32, 32, 3)
    np.testing.assert_array_equal(array, pixels)


def test_truncated_jpeg_raises_one_line_error(tmp_path):
    path = tmp_path / "broken.jpg"
    Image.fromarray(random_rgb(64, 64)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as info:
        load_rgb(path)
    message = str(info.value)
    assert str(path) in message
    assert "truncated" in message or "cannot decode" in message
    assert "\n" not in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_random_bytes_raise_data_error(tmp_path):
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(1).bytes(500))
    with pytest.raises(DataError, match="cannot decode") as info:
        load_rgb(path)
    assert str(path) in str(info.value)


def test_grayscale_is_replicated_to_rgb(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    array, note = load_rgb(tmp_path / "g.png")
    assert array.shape == (8, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(array[..., channel], gray)
    assert note == "grayscale converted to RGB"


def test_rgba_drops_alpha(tmp_path):
    rgba = np.dstack([random_rgb(8, 8), np.zeros((8, 8), np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    array, note = load_rgb(tmp_path / "a.png")
    np.testing.assert_array_equal(array, rgba[..., :3])
    assert "alpha" in note


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I")
    array, note = load_rgb(tmp_path / "deep.png")
    np.testing.assert_array_equal(array[0, :, 0], [0, 128, 255])
    np.testing.assert_array_equal(array[..., 0], array[..., 2])
    assert note == "16-bit scaled to 8-bit"


def palette_png(path, indices):
    image = Image.fromarray(indices, mode="L").convert("P")
    palette = [0] * 768
    palette[3:6] = [255, 0, 0]  # index 1 is red
    image.putpalette(palette)
    image.save(path)


def test_palette_png_is_converted_by_load_rgb(tmp_path):
    indices = np.array([[0, 1], [1, 0]], dtype=np.uint8)
    palette_png(tmp_path / "p.png", indices)
    array, note = load_rgb(tmp_path / "p.png")
    np.testing.assert_array_equal(array[0, 1], [255, 0, 0])
    np.testing.assert_array_equal(array[0, 0], [0, 0, 0])
    assert note == "palette image converted to RGB"


def test_load_index_png_returns_raw_indices(tmp_path):
    indices = np.array([[0, 1, 7], [3, 1, 0]], dtype=np.uint8)
    palette_png(tmp_path / "labels.png", indices)
    labels = load_index_png(tmp_path / "labels.png")
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, indices)


def test_load_index_png_rejects_rgb(tmp_path):
    path = tmp_path / "rgb.png"
    Image.fromarray(random_rgb(4, 4)).save(path)
    with pytest.raises(DataError, match="got mode RGB") as info:
        load_index_png(path)
    assert str(path) in str(info.value)


def test_split_side_by_side_halves_and_sides():
    array = np.zeros((4, 8, 3), np.uint8)
    array[:, 4:] = 255
    left, right = split_side_by_side(array, "ab.jpg")
    assert left.shape == right.shape == (4, 4, 3)
    assert left.max() == 0 and right.min() == 255
    a, b = split_side_by_side(array, "ab.jpg", a_side="right")
    assert a.min() == 255 and b.max() == 0


def test_split_side_by_side_rejects_wrong_width():
    with pytest.raises(DataError, match="twice") as info:
        split_side_by_side(np.zeros((256, 300, 3), np.uint8), "data/train/1.jpg")
    assert "data/train/1.jpg" in str(info.value)
    assert "300x256" in str(info.value)


def test_list_images_natural_order_and_filtering(tmp_path):
    for name in ["10.jpg", "2.JPG", "1.png", "notes.txt", ".hidden.jpg"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["1.png", "2.JPG", "10.jpg"]


def test_list_images_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match="folder not found; check data.root"):
        list_images(tmp_path / "missing")
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no images") as info:
        list_images(tmp_path, hint="put trainA images here")
    assert str(tmp_path) in str(info.value) and "put trainA images here" in str(info.value)


def test_save_image_round_trips_float_tensor(tmp_path):
    tensor = torch.linspace(-1, 1, 3 * 8 * 8).reshape(3, 8, 8)
    path = save_image(tensor, tmp_path / "out" / "sample.png")
    expected = ((tensor + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    array, note = load_rgb(path)
    assert note is None
    np.testing.assert_array_equal(array, expected)
    assert [p.name for p in path.parent.iterdir()] == ["sample.png"]  # no temp file left


def test_save_image_accepts_uint8_array_and_jpeg(tmp_path):
    pixels = np.full((8, 8, 3), 200, np.uint8)
    path = save_image(pixels, tmp_path / "x.jpg")
    with Image.open(path) as image:
        assert image.format == "JPEG"
    assert np.abs(load_rgb(path)[0].astype(int) - 200).max() <= 2
    with pytest.raises(DataError, match="use a .png or .jpg"):
        save_image(pixels, tmp_path / "x.gif")


def test_conversion_log_summary():
    log = ConversionLog()
    assert log.summary() is None
    log.add("data/a.jpg", None)
    log.add("data/b.jpg", "grayscale converted to RGB")
    log.add("data/c.jpg", "grayscale converted to RGB")
    log.add("data/d.png", "alpha channel dropped (RGBA)")
    assert log.summary() == (
        "3 of 4 images were converted (grayscale converted to RGB: 2, first: data/b.jpg; "
        "alpha channel dropped (RGBA): 1, first: data/d.png)"
    )
