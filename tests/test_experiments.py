"""The experiment scripts of experiments/ (issue 7), in their --quick versions, on the real data: okada_table1 and the
experiments that share its runs (test_experiments_shukla.py: shukla_tables' family; tests/experiment_scripts.py).

Each script is run once into temporary folders (tables, figures, sample grids, per-run records), then
again to check that finished runs are skipped, that an interrupted run is resumed, that the table says
PARTIAL while runs are missing, and that finished models can be scored on another split.
The script runs and the tests that look at their folders (``folders``) are marked slow; ``make test-fast`` keeps
the rest (other plans, recorded runs, run_all.sh).
"""

import json
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from experiment_scripts import EXPERIMENTS, assert_png, progress, run_script, run_to_the_end, script, table_rows
from experiments import cli
from semicycle import checkpoints
from semicycle.config import flatten


@pytest.mark.slow
def test_okada_table1_partial_then_complete_then_skipped(folders, capsys):
    out = folders["out"] / "okada_table1"
    # the scorer held by another worker (its lock names another machine): cyclegan_seed0 trains, but is
    # not scored with an unfinished scorer
    scorer_lock = folders["runs"] / "okada_table1" / "scorer" / ".experiment.lock"
    scorer_lock.parent.mkdir(parents=True)
    scorer_lock.write_text("another-machine:1")
    code, output = run_script("okada_table1", folders, "--only", "cyclegan_seed0", capsys=capsys)
    assert code == 0, output
    assert "scorer: busy (pid another-machine:1)" in output and "evaluation waits for scorer" in output
    assert not (folders["runs"] / "okada_table1" / "cyclegan_seed0" / "metrics_val.json").exists()
    assert "PARTIAL (0 of 4 runs)" in (out / "results.md").read_text()
    scorer_lock.unlink()

    # the scorer is trained, then the finished cyclegan_seed0 is evaluated: the table must say PARTIAL
    # and list the missing rows as "not yet run"
    code, output = run_script("okada_table1", folders, "--only", "cyclegan_seed0", capsys=capsys)
    assert code == 0, output
    text = (out / "results.md").read_text()
    assert "PARTIAL (1 of 4 runs)" in text and "not yet run" in text

    # an interrupted run (stopped after 4 of 16 iterations) is resumed by the next invocation
    code, output = run_script("okada_table1", folders, "--only", "okada_seed0", "--set", "train.max_steps=4", capsys=capsys)
    assert code == 0 and "stopped at iteration 4 of 16" in output
    assert not (folders["runs"] / "okada_table1" / "okada_seed0" / "metrics_val.json").exists()
    stopped = progress(folders, "okada_table1", "okada_seed0")
    assert (stopped["iteration"], stopped["finished"]) == (4, False) and stopped["train_seconds"] > 0
    assert "| `okada_seed0` | okada, 10% pairs, kappa = lambda = 10, seed 0 | stopped (continues at iteration 4) | 4 / 16 |" in (
        out / "results.md").read_text()

    code, output = run_script("okada_table1", folders, capsys=capsys)
    assert code == 0, output
    assert "resuming okada_seed0" in output
    finished = progress(folders, "okada_table1", "okada_seed0")
    assert (finished["iteration"], finished["finished"]) == (16, True)
    assert finished["train_seconds"] > stopped["train_seconds"]  # the training time of both sessions
    record = json.loads((out / "results.json").read_text())["runs"]["okada_seed0"]
    assert record["finished"] and record["train_seconds"] == finished["train_seconds"] and record["eval_seconds"] >= 0

    text = (out / "results.md").read_text()
    assert "PARTIAL" not in text and "not yet run" not in text
    rows = table_rows(out / "results.md")
    for row in ("CycleGAN", "CycleGAN + L_sv, 10% pairs (okada)", "real photos (scorer's upper bound)"):
        assert row in rows
    assert "| 0.3888 |" in text and "| 0.5003 |" in text  # the paper's Table 1 beside ours
    assert "semicycle train --preset okada2019-ssl-facades" in text and "semicycle evaluate" in text
    assert_png(out / "samples_AtoB.png")
    assert_png(out / "samples_BtoA.png")
    summary = json.loads((out / "results.json").read_text())
    assert summary["evaluated"] == summary["runs_total"] == 4
    scores = summary["runs"]["okada_seed1"]["metrics"]
    assert 0 <= scores["photo_to_label"]["pixel_accuracy"] <= 1
    assert "generated" in scores["label_to_photo"]  # the facades scorer was trained and used

    # a second invocation trains and evaluates nothing, and leaves results.json as it was
    before = (out / "results.json").read_text()
    time.sleep(1.1)  # "written" has a resolution of one second: a rewrite would show
    code, output = run_script("okada_table1", folders, capsys=capsys)
    assert code == 0 and "training" not in output and "resuming" not in output and "evaluating" not in output
    assert progress(folders, "okada_table1", "okada_seed0") == finished
    assert (out / "results.json").read_text() == before


