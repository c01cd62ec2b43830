"""The embedded synthetic paired data set."""

import itertools

import numpy as np
import pytest
from PIL import Image

from semicycle.data.palettes import decode_label_image, get_palette
from semicycle.data.synthetic import (
    SYNTHETIC_CLASSES,
    VAL_INDEX_OFFSET,
    make_pair,
    write_aligned_dataset,
)
from semicycle.errors import DataError


def test_pairs_are_deterministic_per_seed_and_index():
    photo, label = make_pair(5, size=64, seed=0)
    assert photo.shape == (64, 64, 3) and photo.dtype == np.uint8
    assert label.shape == (64, 64) and label.dtype == np.int64
    again = make_pair(5, size=64, seed=0)
    assert np.array_equal(photo, again[0]) and np.array_equal(label, again[1])
    assert not np.array_equal(label, make_pair(5, size=64, seed=1)[1])
    assert not np.array_equal(label, make_pair(6, size=64, seed=0)[1])


def test_every_class_appears_and_scenes_keep_their_layout_across_sizes():
    labels = [make_pair(i, size=64)[1] for i in range(8)]
    assert set(np.unique(np.stack(labels))) == set(range(len(SYNTHETIC_CLASSES)))
    assert len(SYNTHETIC_CLASSES) == get_palette("synthetic").num_classes == 5
    large = make_pair(3, size=256)[1]
    assert (large[2::4, 2::4] == labels[3]).mean() > 0.93  # measured 0.968


def test_each_class_has_its_own_photo_appearance():
    sums, counts = np.zeros((5, 3)), np.zeros(5)
    for i in range(16):
        photo, label = make_pair(i, size=64)
        for c in range(5):
            sums[c] += photo[label == c].sum(axis=0)
            counts[c] += (label == c).sum()
    means = sums / counts[:, None]
    for a, b in itertools.combinations(range(5), 2):
        assert np.linalg.norm(means[a] - means[b]) > 30, (SYNTHETIC_CLASSES[a], SYNTHETIC_CLASSES[b])
    photo = make_pair(0, size=64)[0]
    assert photo.std(axis=(0, 1)).min() > 10  # textured, not flat colour


def test_a_photo_is_not_mistaken_for_a_label():
    with pytest.raises(DataError, match="'synthetic' palette"):
        decode_label_image(make_pair(0, size=64)[0], "synthetic", path="0.png")


def test_write_aligned_dataset(tmp_path):
    root = write_aligned_dataset(tmp_path / "syn", n_train=5, n_val=3, size=32, seed=2)
    palette = get_palette("synthetic")
    for split, count, first_index in (("train", 5, 0), ("val", 3, VAL_INDEX_OFFSET)):
        paths = sorted((root / split).iterdir())
        assert [p.name for p in paths] == sorted(f"{i}.png" for i in range(1, count + 1))
        for i, path in enumerate(sorted(paths, key=lambda p: int(p.stem))):
            image = np.asarray(Image.open(path))
            assert image.shape == (32, 64, 3)
            photo, label = make_pair(first_index + i, size=32, seed=2)
            assert np.array_equal(image[:, :32], photo)
            assert np.array_equal(palette.to_index(image[:, 32:]).numpy(), label)

    stamp = (root / "train" / "1.png").stat().st_mtime_ns
    assert write_aligned_dataset(root, n_train=5, n_val=3, size=32, seed=2) == root
    assert (root / "train" / "1.png").stat().st_mtime_ns == stamp
    with pytest.raises(DataError, match="delete"):
        write_aligned_dataset(root, n_train=5, n_val=3, size=64, seed=2)


def test_synthetic_data_is_never_written_among_a_real_data_sets_images(tmp_path):
    real = tmp_path / "facades"
    (real / "train").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(real / "train" / "1.jpg")
    with pytest.raises(DataError, match=r"train: holds files but no synthetic data set .*\(set data.dataset"):
        write_aligned_dataset(real, n_train=2, n_val=1, size=32)
    assert sorted(p.name for p in real.rglob("*")) == ["1.jpg", "train"]
