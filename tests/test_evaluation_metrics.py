"""Segmentation scores (ConfusionMatrix), the FCN-score label decoding, maps accuracy, and the
registry of the metrics `semicycle evaluate` computes."""

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from semicycle.config import Config, flatten
from semicycle.data.palettes import get_palette
from semicycle.evaluation import (
    ConfusionMatrix, FcnScore, MapsAccuracy, best_blank_color, blank_map_scores, label_targets, maps_pixel_accuracy,
)
from semicycle.evaluation import fid as fid_module
from semicycle.evaluation import metrics as metrics_module
from semicycle.evaluation.metrics import METRICS, RGB, PhotoToLabelScores, Translations, create_metrics
from conftest import as_batch, read_halves


def t(values):
    return torch.tensor(values, dtype=torch.long)


# ----------------------------------------------------------------------------- hand-computed
def test_generated_labels_scored_under_both_decodings_hand_computed():
    """One 2 x 3 generated Cityscapes label image; ground truth road road car / car void sky."""
    palette = get_palette("cityscapes")
    road, car, sky, void = 0, 13, 10, palette.ignore_index
    truth = t([[[road, road, car], [car, void, sky]]])
    colors = [[(128, 64, 128), (0, 0, 0), (0, 0, 142)],  # road; black: void colour, nearest class truck (0, 0, 70); car
              [(0, 0, 120), (128, 64, 128), (70, 130, 180)]]  # nearest void (0, 0, 110) at 10, nearest class car at 22; -; sky
    outputs = torch.tensor(colors, dtype=torch.uint8).permute(2, 0, 1).unsqueeze(0)
    translations = Translations(inputs=None, outputs=outputs, targets=None, target_classes=truth)
    scores = {}
    for decoding in ("classes", "classes_and_void"):
        scores[decoding] = PhotoToLabelScores(palette, decoding).update(translations).result()
    new, old = scores["classes"], scores["classes_and_void"]
    # classes: predictions road truck car / car - sky: road 1 of 2 (the other called truck), car 2 of 2, sky 1 of 1
    assert new["label_decoding"] == "classes" and new["void_prediction_fraction"] == 0
    assert new["pixel_accuracy"] == pytest.approx(4 / 5)
    assert new["mean_class_accuracy"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert new["mean_iou"] == pytest.approx((1 / 2 + 1 + 1) / 3)  # road 1 / (2 + 1 - 1); truck is absent from the GT
    assert new["per_class_iou"]["truck"] is None and new["classes_present"] == 3
    # classes_and_void: road void car / void - sky: the void predictions count as errors
    assert old["label_decoding"] == "classes_and_void" and old["void_prediction_fraction"] == pytest.approx(2 / 5)
    assert old["pixel_accuracy"] == pytest.approx(3 / 5)
    assert old["mean_class_accuracy"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    assert old["mean_iou"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)  # car 1 / (2 + 1 - 1)
    assert "nearest class colour" in new["protocol"] and "void" in old["protocol"]


def test_hand_computed_three_classes():
    # n (rows GT, cols pred): [[1, 1, 0], [0, 2, 0], [1, 0, 0]]; the 255 pixel is ignored.
    cm = ConfusionMatrix(3).update(t([0, 1, 1, 1, 0, 2]), t([0, 0, 1, 1, 2, 255]))
    assert cm.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert cm.pixel_accuracy() == pytest.approx(3 / 5)
    assert cm.per_class_accuracy() == pytest.approx([1 / 2, 1, 0])
    assert cm.mean_class_accuracy() == pytest.approx(1 / 2)
    # IoU_i = n_ii / (t_i + sum_j n_ji - n_ii)
    assert cm.per_class_iou() == pytest.approx([1 / (2 + 2 - 1), 2 / (2 + 3 - 2), 0 / (1 + 0 - 0)])
    assert cm.mean_iou() == pytest.approx(1 / 3)
    assert cm.num_pixels == 5


def test_classes_absent_from_ground_truth_are_not_averaged():
    # 4 classes; GT holds only 0 and 1. Class 3 is predicted once (on a class-0 pixel), class 2
    # never appears. n_cl = 2.
    cm = ConfusionMatrix(4, class_names=["a", "b", "c", "d"]).update(t([[0, 3], [1, 1]]), t([[0, 0], [1, 1]]))
    assert cm.pixel_accuracy() == pytest.approx(3 / 4)
    assert cm.mean_class_accuracy() == pytest.approx((1 / 2 + 1) / 2)
    iou = cm.per_class_iou()
    # the false positive of class 3 lowers the IoU of the true class 0 (1 / (2 + 1 - 1)) ...
    assert iou[:2] == pytest.approx([1 / 2, 1.0])
    # ... but class 3 itself, absent from the GT, has no IoU and is not in the mean
    assert math.isnan(iou[2]) and math.isnan(iou[3])
    assert cm.mean_iou() == pytest.approx(0.75)
    scores = cm.result()
    assert scores["per_class_iou"] == {"a": pytest.approx(0.5), "b": pytest.approx(1.0), "c": None, "d": None}
    assert scores["classes_present"] == 2
    # the same data with a 2-class matrix gives the same means: absent classes do not dilute them
    two = ConfusionMatrix(2).update(t([[0, 1], [1, 1]]), t([[0, 0], [1, 1]]))
    assert two.mean_class_accuracy() == pytest.approx(cm.mean_class_accuracy())
    assert two.mean_iou() < cm.mean_iou()  # there the wrong pixel is also a class-1 false positive


def test_ignore_pixels_and_void_predictions():
    target = t([0, 0, 1, 255, 255])
    pred = t([0, 255, 1, 0, 1])  # GT-ignore pixels never count; pred 255 on a class-0 pixel:
    wrong = ConfusionMatrix(2).update(pred, target)
    assert wrong.num_pixels == 3
    assert wrong.pixel_accuracy() == pytest.approx(2 / 3)  # ... an error by default
    assert wrong.per_class_iou() == pytest.approx([1 / 2, 1.0])
    skip = ConfusionMatrix(2, void_predictions="skip").update(pred, target)
    assert skip.num_pixels == 2
    assert skip.pixel_accuracy() == 1.0  # ... or left out with "skip"
    assert skip.result()["void_prediction_fraction"] == pytest.approx(1 / 3)
    assert wrong.result()["void_prediction_fraction"] == pytest.approx(1 / 3)
    # predictions outside 0..K-1 other than 255 are no class either
    assert ConfusionMatrix(2).update(t([7, -1]), t([0, 1])).pixel_accuracy() == 0.0


def test_accumulates_over_the_split_not_per_image():
    cm = ConfusionMatrix(2)
    cm.update(t([[1]]), t([[1]]))  # image 1: 1 of 1 right
    cm.update(t([[1, 0, 0]]), t([[1, 1, 1]]))  # image 2: 1 of 3 right
    assert cm.pixel_accuracy() == pytest.approx(2 / 4)  # per-image mean would be 2/3


def test_empty_and_all_ignored():
    cm = ConfusionMatrix(3)
    assert math.isnan(cm.pixel_accuracy()) and math.isnan(cm.mean_iou())
    cm.update(t([0, 1]), t([255, 255]))
    assert cm.num_pixels == 0 and cm.result()["mean_iou"] is None


def test_matches_a_brute_force_count_on_random_batches():
    generator = torch.Generator().manual_seed(0)
    k = 5
    cm = ConfusionMatrix(k)
    reference = np.zeros((k, k + 1), dtype=np.int64)
    for _ in range(3):
        target = torch.randint(0, k + 1, (2, 7, 9), generator=generator)
        target[target == k] = 255
        pred = torch.randint(0, k + 1, (2, 7, 9), generator=generator)
        pred[pred == k] = 255
        cm.update(pred, target)
        for p, g in zip(pred.flatten().tolist(), target.flatten().tolist()):
            if g != 255:
                reference[g, p if p < k else k] += 1
    assert cm.matrix.numpy().tolist() == reference[:, :k].tolist()
    totals = reference.sum(axis=1)
    diag = np.diag(reference[:, :k])
    union = totals + reference[:, :k].sum(axis=0) - diag
    assert cm.pixel_accuracy() == pytest.approx(diag.sum() / totals.sum())
    assert cm.mean_class_accuracy() == pytest.approx(np.mean(diag / totals))
    assert cm.mean_iou() == pytest.approx(np.mean(diag / union))


def test_merge_and_bad_input():
    a = ConfusionMatrix(3).update(t([0, 1]), t([0, 2]))
    b = ConfusionMatrix(3).update(t([2, 2]), t([2, 1]))
    both = ConfusionMatrix(3).update(t([0, 1, 2, 2]), t([0, 2, 2, 1]))
    assert torch.equal(a.merge(b).matrix, both.matrix)
    with pytest.raises(ValueError, match="shape"):
        ConfusionMatrix(3).update(t([0, 1]), t([0]))
    with pytest.raises(TypeError, match="argmax"):
        ConfusionMatrix(3).update(torch.zeros(2), t([0, 1]))
    with pytest.raises(ValueError, match="target holds values"):
        ConfusionMatrix(3).update(t([0]), t([3]))
    with pytest.raises(ValueError, match="ignore_index"):
        ConfusionMatrix(3, ignore_index=2)
    with pytest.raises(ValueError, match="2 class names given for 3 classes"):
        ConfusionMatrix(3, class_names=["a", "b"])
    with pytest.raises(ValueError, match="different classes"):
        ConfusionMatrix(3).merge(ConfusionMatrix(3, void_predictions="skip"))


# ----------------------------------------------------------------------------- maps accuracy
def test_maps_accuracy_threshold_is_strict_max_over_channels():
    target = torch.full((1, 3, 1, 4), 100, dtype=torch.uint8)
    pred = target.clone()
    pred[0, 0, 0, 0] = 119  # max diff 19 -> right at 20
    pred[0, 1, 0, 1] = 80  # max diff 20 -> wrong at 20 (strict <)
    pred[0, :, 0, 2] = torch.tensor([110, 90, 115], dtype=torch.uint8)  # max 15 -> right
    # pixel 3 identical
    scores = maps_pixel_accuracy(pred, target, thresholds=(10, 20, 21))
    assert scores["pixel_accuracy@20"] == pytest.approx(3 / 4)
    assert scores["pixel_accuracy@21"] == pytest.approx(1.0)
    assert scores["pixel_accuracy@10"] == pytest.approx(1 / 4)
    assert scores["mean_image_accuracy@20"] == pytest.approx(3 / 4)


def test_maps_accuracy_pooled_vs_per_image_mean():
    acc = MapsAccuracy(thresholds=(20,))
    small = torch.zeros(1, 3, 1, 1, dtype=torch.uint8)
    acc.update(small, small)  # 1 of 1 pixel right
    big_target = torch.zeros(1, 3, 1, 3, dtype=torch.uint8)
    big_pred = big_target.clone()
    big_pred[..., 1:] = 200  # 1 of 3 right
    acc.update(big_pred, big_target)
    scores = acc.result()
    assert scores["pixel_accuracy@20"] == pytest.approx(2 / 4)
    assert scores["mean_image_accuracy@20"] == pytest.approx((1 + 1 / 3) / 2)
    # generator outputs in [-1, 1] are accepted
    as_float = maps_pixel_accuracy(torch.full((1, 3, 2, 2), -1.0), torch.zeros(1, 3, 2, 2, dtype=torch.uint8), (20,))
    assert as_float["pixel_accuracy@20"] == 1.0


# ----------------------------------------------------------------------------- real labels
def _jpeg_round_trip(array: np.ndarray, quality: int = 75) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return np.array(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


@pytest.mark.parametrize("dataset", ["facades", "cityscapes"])
def test_real_label_halves_as_predictions(data_root, dataset):
    """Ground truth vs the same label half re-encoded as JPEG: only JPEG noise separates them."""
    palette = get_palette(dataset)
    labels = read_halves(data_root / dataset / "val", 25, "label")
    same = ConfusionMatrix(palette.num_classes)
    chance = ConfusionMatrix(palette.num_classes)
    generator = torch.Generator().manual_seed(0)
    for label in labels:
        target = palette.to_index(label)
        same.update(palette.to_index(_jpeg_round_trip(label)), target)
        chance.update(torch.randint(0, palette.num_classes, target.shape, generator=generator), target)
    assert same.pixel_accuracy() > 0.95
    assert same.mean_iou() > 0.8
    # uniformly random labels: accuracy 1/K; IoU_i -> (t_i/K) / (t_i + N/K - t_i/K)
    k = palette.num_classes
    assert chance.pixel_accuracy() == pytest.approx(1 / k, abs=0.005)
    assert chance.mean_class_accuracy() == pytest.approx(1 / k, abs=0.01)
    totals = chance.gt_totals.double()
    totals = totals[totals > 0]
    expected_iou = ((totals / k) / (totals + totals.sum() / k - totals / k)).mean().item()
    assert chance.mean_iou() == pytest.approx(expected_iou, abs=0.005)


def test_fcn_label_targets_ignore_far_colours(data_root):
    palette = get_palette("cityscapes")
    label = read_halves(data_root / "cityscapes" / "val", 1, "label")[0]
    rgb = torch.from_numpy(label).permute(2, 0, 1).unsqueeze(0)
    plain = palette.to_index(rgb)
    targets = label_targets(rgb, palette)
    far = palette.distance_to_palette(rgb) > 40
    assert far.any() and (targets[far] == 255).all()
    assert torch.equal(targets[~far], plain[~far])
    assert torch.equal(label_targets(rgb, palette, max_color_distance=None), plain)


def test_fcn_score_with_a_perfect_segmenter(data_root):
    """Segmenting into exactly the label map (void -> 255) scores 1.0 on every kept pixel."""
    palette = get_palette("cityscapes")
    labels = as_batch(read_halves(data_root / "cityscapes" / "val", 4, "label"))

    class Oracle:
        protocol = "oracle"

        def segment(self, images):
            return palette.to_index(labels)

    score = FcnScore(Oracle()).update(labels, labels).result()
    assert score["pixel_accuracy"] == 1.0 and score["mean_iou"] == 1.0
    assert "oracle" in score["protocol"] and "void predictions skipped" in score["protocol"]


def test_maps_accuracy_on_real_maps(data_root):
    """A re-encoded ground-truth map is right almost everywhere; another tile's map is not."""
    maps = as_batch(read_halves(data_root / "maps" / "val", 6, "label"))
    round_trip = as_batch(_jpeg_round_trip(a.permute(1, 2, 0).numpy()) for a in maps)
    assert maps_pixel_accuracy(round_trip, maps)["pixel_accuracy@20"] > 0.99
    # unrelated tiles still agree on much of the plain background: the metric's floor is high
    shuffled = maps_pixel_accuracy(maps.roll(1, dims=0), maps)
    assert 0.2 < shuffled["pixel_accuracy@20"] < 0.8
    # and a blank map in the commonest colour of other tiles (train) scores about as well
    train = as_batch(read_halves(data_root / "maps" / "train", 6, "label"))
    color = best_blank_color(train)
    assert min(color) > 200  # the light grey background of the map style
    blank = blank_map_scores(color, maps)
    assert 0.2 < blank["mean_image_accuracy@20"] < 0.95 and blank["images"] == 6


def test_blank_map_baseline_counts_the_background_pixels():
    target = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    target[:, 0] = 240  # a reddish background
    target[0, :, :2, :] = 0  # half of the first map is black
    target[1, 1, 0, 0] = 30  # one pixel of the second is off by 30 in green: wrong at T = 20, right at 40
    best = best_blank_color(target)
    assert best[0] > 200 and blank_map_scores(best, target)["pixel_accuracy@20"] == pytest.approx(24 / 32)  # covers the off pixel too
    scores = blank_map_scores((240, 0, 0), target, thresholds=(20, 40))
    assert scores["mean_image_accuracy@20"] == pytest.approx((0.5 + 15 / 16) / 2)
    assert scores["mean_image_accuracy@40"] == pytest.approx((0.5 + 1.0) / 2)
    assert scores["pixel_accuracy@20"] == pytest.approx((8 + 15) / 32)


# ----------------------------------------------------------------------------- the registry
class _RedSegmenter:
    """A fake FCN-score segmenter: the class of a pixel is its red value modulo the number of classes."""

    protocol = "red channel"

    def __init__(self, num_classes):
        self.num_classes = num_classes

    def segment(self, images):
        return images[:, 0].long() % self.num_classes


def _mean_colour_features(device="cpu", batch_size=32):
    """A fake Inception: the mean colour and its square of each image (the metric's code, not the network's)."""
    return lambda images: torch.cat([images.double().mean((2, 3)), images.double().square().mean((2, 3))], 1)


@pytest.fixture
def cheap_metrics(monkeypatch):
    """Every registered metric enabled, with a fake segmenter and a fake Inception."""
    monkeypatch.setattr(metrics_module, "segmenter_for", lambda cfg, palette, device: _RedSegmenter(palette.num_classes))
    monkeypatch.setattr(fid_module, "InceptionFeatures", _mean_colour_features)
    cfg = Config()
    cfg.eval.fid = True
    return cfg


def _split(palette, n=6, size=8):
    """Random translations of a split: label maps in ``palette`` colours on the label side."""
    generator = torch.Generator().manual_seed(0)
    images = lambda: torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)  # noqa: E731
    if palette is None:
        return Translations(images(), images(), images())
    classes = torch.randint(0, palette.num_classes, (n, size, size), generator=generator)
    return Translations(images(), images(), palette.to_color(classes), classes)


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
@pytest.mark.parametrize("palette", [None, "synthetic"])
def test_each_kind_of_translation_gets_its_metrics(cheap_metrics, palette, direction):
    palette = palette and get_palette(palette)
    keys = list(create_metrics(cheap_metrics, palette, direction, "cpu"))
    expected = {
        (False, "AtoB"): ["photo_to_label"],  # no FID of label maps
        (False, "BtoA"): ["label_to_photo", "BtoA_fid"],
        (True, "AtoB"): ["AtoB_rgb", "AtoB_fid"],
        (True, "BtoA"): ["BtoA_rgb", "BtoA_fid"],
    }
    assert keys == expected[palette is None, direction]
    cheap_metrics.eval.fid = False
    assert list(create_metrics(cheap_metrics, palette, direction, "cpu")) == [k for k in keys if not k.endswith("_fid")]


@pytest.mark.parametrize("entry", METRICS, ids=lambda entry: entry.key)
def test_a_split_scored_in_two_halves_and_merged_scores_as_the_whole(cheap_metrics, entry):
    palette = None if entry.kinds[0] == RGB else get_palette("synthetic")
    split = _split(palette)
    fields = (split.inputs, split.outputs, split.targets, split.target_classes)
    first, second = (
        entry.metric.create(cheap_metrics, palette, "cpu").update(Translations(*(f if f is None else f[rows] for f in fields)))
        for rows in (slice(0, 2), slice(2, None))
    )  # fmt: skip
    whole = flatten(entry.metric.create(cheap_metrics, palette, "cpu").update(split).result())
    assert "note" not in whole and flatten(first.result()) != whole
    merged = flatten(first.merge(second).result())
    assert merged.keys() == whole.keys()
    for key, value in whole.items():
        assert merged[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), key


def test_rgb_scores_l1_in_minus_one_to_one_units():
    outputs = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    targets = torch.full((2, 3, 2, 2), 255, dtype=torch.uint8)
    targets[0] = 0  # half of the values are 255 apart (2 in [-1, 1] units), half are equal
    scores = metrics_module.RgbScores().update(Translations(outputs, outputs, targets)).result()
    assert scores["l1"] == 1.0 and scores["pixel_accuracy@20"] == 0.5 and scores["images"] == 2


def test_label_to_photo_without_a_segmenter_is_a_note():
    cfg = Config()
    scores = create_metrics(cfg, get_palette("synthetic"), "BtoA", "cpu")["label_to_photo"]
    assert scores.update(_split(get_palette("synthetic"))).result() == {"note": metrics_module.NO_SEGMENTER}