@pytest.mark.slow
def test_okada_rate_sweep_reuses_table1_runs(folders, capsys):
    code, output = run_script("okada_rate_sweep", folders, capsys=capsys)
    assert code == 0, output
    out = folders["out"] / "okada_rate_sweep"
    runs = json.loads((out / "results.json").read_text())["runs"]
    for name in ("scorer", "cyclegan_seed0", "okada_seed0"):  # 0%, 10% and the scorer are okada_table1's runs
        assert Path(runs[name]["run_dir"]).parent.name == "okada_table1"
    assert "training cyclegan_seed0" not in output and "resuming cyclegan_seed0" not in output  # trained once for both experiments
    rows = table_rows(out / "results.md")
    assert [r for r in rows if r.endswith("%")] == ["0%", "2%", "5%", "10%", "20%", "100%"]
    assert "not yet run" not in (out / "results.md").read_text()
    assert_png(out / "rate_sweep.png")
    assert_png(out / "samples_AtoB.png")


@pytest.mark.slow
def test_okada_sweeps_score_photo_to_label_without_a_scorer_and_tabulate_both_knobs(folders, capsys):
    code, output = run_script("okada_sweeps", folders, capsys=capsys)
    assert code == 0, output
    out = folders["out"] / "okada_sweeps"
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert set(runs) == {"okada_seed0", "okada_kappa1_seed0", "cyclegan_seed0", "cyclegan_lambda1_seed0", "okada_lambda1_seed0"}
    for name, entry in runs.items():  # its own runs, scored photo -> label only: no scorer trained on this machine
        assert Path(entry["run_dir"]).parent.name == "okada_sweeps", name
        assert "photo_to_label" in entry["metrics"] and "label_to_photo" not in entry["metrics"], name
    configs = {name: (Path(runs[name]["run_dir"]) / "config.yaml").read_text() for name in ("okada_kappa1_seed0", "cyclegan_lambda1_seed0")}
    assert "kappa: 1.0\n" in configs["okada_kappa1_seed0"] and "lambda_cycle: 1.0\n" in configs["cyclegan_lambda1_seed0"]
    text = (out / "results.md").read_text()
    assert "### kappa" in text and "### lambda" in text and "not yet run" not in text and "label->photo" not in text
    assert_png(out / "sweep_kappa.png")
    assert_png(out / "sweep_lambda.png")


def test_okada_rate_sweep_full_plan_has_second_seeds(tmp_path):
    """The full plan: seed 1 for the 0%, 10% and 20% rows after every seed-0 run; 0% and 10% are okada_table1's seed-1 runs."""
    module, table1 = script("okada_rate_sweep"), script("okada_table1")
    args = cli.parse(cli.parser("plan", "okada_rate_sweep"), ["--runs-dir", str(tmp_path)])
    args.dataset = "facades"
    exp = module.build(args)
    assert [r.name for r in exp.runs][-3:] == ["cyclegan_seed1", "okada_seed1", "okada_rate20_seed1"]
    table1_args = cli.parse(cli.parser("plan", "okada_table1"), ["--runs-dir", str(tmp_path)])
    table1_args.seeds = [0, 1]
    table1_exp = table1.build(table1_args)
    for name in ("cyclegan_seed1", "okada_seed1"):  # the very runs of okada_table1 (trained once for both)
        assert exp.run(name).run_dir == table1_exp.run(name).run_dir and exp.run(name).overrides == table1_exp.run(name).overrides
    assert exp.run("okada_rate20_seed1").overrides == ["train.seed=1", "pairs.rate=0.2"]
    assert module.seed_runs(exp, 20) == ["okada_rate20_seed0", "okada_rate20_seed1"] and module.seed_runs(exp, 5) == ["okada_rate5_seed0"]


