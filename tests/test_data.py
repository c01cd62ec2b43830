"""Datasets on the real data in $SEMICYCLE_DATA, the deterministic batches, and bad input."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from semicycle.config import DataConfig
from semicycle.data import load_data
from semicycle.data.aligned import load_aligned
from semicycle.data.batches import JointBatches, MixedBatches, PairedBatches, Stream, UnpairedBatches
from semicycle.data.cmp import load_cmp
from semicycle.data.palettes import get_palette
from semicycle.data.transforms import crop_and_flip
from semicycle.data.unaligned import load_unaligned
from semicycle.errors import DataError


def test_aligned_facades_with_labels(data_root):
    data = load_aligned(data_root / "facades" / "train", 72, palette=get_palette("facades"), max_images=12, progress=False)
    assert data.A.shape == (12, 3, 72, 72) and data.B.shape == (12, 3, 72, 72) and data.A.dtype == torch.uint8
    assert data.paired and data.labels_B.shape == (12, 72, 72)
    classes = torch.unique(data.labels_B)
    assert {0, 1, 2}.issubset(set(classes.tolist()))  # background, facade, window
    # the re-rendered labels agree with the stored colour halves almost everywhere
    rendered = get_palette("facades").to_color(data.labels_B.long())
    assert (rendered.float() - data.B.float()).abs().mean() < 12


def test_a_side_swaps_the_halves(data_root):
    left = load_aligned(data_root / "facades" / "val", 64, max_images=2, progress=False)
    right = load_aligned(data_root / "facades" / "val", 64, a_side="right", max_images=2, progress=False)
    assert torch.equal(left.A, right.B) and torch.equal(left.B, right.A)


def test_unaligned_horse2zebra(data_root):
    data = load_unaligned(data_root / "horse2zebra", "train", 64, max_images=5, progress=False)
    assert data.A.shape == (5, 3, 64, 64) and data.B.shape == (5, 3, 64, 64) and not data.paired
    assert "trainA" in data.paths_A[0] and "trainB" in data.paths_B[0]


def test_cmp_split_is_disjoint_and_exact(data_root):
    train = load_cmp(data_root / "cmp_facade_base", "train", 64, max_images=6, progress=False)
    val = load_cmp(data_root / "cmp_facade_base", "val", 64, max_images=6, progress=False)
    assert not set(train.paths_A) & set(val.paths_A)
    assert train.labels_B.max() < 12 or train.labels_B.max() == 255
    assert torch.equal(train.B, get_palette("cmp").to_color(train.labels_B.long()))


def test_subset_keeps_the_listed_training_images_only(data_root, tmp_path):
    listing = tmp_path / "subset.txt"
    listing.write_text("# chosen by k-medoids\n17.jpg\n3\n\n250.jpg  # a comment\n")  # a stem works too
    cfg = DataConfig(dataset="aligned", root=str(data_root / "facades"), palette="facades", load_size=32, crop_size=32,
                     subset=str(listing))
    train = load_data(cfg, "train", progress=False)
    assert [p.rsplit("/", 1)[-1] for p in train.paths_A] == ["3.jpg", "17.jpg", "250.jpg"]  # the folder's order
    assert train.A.shape == (3, 3, 32, 32) and train.labels_B.shape == (3, 32, 32)
    val = load_data(cfg, "val", progress=False)  # the subset is of the training split only
    assert len(val.A) == len(list((data_root / "facades" / "val").glob("*.jpg")))
    first_two = load_data(DataConfig(**{**vars(cfg), "max_images": 2}), "train", progress=False)
    assert [p.rsplit("/", 1)[-1] for p in first_two.paths_A] == ["3.jpg", "17.jpg"]  # max_images after the subset

    cmp = DataConfig(dataset="cmp", root=str(data_root / "cmp_facade_base"), load_size=32, crop_size=32, subset=str(listing))
    listing.write_text("cmp_b0001.jpg\ncmp_b0002\n")
    assert [p.rsplit("/", 1)[-1] for p in load_data(cmp, "train", progress=False).paths_B] == ["cmp_b0001.png", "cmp_b0002.png"]

    horses, zebras = (sorted((data_root / "horse2zebra" / f"train{side}").iterdir())[:2] for side in "AB")
    listing.write_text(f"{horses[0].name}\n{horses[1].name}\n{zebras[1].name}\n")
    unpaired = DataConfig(dataset="unaligned", root=str(data_root / "horse2zebra"), load_size=32, crop_size=32, subset=str(listing))
    data = load_data(unpaired, "train", progress=False)
    assert data.paths_A == [str(horses[0]), str(horses[1])] and data.paths_B == [str(zebras[1])]


def test_subset_errors_name_the_list_and_the_fix(data_root, tmp_path):
    listing = tmp_path / "subset.txt"
    cfg = DataConfig(dataset="aligned", root=str(data_root / "facades"), load_size=32, crop_size=32, subset=str(listing))
    with pytest.raises(DataError, match=r"subset\.txt: file not found; write one with 'semicycle select-pairs' or fix data\.subset"):
        load_data(cfg, "train", progress=False)
    listing.write_text("# nothing yet\n")
    with pytest.raises(DataError, match=r"subset\.txt: lists no files; fix data\.subset"):
        load_data(cfg, "train", progress=False)
    listing.write_text("17.jpg\n17.png\n")
    with pytest.raises(DataError, match=r"subset\.txt: lists a file twice"):
        load_data(cfg, "train", progress=False)
    listing.write_text("17.jpg\nno_such_photo.jpg\n")
    with pytest.raises(DataError, match=r"subset\.txt: 1 name\(s\) not in .*facades/train \(first: no_such_photo\.jpg\)"):
        load_data(cfg, "train", progress=False)
    listing.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match=r"subset\.txt: cannot read the name list .*UTF-8 text file"):
        load_data(cfg, "train", progress=False)
    horse = sorted((data_root / "horse2zebra" / "trainA").iterdir())[0]
    listing.write_text(horse.name + "\n")
    unpaired = DataConfig(dataset="unaligned", root=str(data_root / "horse2zebra"), load_size=32, crop_size=32, subset=str(listing))
    with pytest.raises(DataError, match=r"subset\.txt: names no image of .*horse2zebra/trainB; list images of both domains"):
        load_data(unpaired, "train", progress=False)


def test_load_data_dispatches_synthetic(tmp_path):
    cfg = DataConfig(dataset="synthetic", load_size=36, crop_size=32)
    data = load_data(cfg, "train", run_dir=tmp_path, progress=False)
    assert data.paired and data.A.shape[1:] == (3, 36, 36) and data.palette.name == "synthetic"
    assert (tmp_path / "synthetic_data" / "train").is_dir()


def test_batches_are_deterministic_and_reshuffled(tmp_path):
    data = load_data(DataConfig(dataset="synthetic", load_size=36, crop_size=32), "train", tmp_path, progress=False)
    rows = list(range(len(data.A)))
    batches = UnpairedBatches(Stream(data.A, None, rows), Stream(data.B, data.labels_B, rows), batch_size=4, crop=32, flip=True, seed=3)
    assert batches.steps_per_epoch == len(data.A) // 4
    one, again = batches.batch(2, 5).images, batches.batch(2, 5).images
    assert torch.equal(one.A, again.A) and torch.equal(one.B, again.B)
    assert one.rows_A != batches.batch(3, 5).images.rows_A
    assert one.A.shape == (4, 3, 32, 32) and one.A.min() >= -1 and one.A.max() <= 1
    assert one.labels_B.shape == (4, 32, 32) and not one.is_pair.any()
    steps = list(batches.epoch(0, start_step=batches.steps_per_epoch - 2))
    assert [s for s, _ in steps] == [batches.steps_per_epoch - 2, batches.steps_per_epoch - 1]


def _sources(data, rows, pairs, batch_size, rank=0, world_size=1):
    """One of each batch source over the same data (the wiring of cyclegan, paired, okada/mondal, shukla)."""
    def unpaired():
        return UnpairedBatches(Stream(data.A, None, rows), Stream(data.B, data.labels_B, rows), batch_size, 32, True, 3, rank, world_size)

    def paired(size, per_epoch=0):
        return PairedBatches(data, pairs, size, 32, True, 3, per_epoch, rank, world_size)

    return {"unpaired": unpaired(), "paired": paired(batch_size), "joint": JointBatches(unpaired(), paired(batch_size // 2)),
            "mixed": MixedBatches(unpaired(), paired(1, per_epoch=len(rows)), batch_size)}


def test_ranks_together_see_exactly_the_global_batch_of_one_process(tmp_path):
    """Batch sources built with rank r of W return r's contiguous share of the batch that one process with
    W x the batch size gets, step by step (the contract multi-process training relies on)."""
    data = load_data(DataConfig(dataset="synthetic", load_size=36, crop_size=32, max_images=13), "train", tmp_path, progress=False)
    rows, pairs = list(range(len(data.A))), [0, 4, 5, 9]  # every global batch full: no rank left empty
    whole = _sources(data, rows, pairs, batch_size=4)
    shares = [_sources(data, rows, pairs, batch_size=2, rank=r, world_size=2) for r in range(2)]
    for kind, source in whole.items():
        assert source.steps_per_epoch == shares[0][kind].steps_per_epoch, kind
        for step, batch in source.epoch(1):
            parts = [share[kind].batch(1, step) for share in shares]
            for field in ("images", "pairs"):
                expected = getattr(batch, field)
                if expected is None:
                    assert all(getattr(p, field) is None for p in parts), (kind, field)
                    continue
                got = [getattr(p, field) for p in parts]
                for attr in ("A", "B", "labels_B", "is_pair"):
                    assert torch.equal(torch.cat([getattr(g, attr) for g in got]), getattr(expected, attr)), (kind, step, field, attr)
                assert [r for g in got for r in g.rows_A] == expected.rows_A


def test_crop_and_flip_is_identical_for_image_and_label():
    image = torch.arange(3 * 8 * 8).reshape(3, 8, 8)
    label = image[0].clone()
    for seed in range(20):
        cropped, cropped_label = crop_and_flip([image, label], 5, True, seed)
        assert torch.equal(cropped[0], cropped_label)


# ---------------------------------------------------------------- bad input


def _ab_image(path, width, height, color=(90, 120, 30)):
    Image.new("RGB", (width, height), color).save(path)


def test_ab_image_with_wrong_width_names_the_file(tmp_path):
    _ab_image(tmp_path / "1.jpg", 128, 64)
    _ab_image(tmp_path / "2.jpg", 100, 64)
    with pytest.raises(DataError, match=r"2\.jpg.*twice"):
        load_aligned(tmp_path, 64, progress=False)


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no images"):
        load_aligned(tmp_path, 64, progress=False)
    with pytest.raises(DataError, match="not found"):
        load_aligned(tmp_path / "missing", 64, progress=False)


def test_corrupt_image_in_a_dataset_is_named(tmp_path):
    _ab_image(tmp_path / "1.jpg", 128, 64)
    data = (tmp_path / "1.jpg").read_bytes()
    (tmp_path / "2.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"2\.jpg"):
        load_aligned(tmp_path, 64, progress=False)


def test_grayscale_and_rgba_are_converted_with_one_warning(tmp_path):
    _ab_image(tmp_path / "1.jpg", 128, 64)
    Image.new("L", (128, 64), 100).save(tmp_path / "2.png")
    Image.new("RGBA", (128, 64), (1, 2, 3, 100)).save(tmp_path / "3.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_aligned(tmp_path, 64, progress=False)
    assert len(data.A) == 3 and data.A[1].unique().tolist() == [100]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "2 of 3" in messages[0]


def test_label_colours_off_the_palette_report_the_fraction(tmp_path):
    photo_as_label = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    Image.fromarray(photo_as_label).save(tmp_path / "1.png")
    with pytest.raises(DataError, match=r"1\.png.*%"):
        load_aligned(tmp_path, 64, palette=get_palette("facades"), progress=False)


def test_cmp_missing_label_is_named(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    for i in range(5):
        Image.new("RGB", (40, 30)).save(base / f"cmp_b{i:04d}.jpg")
        if i != 2:
            Image.new("P", (40, 30), 1).save(base / f"cmp_b{i:04d}.png")
    with pytest.raises(DataError, match=r"cmp_b0002\.jpg.*missing its label"):
        load_cmp(tmp_path, "all", 32, progress=False)


def test_memory_limit_is_a_clear_error(data_root):
    with pytest.raises(DataError, match="memory_limit_mb"):
        load_aligned(data_root / "facades" / "train", 286, memory_limit_mb=10, progress=False)
