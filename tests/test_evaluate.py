"""`semicycle evaluate` / `compare` / `train-scorer` end to end on tiny runs of every method."""

import json

import pytest
from PIL import Image

import semicycle
from semicycle.cli import main
from conftest import synthetic_dataset
from tiny_runs import tiny_overrides

TINY = tiny_overrides("data.max_images=8", "log.sample_every=0", "train.max_steps=3")
METHOD_ARGS = {
    "cyclegan": [],
    "okada": ["pairs.count=2"],
    "shukla": ["pairs.count=2"],
    "mondal": ["pairs.count=2", "model.discriminator=pixelwise"],
    "paired": ["paired.task=segment"],
}


@pytest.fixture(scope="module")
def small_synthetic_root(tmp_path_factory):
    """8 train and 5 val pairs, the sizes this module's tests are written for (e.g. 5 images scored)."""
    return synthetic_dataset(tmp_path_factory, n_train=8, n_val=5)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_synthetic_root):
    base = tmp_path_factory.mktemp("runs")
    for method, extra in METHOD_ARGS.items():
        assert main(["train", "--out", str(base / method), f"data.root={small_synthetic_root}", f"train.method={method}", *TINY, *extra]) == 0
    return base


@pytest.mark.parametrize("method", list(METHOD_ARGS))
def test_evaluate_every_method_checkpoint(method, runs):
    assert main(["evaluate", str(runs / method), "eval.samples=2"]) == 0
    metrics = json.loads((runs / method / "metrics.json").read_text())
    scores = metrics["photo_to_label"]
    assert metrics["images"] == 5 and metrics["split"] == "val"
    assert 0 <= scores["pixel_accuracy"] <= 1 and 0 <= scores["mean_iou"] <= 1
    assert set(scores["per_class_iou"]) == {"background", "building", "window", "disk", "stripe"}
    html = (runs / method / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 2 and "mean_iou" in html


def test_compare_prints_runs_side_by_side(runs, capsys):
    assert main(["evaluate", str(runs / "cyclegan")]) == 0 and main(["evaluate", str(runs / "okada")]) == 0
    capsys.readouterr()
    assert main(["compare", str(runs / "cyclegan"), str(runs / "okada")]) == 0
    table = capsys.readouterr().out
    assert "| metric | cyclegan | okada |" in table and "photo_to_label.mean_iou" in table


def test_folder_of_translations_scores_like_the_checkpoint(runs, small_synthetic_root, tmp_path):
    translator = semicycle.load(runs / "cyclegan")
    out = tmp_path / "translated"
    out.mkdir()
    for path in sorted((small_synthetic_root / "val").glob("*.png")):
        photo = Image.open(path).crop((0, 0, 32, 32))
        translator.translate(photo, "AtoB").save(out / path.name)
    assert main(["evaluate", str(runs / "cyclegan"), "--out", str(tmp_path / "ckpt_eval")]) == 0
    assert main(["evaluate", "--images", str(out), "--direction", "AtoB", "--config", str(runs / "cyclegan" / "config.yaml"),
                 "--out", str(tmp_path / "folder_eval")]) == 0
    from_folder = json.loads((tmp_path / "folder_eval" / "metrics.json").read_text())["photo_to_label"]
    from_checkpoint = json.loads((tmp_path / "ckpt_eval" / "metrics.json").read_text())["photo_to_label"]
    assert from_folder["pixel_accuracy"] == from_checkpoint["pixel_accuracy"]
    assert from_folder["mean_iou"] == from_checkpoint["mean_iou"]


def test_missing_translation_is_named(runs, small_synthetic_root, tmp_path, capsys):
    (tmp_path / "few").mkdir()
    (tmp_path / "few" / "1.png").write_bytes((small_synthetic_root / "val" / "1.png").read_bytes())
    assert main(["evaluate", "--images", str(tmp_path / "few"), "--direction", "AtoB",
                 "--config", str(runs / "cyclegan" / "config.yaml")]) == 2
    assert "no translation of 2.png" in capsys.readouterr().err


def test_label_to_photo_with_a_trained_scorer(runs, small_synthetic_root, tmp_path):
    scorer = tmp_path / "scorer"
    assert main(["train-scorer", "--out", str(scorer), "data.dataset=synthetic", f"data.root={small_synthetic_root}",
                 "data.palette=synthetic", *TINY]) == 0
    assert main(["evaluate", str(runs / "cyclegan"), f"eval.scorer={scorer}", "--out", str(tmp_path / "eval")]) == 0
    scores = json.loads((tmp_path / "eval" / "metrics.json").read_text())["label_to_photo"]
    assert set(scores) == {"generated", "real_photos"}
    assert 0 <= scores["generated"]["mean_iou"] <= 1
    # the upper bound is the same for every run on the split: eval.fcn_real_photos=false scores the generated photos only
    assert main(["evaluate", str(runs / "cyclegan"), f"eval.scorer={scorer}", "eval.fcn_real_photos=false",
                 "--out", str(tmp_path / "generated_only")]) == 0
    generated_only = json.loads((tmp_path / "generated_only" / "metrics.json").read_text())["label_to_photo"]
    assert generated_only == {"generated": scores["generated"]}


def test_cityscapes_fcn_score_with_espnet_and_maps_accuracy(tmp_path, data_root):
    city = tmp_path / "city"
    assert main(["train", "--out", str(city), "data.dataset=aligned", f"data.root={data_root / 'cityscapes'}",
                 "data.palette=cityscapes", *TINY, "data.max_images=4"]) == 0
    assert main(["evaluate", str(city), "eval.max_images=3",
                 f"eval.segmenter_weights={data_root.parent / 'weights' / 'espnet_p_2_q_8_cityscapes.pth'}"]) == 0
    metrics = json.loads((city / "metrics.json").read_text())
    upper = metrics["label_to_photo"]["real_photos"]
    assert upper["pixel_accuracy"] > metrics["label_to_photo"]["generated"]["pixel_accuracy"]
    assert "ESPNet" in upper["protocol"]
    # photo -> label under the papers' decoding (the default) and semicycle 0.1's, from the same outputs
    new = metrics["photo_to_label"]
    assert new["label_decoding"] == "classes" and new["void_prediction_fraction"] == 0 and metrics["precision"] == "fp32"
    assert main(["evaluate", str(city), "eval.max_images=3", "eval.label_decoding=classes_and_void", "--direction", "AtoB",
                 "--out", str(tmp_path / "old")]) == 0
    old = json.loads((tmp_path / "old" / "metrics.json").read_text())["photo_to_label"]
    assert old["label_decoding"] == "classes_and_void" and old["void_prediction_fraction"] > 0  # an untrained generator's colours
    # the pixels both decode to a class are the same; void ones can only become right
    assert old["pixel_accuracy"] <= new["pixel_accuracy"] <= old["pixel_accuracy"] + old["void_prediction_fraction"]

    maps = tmp_path / "maps"
    assert main(["train", "--out", str(maps), "data.dataset=aligned", f"data.root={data_root / 'maps'}", *TINY, "data.max_images=3"]) == 0
    assert main(["evaluate", str(maps), "eval.max_images=3"]) == 0
    metrics = json.loads((maps / "metrics.json").read_text())
    assert 0 <= metrics["AtoB_rgb"]["pixel_accuracy@20"] <= 1 and "BtoA_rgb" in metrics


def test_evaluate_rejects_training_overrides(runs, capsys):
    assert main(["evaluate", str(runs / "cyclegan"), "train.epochs=3"]) == 2
    assert "only eval.* settings can be changed, not train.epochs" in capsys.readouterr().err


def test_images_with_a_preset_and_dataset_settings(small_synthetic_root, tmp_path):
    """evaluate --images DIR --preset P data.root=X: the settings describe the data (here: perfect label maps)."""
    translated = tmp_path / "translated"
    translated.mkdir()
    for path in sorted((small_synthetic_root / "val").glob("*.png")):
        Image.open(path).crop((32, 0, 64, 32)).save(translated / path.name)  # the ground-truth B half
    out = tmp_path / "eval"
    assert main(["evaluate", "--images", str(translated), "--preset", "demo", f"data.root={small_synthetic_root}",
                 "data.load_size=32", "data.crop_size=32", "--direction", "AtoB", "--out", str(out), "eval.samples=1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 5 and metrics["size"] == 32  # data.root and data.crop_size were used (demo: 64 px, 50 images)
    assert metrics["photo_to_label"]["pixel_accuracy"] == 1.0
    assert (out / "report.html").read_text().count("data:image/png;base64") >= 1


def test_run_settings_after_options_and_any_evaluation_size(runs, tmp_path):
    out = tmp_path / "eval"
    # 30 px: the ResNet cannot train on it (data.crop_size), but evaluation pads the inputs
    assert main(["evaluate", str(runs / "cyclegan"), "--out", str(out), "eval.max_images=2", "eval.size=30"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 2 and metrics["size"] == 30


def test_a_subset_run_trains_on_its_subset_and_is_scored_on_whole_splits(small_synthetic_root, tmp_path):
    listing = tmp_path / "subset.txt"
    listing.write_text("2.png\n5.png\n7.png\n")
    run = tmp_path / "subset_run"
    assert main(["train", "--out", str(run), f"data.root={small_synthetic_root}", f"data.subset={listing}", "pairs.count=1",
                 "train.method=okada", *TINY]) == 0
    assert (run / "pairs.txt").read_text().strip() in {"2.png", "5.png", "7.png"}  # pairs are chosen among the subset
    assert main(["evaluate", str(run), "--split", "train"]) == 0
    assert json.loads((run / "metrics.json").read_text())["images"] == 8  # every training image, not the subset