def test_okada_rate_sweep_on_cityscapes_sets_the_cyclegan_papers_numbers_beside_0_and_100(tmp_path):
    module = script("okada_rate_sweep")
    args = cli.parse(cli.parser("plan", "okada_rate_sweep"), ["--runs-dir", str(tmp_path)])
    args.dataset = "cityscapes"
    exp = module.build(args)
    fake = {"photo_to_label": {"pixel_accuracy": 0.5, "mean_class_accuracy": 0.2, "mean_iou": 0.1},
            "label_to_photo": {"generated": {"pixel_accuracy": 0.4, "mean_class_accuracy": 0.15, "mean_iou": 0.05}}}
    exp.metrics = {run.name: fake for run in exp.runs if not run.name.endswith("seed1")}  # before the second seeds
    assert "Not yet run: 0% seed 1, 10% seed 1, 20% seed 1. " in module.tabulate(exp)
    exp.metrics = {run.name: fake for run in exp.runs}
    text = module.tabulate(exp)
    assert "Not yet run" not in text
    rows = {line.split(" | ")[1]: line for line in text.splitlines() if line.startswith("| 0%") or line.startswith("| 100%")}
    assert "| 0.500 ± 0.000 (n=2) | 0.580 |" in rows["CycleGAN"] and "| 0.050 ± 0.000 (n=2) | 0.110 |" in rows["CycleGAN"]  # 2 seeds
    assert "| 0.500 | 0.850 |" in rows["pix2pix"] and "| 0.400 | 0.710 |" in rows["pix2pix"] and "| 0.050 | 0.180 |" in rows["pix2pix"]
    # ESPNet's upper bound (the real photos) is scored once, with the first run, and its row comes from that run
    assert [r.name for r in exp.runs if "eval.fcn_real_photos=false" not in r.eval_overrides] == ["cyclegan_seed0"]
    real = {"pixel_accuracy": 0.8, "mean_class_accuracy": 0.45, "mean_iou": 0.3}
    exp.metrics["cyclegan_seed0"] = {**fake, "label_to_photo": {**fake["label_to_photo"], "real_photos": real}}
    assert "| real photos (scorer's upper bound) | — | — | — | 0.800 | 0.450 | 0.300 |" in module.tabulate(exp)


@pytest.mark.slow
def test_time_to_quality_scores_every_kept_checkpoint(folders, capsys):
    code, output = run_script("time_to_quality", folders, capsys=capsys)
    assert code == 0, output
    out, runs = folders["out"] / "time_to_quality", folders["runs"] / "time_to_quality"
    for name in ("cyclegan", "okada_10", "pix2pix_10"):
        kept = sorted(p.name for p in (runs / name / "ckpt").glob("epoch_*.pt"))
        curve = json.loads((runs / name / "quality_curve_val.json").read_text())
        assert len(kept) >= 2 and [p["checkpoint"] for p in curve] == kept  # every kept checkpoint, in training order
        iterations = [p["iteration"] for p in curve]
        assert iterations == sorted(iterations) and iterations[-1] == json.loads((runs / name / "ckpt" / "progress.json").read_text())["iteration"]
        final = json.loads((runs / name / "metrics_val.json").read_text())["photo_to_label"]["mean_iou"]
        assert curve[-1]["mean_iou"] == pytest.approx(final)  # the last kept checkpoint is the final model
    assert (runs / "okada_10" / "pairs.txt").read_text() == (runs / "pix2pix_10" / "pairs.txt").read_text()  # the same pairs
    text = (out / "results.md").read_text()
    assert "CycleGAN's final mIoU" in text
    assert_png(out / "time_to_quality.png")


