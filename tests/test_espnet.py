"""The ESPNet Cityscapes segmenter of the label -> photo FCN-score."""

import os
import time
from pathlib import Path

import pytest
import torch

from semicycle.data.io import list_images
from semicycle.errors import SemicycleError
from semicycle.evaluation import Espnet, EspnetScorer, FcnScore, load_espnet
from semicycle.evaluation.espnet import preprocess
from conftest import as_batch, read_halves

# shared/weights/README.md: ESPNet p=2 q=8 on the real photos of the first 100 files of the
# pix2pix cityscapes val split: per-pixel acc 0.834, per-class acc 0.476, class IoU 0.345.
README_SCORES = {"pixel_accuracy": 0.834, "mean_class_accuracy": 0.476, "mean_iou": 0.345}


@pytest.fixture(scope="module")
def weights_path(data_root) -> Path:
    root = Path(os.environ.get("SEMICYCLE_WEIGHTS", data_root.parent / "weights"))
    path = root / "espnet_p_2_q_8_cityscapes.pth"
    if not path.is_file():
        pytest.fail(f"ESPNet weights not found at {path}; set SEMICYCLE_WEIGHTS to shared/weights")
    return path


@pytest.fixture(scope="module")
def scorer(weights_path) -> EspnetScorer:
    return EspnetScorer(weights_path, device="cpu", batch_size=4)


def test_state_dict_loads_strict_and_matches_the_file(weights_path):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    assert len(state) == 189
    assert sum(v.numel() for v in state.values()) == 368_341
    model = Espnet()
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(own) == set(state)
    assert all(torch.equal(own[k], state[k]) for k in state)


def test_missing_or_wrong_weights_name_the_path_and_the_config_key(tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(SemicycleError, match=r"nowhere\.pth.*eval\.segmenter_weights"):
        EspnetScorer(missing)
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(SemicycleError, match=r"wrong\.pth.*eval\.segmenter_weights"):
        load_espnet(wrong)


def test_preprocessing_is_bgr_mean_std_resize_then_div_255():
    image = torch.zeros(1, 3, 2, 4, dtype=torch.uint8)
    image[0, 0] = 200  # red
    x = preprocess(image)
    assert x.shape == (1, 3, 512, 1024)
    # channel 0 is blue (0), channel 2 is red (200), each (v - mean) / std / 255
    assert x[0, 0, 0, 0].item() == pytest.approx((0 - 72.3923111) / 45.3192215 / 255, rel=1e-5)
    assert x[0, 2, 0, 0].item() == pytest.approx((200 - 73.15840149) / 44.91483307 / 255, rel=1e-5)


def test_segment_shapes_and_label_range(scorer):
    images = torch.randint(0, 256, (2, 3, 60, 90), dtype=torch.uint8)
    logits = scorer.logits(images[:1])
    assert logits.shape == (1, 20, 512, 1024)
    labels = scorer.segment(images)
    assert labels.shape == (2, 60, 90) and labels.dtype == torch.long
    values = set(labels.unique().tolist())
    assert values <= set(range(19)) | {255}
    with pytest.raises(TypeError, match="uint8"):
        scorer.segment(images.float())


@pytest.mark.slow  # ESPNet on 100 real Cityscapes photos
def test_real_photos_reproduce_the_weights_readme(data_root, scorer):
    """Done-when: the first 100 val files score within 0.02 of the README's figures.

    The README's numbers are reproduced by the first 100 files in *lexicographic* file-name
    order (1.jpg, 10.jpg, 101.jpg, ...) to three decimals; see evaluation/fcn.py.
    """
    paths = sorted(list_images(data_root / "cityscapes" / "val"), key=lambda p: p.name)[:100]
    assert [path.name for path in paths[:3]] == ["1.jpg", "10.jpg", "101.jpg"]
    halves = read_halves(paths)
    photos = as_batch(photo for photo, _ in halves)
    labels = as_batch(label for _, label in halves)
    fcn = FcnScore(scorer, palette="cityscapes")
    start = time.perf_counter()
    for i in range(0, len(paths), 20):
        fcn.update(photos[i : i + 20], labels[i : i + 20])
    seconds = time.perf_counter() - start
    scores = fcn.result()
    print(
        "ESPNet on 100 real val photos: " + ", ".join(f"{k} {scores[k]:.3f}" for k in README_SCORES)
        + f" ({seconds / len(paths):.2f} s/image)"
    )
    for key, expected in README_SCORES.items():
        assert scores[key] == pytest.approx(expected, abs=0.02), key
    # the photos are real: the big classes are recognised
    assert scores["per_class_iou"]["road"] > 0.8
    assert scores["per_class_iou"]["sky"] > 0.6