@pytest.mark.slow
def test_runs_trained_on_another_machine_keep_their_rows(folders, capsys):
    """Run folders stay on the machine that trained them: on a machine without them, the scores recorded in the
    results folder's results.json keep the tables (and time_to_quality's curves) as they were, for the configuration
    and split they were scored with only; another split or --set neither uses nor erases them."""
    out, runs = folders["out"] / "time_to_quality", folders["runs"] / "time_to_quality"
    tables_before = (out / "results.md").read_text().split("\n## Runs")[0]
    elsewhere = folders["runs"].parent / "time_to_quality_elsewhere"
    runs.rename(elsewhere)
    try:
        code, output = run_script("time_to_quality", folders, "--tabulate-only", capsys=capsys)
        assert code == 0, output
        text = (out / "results.md").read_text()
        assert text.split("\n## Runs")[0] == tables_before and "PARTIAL" not in text
        assert text.count("recorded: trained on another machine") == 3
        assert_png(out / "time_to_quality.png")

        code, output = run_script("time_to_quality", folders, "--tabulate-only", "--set", "cyclegan.lambda_cycle=5", capsys=capsys)
        assert code == 0, output
        assert "PARTIAL (0 of 3 runs)" in (out / "results.md").read_text()
        kept = json.loads((out / "results.json").read_text())["runs"]
        assert all(entry["metrics"] and entry["set"] == [] for entry in kept.values())  # not erased by the other setting

        code, output = run_script("time_to_quality", folders, "--tabulate-only", capsys=capsys)
        assert (out / "results.md").read_text().split("\n## Runs")[0] == tables_before

        # scores recorded before eval.label_decoding (semicycle 0.1's decoding) are kept but not tabulated, and the
        # runs list says why
        saved = json.loads((out / "results.json").read_text())
        scores = saved["runs"]["cyclegan"]["metrics"]["photo_to_label"]
        del scores["label_decoding"]
        scores["void_prediction_fraction"] = 0.01  # that decoding sent some pixels to void (else its scores are today's)
        (out / "results.json").write_text(json.dumps(saved))
        code, output = run_script("time_to_quality", folders, "--tabulate-only", capsys=capsys)
        text = (out / "results.md").read_text()
        assert "PARTIAL (2 of 3 runs)" in text and text.count("predate today's label decoding: not tabulated") == 1
        assert json.loads((out / "results.json").read_text())["runs"]["cyclegan"]["metrics"]  # kept
    finally:
        shutil.rmtree(runs, ignore_errors=True)  # the plans and locks the calls above wrote
        elsewhere.rename(runs)


@pytest.mark.slow
def test_recorded_scores_are_used_only_without_a_scorer_trained_here(folders, capsys):
    """Facades label -> photo scores come from a scorer trained on the machine: beside another scorer, runs trained
    elsewhere are not taken from results.json (they would be compared with runs scored otherwise); without one, their
    recorded scores keep the table."""
    out = folders["out"] / "okada_rate_sweep"
    tables_before = (out / "results.md").read_text().split("\n## Runs")[0]
    sweep, table1 = folders["runs"] / "okada_rate_sweep", folders["runs"] / "okada_table1"  # table1 holds the scorer
    elsewhere = {folder: folders["runs"].parent / f"{folder.name}_elsewhere" for folder in (sweep, table1)}
    sweep.rename(elsewhere[sweep])
    try:
        code, output = run_script("okada_rate_sweep", folders, "--tabulate-only", capsys=capsys)
        assert code == 0, output
        text = (out / "results.md").read_text()
        assert "PARTIAL (2 of 6 runs)" in text and "recorded" not in text  # 0% and 10% are table1's, here
        table1.rename(elsewhere[table1])
        code, output = run_script("okada_rate_sweep", folders, "--tabulate-only", capsys=capsys)
        assert code == 0, output
        text = (out / "results.md").read_text()
        assert text.split("\n## Runs")[0] == tables_before and text.count("recorded: trained on another machine") == 6
    finally:
        for folder, moved in elsewhere.items():
            if moved.exists():
                shutil.rmtree(folder, ignore_errors=True)  # the plans and locks the calls above wrote
                moved.rename(folder)


@pytest.mark.slow
def test_mondal_table1(folders, capsys):
    out, rows = run_to_the_end("mondal_table1", folders, capsys)
    expected = ["Full (100%)"] + [f"{kind} {r}%" for r in (10, 50) for kind in ("Partial", "mondal (semi-supervised)")]  # quick: 2 rates
    assert [r for r in rows if r in expected] == expected
    text = (out / "results.md").read_text()
    assert "| 0.5551 |" in text and "| 0.3636 |" in text and "| 0.4997 |" in text
    assert_png(out / "miou_vs_labels.png")
    assert_png(out / "samples_AtoB.png")
    runs = folders["runs"] / "mondal_table1"
    # Partial and mondal use the same labelled images at each rate
    assert (runs / "partial_10" / "pairs.txt").read_text() == (runs / "mondal_10" / "pairs.txt").read_text()
    config = (runs / "mondal_10" / "config.yaml").read_text()
    assert "flip: false" in config and "crop_size: 32" in config and "load_size: 32" in config

    # the diagnosis script probes the finished runs: accuracy for both, photo reconstructions for mondal only
    diagnose = script("mondal_diagnose")
    assert diagnose.main(["--runs-dir", str(runs), "--images", "3", "partial_10", "mondal_10"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert [line.split("|")[1:3] for line in lines] == [
        [f" `{run}` ", f" {group} "] for run in ("partial_10", "mondal_10") for group in ("train, labelled (1)", "train, unlabelled (3)", "val (3)")]  # quick: 8 images, 10% labelled
    cells = [[c.strip() for c in line.split("|")[3:8]] for line in lines]
    assert all(0 <= float(row[0]) <= 1 and 0 < float(row[1]) <= 1 for row in cells)
    assert all(row[2:] == ["—"] * 3 for row in cells[:3]) and all(float(v) > 0 for row in cells[3:] for v in row[2:])
    with pytest.raises(SystemExit, match="no trained run mondal_30"):
        diagnose.main(["--runs-dir", str(runs), "mondal_30"])
    with pytest.raises(SystemExit, match="full has no pairs.txt"):
        diagnose.main(["--runs-dir", str(runs), "full", "mondal_10"])
    assert diagnose.DEFAULT_RUNS == ["partial_10", "mondal_10"] + [f"mondal_10_{a}" for a in (
        "no_image_sup", "no_label_cycle", "no_image_cycle", "no_label_adv", "no_image_adv", "d_1x1")]


@pytest.mark.slow
def test_mondal_table1_full_plan_has_the_ablations(tmp_path):
    """The full (non-quick) plan: each ablation is mondal 10% with one override (a loss weight 0, 1x1 Ds), nothing else changed."""
    module = script("mondal_table1")
    args = cli.parse(cli.parser("plan", "mondal_table1"), ["--runs-dir", str(tmp_path)])
    args.dataset = "cityscapes"
    exp = module.build(args)
    ablations = ["no_image_sup", "no_label_cycle", "no_image_cycle", "no_label_adv", "no_image_adv", "d_1x1"]
    assert [r.name for r in exp.runs] == ["partial_10", "mondal_10", *(f"mondal_10_{a}" for a in ablations), "partial_30", "mondal_30",
                                          "partial_10_seed1", "mondal_10_seed1", "full", "partial_20", "mondal_20", "partial_50", "mondal_50"]
    one_epoch = ["train.epochs=1", "train.decay_epochs=0"]  # the schedule (semicycle.plan loads 1000 photos) is not in question
    base = exp.run("mondal_10")
    base_config = exp.build_config(base, one_epoch)
    assert base_config.model.discriminator == "pixelwise"
    for suffix, section, key, value in (("no_image_sup", "mondal", "lambda_image_sup", 0), ("no_label_cycle", "mondal", "lambda_label_cycle", 0),
                                        ("no_image_cycle", "mondal", "lambda_image_cycle", 0), ("no_label_adv", "mondal", "lambda_label_adv", 0),
                                        ("no_image_adv", "mondal", "lambda_image_adv", 0), ("d_1x1", "model", "discriminator", "pixelwise_1x1")):
        ablation = exp.run(f"mondal_10_{suffix}")
        assert ablation.preset == base.preset
        assert ablation.overrides == base.overrides + [f"{section}.{key}={value}"]
        assert getattr(getattr(exp.build_config(ablation, one_epoch), section), key) == value
    for name in ("partial_10", "mondal_10"):  # the second seed changes the seed only
        first, second = exp.run(name), exp.run(f"{name}_seed1")
        assert second.preset == first.preset and second.overrides == ["train.seed=1", *first.overrides[1:]]
        assert first.overrides[0] == "train.seed=0" and exp.build_config(second, one_epoch).train.seed == 1
    quick_args = cli.parse(cli.parser("plan", "mondal_table1"), ["--quick", "--runs-dir", str(tmp_path)])
    quick_args.dataset = "cityscapes"
    assert [r.name for r in module.build(quick_args).runs] == ["full", "partial_10", "mondal_10", "partial_50", "mondal_50"]


@pytest.mark.slow
def test_pretrained_encoder_shares_the_scratch_runs_and_swaps_only_the_photo_network(folders, capsys):
    """Issue 24: each scratch row is the other experiments' own run (trained once); each ImageNet row differs from
    it by model.generator_AtoB alone, and its checkpoint's photo -> label network is the encoder U-Net."""
    code, output = run_script("pretrained_encoder", folders, capsys=capsys)
    assert code == 0, output
    out = folders["out"] / "pretrained_encoder"
    rows = [row for row in table_rows(out / "results.md") if row != "method"]
    assert rows[:5] == ["segmenter (cross-entropy) on the 40 pairs", "pix2pix on the 40 pairs", "okada: + 400 unpaired photos and labels",
                        "shukla: + 400 unpaired photos and labels", "CycleGAN: unpaired only, no pairs"]
    assert rows[5:] == ["Partial: segmenter on 10% labels alone", "mondal: 10% labels + unlabelled photos"]
    assert "not yet run" not in (out / "results.md").read_text()
    runs = folders["runs"]
    for scratch in ("okada_table1/okada_seed0", "okada_table1/cyclegan_seed0", "mondal_table1/partial_10", "mondal_table1/mondal_10"):
        assert (runs / scratch / "metrics_val.json").is_file()
    shared = {"okada_scratch_seed0", "cyclegan_scratch_seed0", "partial_10_scratch", "mondal_10_scratch"}
    assert not shared & {p.name for p in (runs / "pretrained_encoder").iterdir()}
    for imagenet, scratch, network in (("pretrained_encoder/okada_imagenet_seed0", "okada_table1/okada_seed0", "G_AB"),
                                       ("pretrained_encoder/mondal_10_imagenet", "mondal_table1/mondal_10", "G_IS")):
        new, old = (checkpoints.load(runs / name / "ckpt") for name in (imagenet, scratch))
        differences = {k for k, v in flatten(new["config"]).items() if flatten(old["config"]).get(k) != v}
        assert differences == {"run_dir", "model.generator_AtoB"}
        assert new["arch"][network]["name"] == "mobilenet_v2_unet" and old["arch"][network]["name"] == "resnet_6blocks"
    assert_png(out / "samples_AtoB.png")
    assert_png(out / "samples_cityscapes_AtoB.png")


@pytest.mark.slow
def test_unpaired_payoff_compares_pairs_only_with_unlabelled_photos_per_budget(folders, capsys):
    """Issue 41: per dataset and budget, the segmenter with and without strong augmentation, unimatch and the
    dataset's semi-supervised method, every photo -> label network on the ImageNet encoder; unimatch's and the strong
    segmenter's configurations differ from the plain segmenter's only where they should."""
    code, output = run_script("unpaired_payoff", folders, capsys=capsys)
    assert code == 0, output
    out, runs = folders["out"] / "unpaired_payoff", folders["runs"] / "unpaired_payoff"
    rows = [row for row in table_rows(out / "results.md") if row != "budget"]
    assert rows == ["2 pairs", "25% labelled", "2 pairs, 64px"]  # the higher-resolution row: twice the quick size
    assert "not yet run" not in (out / "results.md").read_text()
    for method in ("segment_strong", "unimatch"):
        low, high = (flatten(yaml.safe_load((runs / f"{method}_{budget}_seed0" / "config.yaml").read_text())) for budget in ("2pairs", "2pairs_64px"))
        assert {k for k in low if high.get(k) != low[k]} == {"run_dir", "data.load_size", "data.crop_size"}
        assert high["data.crop_size"] == 2 * low["data.crop_size"]
    plain, strong, unimatch = (flatten(yaml.safe_load((runs / f"{m}_2pairs_seed0" / "config.yaml").read_text()))
                               for m in ("segment", "segment_strong", "unimatch"))
    assert {k for k in plain if strong.get(k) != plain[k]} == {"run_dir", "paired.augment"}
    assert unimatch["train.method"] == "unimatch" and unimatch["model.generator_AtoB"] == plain["model.generator_AtoB"] == "mobilenet_v2_unet"
    assert unimatch["pairs.rate"] == plain["pairs.rate"] and unimatch["data.crop_size"] == plain["data.crop_size"]


def test_unpaired_payoff_reuses_pretrained_encoders_runs_recorded_on_another_machine(tmp_path):
    """The full plan's 40-pair and 10% cells of the segmenter and of okada / mondal are pretrained_encoder's runs: on a
    machine without their folders, their scores come from pretrained_encoder's committed results.json."""
    module = script("unpaired_payoff")
    exp = cli.build_experiment(module.__doc__, module.NAME, module.build, ["--runs-dir", str(tmp_path)])
    shared = [run for run in exp.runs if run.run_dir.parent.name == "pretrained_encoder"]
    assert sorted(run.name for run in shared) == sorted(f"{m}_{b}_seed{s}" for m, b in (("segment", "40pairs"), ("okada", "40pairs"),
                                                                                          ("segment", "10pc"), ("mondal", "10pc")) for s in (0, 1))
    recorded = json.loads((EXPERIMENTS / "results" / "pretrained_encoder" / "results.json").read_text())["runs"]
    for run in shared:
        entry = exp.recorded(run)
        assert entry is not None and entry["metrics"] == recorded[run.run_dir.name]["metrics"]
    own = (json.loads(path.read_text())["runs"] if (path := EXPERIMENTS / "results" / "unpaired_payoff" / "results.json").is_file() else {})
    for run in exp.runs:  # its own runs: only from its own record
        if run not in shared:
            assert exp.recorded(run) is None or exp.recorded(run) == own[run.name]
    # the higher-resolution row: the 40-pair runs of the strong segmenter and unimatch at 128 px, two seeds
    for method in ("segment_strong", "unimatch"):
        for seed in (0, 1):
            low, high = exp.run(f"{method}_40pairs_seed{seed}"), exp.run(f"{method}_40pairs_128px_seed{seed}")
            assert high.preset == low.preset and high.overrides == [*low.overrides[:2], "data.load_size=144", "data.crop_size=128",
                                                                    *low.overrides[2:]]
    assert not [run for run in exp.runs if "128px" in run.name and run.name.split("_")[0] not in ("segment", "unimatch")]
    # a third seed exactly in the cells left undecided by two, differing from the second in the seed alone
    third = sorted(run.name for run in exp.runs if run.name.endswith("_seed2"))
    assert third == sorted(f"{m}_{b}_seed2" for b, methods in module.THIRD_SEED_CELLS.items() for m in methods) != []
    for name in third:
        second, run = exp.run(name.replace("_seed2", "_seed1")), exp.run(name)
        assert run.preset == second.preset and run.overrides == ["train.seed=2" if o == "train.seed=1" else o for o in second.overrides]


@pytest.mark.slow
def test_changed_configuration_is_refused(folders, capsys):
    """A run folder holding another configuration is never silently reused."""
    code, output = run_script("okada_table1", folders, "--only", "cyclegan_seed0", "--set", "cyclegan.lambda_cycle=5", capsys=capsys)
    assert code == 1
    summary = json.loads((folders["out"] / "okada_table1" / "results.json").read_text())
    assert "another configuration" in summary["runs"]["cyclegan_seed0"]["error"]
    assert "lambda_cycle" in summary["runs"]["cyclegan_seed0"]["error"]
    # restore the complete table for anyone reading the folder afterwards
    assert run_script("okada_table1", folders)[0] == 0


def test_run_all_starts_workers_that_run_every_script_and_stop_cleanly(tmp_path):
    """experiments/run_all.sh with a stand-in python: script order, threads per worker, --stop."""
    import os
    import subprocess
    import time

    fake = tmp_path / "fake_python"
    fake.write_text('#!/bin/bash\ntrap \'echo "TERM $2"; exit 143\' TERM\necho "start $* threads=$OMP_NUM_THREADS"\n'
                    'if [ "$2" = experiments.mondal_table1 ]; then sleep 60 & wait $!; fi\n')
    fake.chmod(0o755)
    env = {**{k: v for k, v in os.environ.items() if k != "SCRIPTS"}, "PYTHON": str(fake), "WORKER_DIR": str(tmp_path), "WORKER_STAGGER": "0"}
    script = str(EXPERIMENTS / "run_all.sh")
    started = subprocess.run([script, "2"], env=env, capture_output=True, text=True, check=True).stdout
    assert "worker 1: pid" in started and "worker 2: pid" in started
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    deadline = time.time() + 30
    while time.time() < deadline and not all("start -m experiments.mondal_table1" in log.read_text() for log in logs):
        time.sleep(0.2)
    again = subprocess.run([script, "2"], env=env, capture_output=True, text=True, check=True).stdout
    assert again.count("is already running") == 2  # never two workers under one number
    subprocess.run([script, "--stop"], env=env, capture_output=True, text=True, check=True)
    deadline = time.time() + 30
    while time.time() < deadline and list(tmp_path.glob("worker*.pid")):
        time.sleep(0.2)
    assert not list(tmp_path.glob("worker*.pid"))
    threads = max(1, len(os.sched_getaffinity(0)) // 2)  # what nproc counts
    for log in logs:
        text = log.read_text()
        order = [line.split()[2] for line in text.splitlines() if line.startswith("start ")]
        assert order == [f"experiments.{name}" for name in ("okada_table1", "okada_rate_sweep", "okada_sweeps", "time_to_quality", "shukla_maps",
                                                              "mondal_table1")]
        assert f"threads={threads}" in text
        assert "TERM experiments.mondal_table1" in text  # the run in progress was told to save and stop
        assert "shukla_tables" not in text  # and the worker did not go on to the next script
    # SCRIPT:DATASET passes --dataset
    env |= {"SCRIPTS": "okada_rate_sweep:cityscapes mondal_table1", "WORKER_DIR": str(tmp_path / "one")}
    subprocess.run([script, "1"], env=env, capture_output=True, text=True, check=True)
    log = tmp_path / "one" / "worker1.log"
    deadline = time.time() + 30
    while time.time() < deadline and "start -m experiments.mondal_table1" not in log.read_text():
        time.sleep(0.2)
    subprocess.run([script, "--stop"], env=env, capture_output=True, text=True, check=True)
    assert "start -m experiments.okada_rate_sweep --split val --dataset cityscapes threads=" in log.read_text()


def test_first_reaching_finds_the_first_point_at_the_target_in_either_direction():
    first_reaching = script("time_to_quality").first_reaching
    points = [{"iteration": i, "mean_iou": m, "fid": f} for i, m, f in ((1, 0.1, 90.0), (2, 0.3, 70.0), (3, 0.2, 60.0))]
    assert first_reaching(points, 0.2)["iteration"] == 2 and first_reaching(points, 0.4) is None
    assert first_reaching(points, 70.0, "fid", lower_is_better=True)["iteration"] == 2
    assert first_reaching(points, 50.0, "fid", lower_is_better=True) is None


@pytest.mark.slow
def test_cut_comparison_scores_three_methods_by_fid_and_kid_and_cut_with_pairs_against_okada(folders, capsys):
    """Issue 44: horse2zebra's CycleGAN, CUT and FastCUT at the same generator, discriminator and iterations, FID and KID on
    test from as many translated as real images; facades' okada against CUT with the supervised term in each direction."""
    code, output = run_script("cut_comparison", folders, capsys=capsys)
    assert code == 0, output
    out, runs = folders["out"] / "cut_comparison", folders["runs"] / "cut_comparison"
    assert {"CycleGAN", "CUT", "FastCUT"} <= set(table_rows(out / "results.md"))
    text = (out / "results.md").read_text()
    assert "not yet run" not in text and "| 45.500 |" in text and "not decidable (one run a cell)" in text
    recorded = json.loads((out / "results.json").read_text())["runs"]
    for name in ("cyclegan_seed0", "cut_seed0", "fastcut_seed0"):
        scores = recorded[name]["metrics"]
        assert scores["split"] == "test" and scores["AtoB_fid"]["fid"] > 0 and scores["AtoB_fid"]["kid"] is not None
        assert scores["AtoB_fid"]["fid_images_a"] == scores["AtoB_fid"]["fid_images_b"] == 4  # --quick: 4 of each
    curves = json.loads((out / "quality_curves_test.json").read_text())  # the kept checkpoints, scored like the final one
    for name in ("cut_seed0", "fastcut_seed0"):
        assert [p["checkpoint"] for p in curves[name]] == sorted(p.name for p in (runs / name / "ckpt").glob("epoch_*.pt"))
        assert len(curves[name]) >= 2 and all(p["fid"] > 0 for p in curves[name])
        assert curves[name][-1]["fid"] == pytest.approx(recorded[name]["metrics"]["AtoB_fid"]["fid"])  # the final model
        assert re.search(rf"- (CUT|FastCUT), {name}: (at or before|first at) iteration \d+ of \d+ \(\d+ min of training\)"
                         rf"|- (CUT|FastCUT), {name}: never reaches it", text)
    configs = {m: flatten(yaml.safe_load((runs / f"{m}_seed0" / "config.yaml").read_text())) for m in ("cyclegan", "cut", "fastcut")}
    for key in ("model.generator", "model.ngf", "model.discriminator", "model.ndf", "data.crop_size", "train.epochs"):
        assert configs["cyclegan"][key] == configs["cut"][key] == configs["fastcut"][key], key
    assert {k for k in configs["cut"] if configs["cut"][k] != configs["fastcut"][k]} == {
        "run_dir", "cut.lambda_nce", "cut.lambda_nce_identity", "cut.flip_equivariance"}

    facades_out = folders["out"] / "cut_comparison_facades"
    code = script("cut_comparison").main(["--quick", "--dataset", "facades", "--runs-dir", str(folders["runs"]), "--out", str(facades_out)])
    assert code == 0, capsys.readouterr().err[-3000:]
    recorded = json.loads((facades_out / "results.json").read_text())["runs"]
    assert set(recorded["okada_seed0"]["metrics"]) >= {"photo_to_label", "label_to_photo", "BtoA_fid"}
    assert "mean_iou" in recorded["cut_photo2label_seed0"]["metrics"]["photo_to_label"]
    assert recorded["cut_label2photo_seed0"]["metrics"]["BtoA_fid"]["fid"] > 0
    assert "generated" in recorded["cut_label2photo_seed0"]["metrics"]["label_to_photo"]  # scored by the facades scorer
    assert "not yet run" not in (facades_out / "results.md").read_text()
