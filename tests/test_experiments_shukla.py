"""The experiment scripts that share shukla_tables' runs (shukla_tables, shukla_supplement, shukla_maps,
label_to_photo_fid), in their --quick versions on the real data; see test_experiments.py and
tests/experiment_scripts.py."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from experiment_scripts import REPO, assert_png, run_script, run_to_the_end, script, table_lines, table_rows
from experiments import cli


@pytest.mark.slow
def test_shukla_tables(folders, capsys):
    out, rows = run_to_the_end("shukla_tables", folders, capsys)
    for row in ("1, random (1 draw)", "1, k-medoids", "2, k-medoids", "all 8 (the paper's \"- / 200\" row of Table 2)",
                "8 unpaired, CycleGAN", "8 unpaired, shukla losses, 0 pairs", "+ 1 k-medoids pair", "+ 2 random pairs (1 draw)",
                "+ 2 k-medoids pairs, unbalanced"):
        assert row in rows, row
    text = (out / "results.md").read_text()
    assert "not yet run" not in text
    # Table 1 by class group: every cell is the mean of that group's per-class IoU in the run's metrics
    kmedoids = json.loads((folders["runs"] / "shukla_tables" / "pix2pix_kmedoids_1" / "metrics_val.json").read_text())
    ious = kmedoids["photo_to_label"]["per_class_iou"]
    frequent_names = ("road", "building", "vegetation", "sidewalk", "car", "sky")
    frequent = [v for k, v in ious.items() if k in frequent_names and v is not None]
    other = [v for k, v in ious.items() if k not in frequent_names and v is not None]
    row = re.search(r"^\| 1 \| (\S+) \| (\S+) \| (\S+) \| (\S+) \|$", text, re.M)
    assert row and (float(row[1]), float(row[3])) == (round(sum(frequent) / len(frequent), 3), round(sum(other) / len(other), 3)), row
    assert_png(out / "pairs_vs_accuracy.png")
    assert_png(out / "samples_AtoB.png")
    # the chosen images are part of the result, and the runs train on exactly those
    chosen = (out / "selection" / "unpaired8.txt").read_text().split()
    assert len(chosen) == 8
    runs = folders["runs"] / "shukla_tables"
    for name in ("cyclegan", "shukla_pairs0", "pix2pix_all"):
        subset = yaml.safe_load((runs / name / "config.yaml").read_text())["data"]["subset"]
        assert Path(subset).read_text().split() == chosen
        assert json.loads((runs / name / "plan.json").read_text())["training_samples"] == 8
    pairs = (out / "selection" / "pairs_kmedoids_2.txt").read_text().split()
    assert set(pairs) <= set(chosen)
    assert set((runs / "shukla_kmedoids_2" / "pairs.txt").read_text().split()) == set(pairs)
    assert "balance: false" in (runs / "shukla_kmedoids_2_unbalanced" / "config.yaml").read_text()
    # the identity-weight ablation differs from its row in that weight only
    for name in ("shukla_pairs0", "shukla_kmedoids_2"):
        row, ablation = (yaml.safe_load((runs / run / "config.yaml").read_text()) for run in (name, name + "_identity5"))
        assert (row["cyclegan"].pop("lambda_identity"), ablation["cyclegan"].pop("lambda_identity")) == (1.0, 0.5)
        assert {k: v for k, v in row.items() if k != "run_dir"} == {k: v for k, v in ablation.items() if k != "run_dir"}
    assert {"ablation: 0 pairs, identity weight 5", "ablation: + 2 k-medoids pairs, identity weight 5"} <= set(rows)
    # paired only at a balanced run's steps on pairs: the same run as Table 1's, half the iterations
    full, half = (json.loads((runs / name / "plan.json").read_text()) for name in ("pix2pix_kmedoids_2", "pix2pix_kmedoids_2_iters8"))
    assert (full["iterations_budget"], half["iterations_budget"]) == (16, 8)
    shukla_plan = json.loads((runs / "shukla_kmedoids_2" / "plan.json").read_text())
    assert shukla_plan["steps_per_epoch"] == 2 * 8  # balanced: as many pair items as unpaired ones, so half its steps are on pairs
    row, short = (yaml.safe_load((runs / name / "config.yaml").read_text()) for name in ("pix2pix_kmedoids_2", "pix2pix_kmedoids_2_iters8"))
    for config in (row, short):
        del config["run_dir"], config["train"]["epochs"], config["train"]["decay_epochs"]
    assert row == short
    cells = re.search(r"^\| 2 \| (\S+) \| (\S+) \| (\S+) \|$", text, re.M)
    half_metrics = json.loads((runs / "pix2pix_kmedoids_2_iters8" / "metrics_val.json").read_text())
    assert cells and float(cells[2]) == round(half_metrics["photo_to_label"]["mean_iou"], 3), cells


@pytest.mark.slow
def test_a_run_naming_its_list_by_another_path_to_the_same_file_is_the_same_run(folders, capsys):
    """A run trained from a worktree (``--runs-dir`` in another checkout) holds the absolute path of its image list,
    the checkout asks for it by a relative one: the same file, the same run. Another file is another run."""
    import os

    runs = folders["runs"] / "shukla_tables"
    config = runs / "cyclegan" / "config.yaml"
    original = config.read_text()
    saved = yaml.safe_load(original)
    try:
        saved["data"]["subset"] = os.path.relpath(saved["data"]["subset"], REPO)  # relative to the repository, as rel() writes
        config.write_text(yaml.safe_dump(saved))
        code, output = run_script("shukla_tables", folders, "--tabulate-only", "--only", "cyclegan", capsys=capsys)
        assert code == 0 and "another configuration" not in output, output
        saved["data"]["subset"] = str(runs / "selection" / "pairs_kmedoids_2.txt")
        config.write_text(yaml.safe_dump(saved))
        code, output = run_script("shukla_tables", folders, "--tabulate-only", "--only", "cyclegan", capsys=capsys)
        assert code == 1 and "another configuration (data.subset:" in output, output
    finally:
        config.write_text(original)
        assert run_script("shukla_tables", folders, "--tabulate-only")[0] == 0


@pytest.mark.slow
def test_scores_from_the_old_label_decoding_are_rescored_by_tabulate_only(folders, capsys):
    path = folders["runs"] / "shukla_tables" / "pix2pix_kmedoids_1" / "metrics_val.json"
    metrics = json.loads(path.read_text())
    scores = metrics["photo_to_label"]
    assert scores["label_decoding"] == "classes" and scores["void_prediction_fraction"] == 0
    del scores["label_decoding"]  # as scored by semicycle 0.1 (nearest class or void colour), which sent 1% to void
    scores["mean_iou"], scores["void_prediction_fraction"] = -1.0, 0.01
    path.write_text(json.dumps(metrics))
    code, output = run_script("shukla_tables", folders, "--tabulate-only", capsys=capsys)
    assert code == 0 and "training" not in output and "pix2pix_kmedoids_1: evaluated" in output, output
    rescored = json.loads(path.read_text())["photo_to_label"]
    assert rescored["label_decoding"] == "classes" and rescored["mean_iou"] >= 0
    assert "shukla_kmedoids_1: done" in output  # scores of today's protocol are kept


@pytest.mark.slow
def test_decoding_compare_lists_both_decodings_of_a_run(folders, capsys):
    from semicycle.cli import main

    run = folders["runs"] / "shukla_tables" / "pix2pix_kmedoids_1"
    assert main(["evaluate", str(run), "--direction", "AtoB", "--out", str(run / "eval" / "val_classes_and_void"),
                 "eval.label_decoding=classes_and_void"]) == 0
    capsys.readouterr()
    assert script("decoding_compare").main(["--runs-dir", str(folders["runs"])]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert [row.split("|")[1].strip() for row in rows] == ["`pix2pix_kmedoids_1`"]  # the only run scored both ways
    new = json.loads((run / "metrics_val.json").read_text())["photo_to_label"]
    old = json.loads((run / "eval" / "val_classes_and_void" / "metrics.json").read_text())["photo_to_label"]
    cells = [cell.strip() for cell in rows[0].split("|")[2:7]]
    assert cells == [f"{new['pixel_accuracy']:.3f}", f"{old['pixel_accuracy']:.3f}", f"{new['mean_iou']:.3f}",
                     f"{old['mean_iou']:.3f}", f"{old['void_prediction_fraction']:.3f}"]


@pytest.mark.slow
def test_shukla_tables_keeps_recorded_runs_asked_for_from_another_runs_folder(folders, tmp_path, capsys):
    """Table 2's runs name their lists and data folder by paths in the runs folder: a process with another
    ``--runs-dir`` (a worktree, another machine) asks for the same runs by other paths and keeps their recorded scores."""
    out = tmp_path / "out" / "shukla_tables"
    shutil.copytree(folders["out"] / "shukla_tables", out)
    saved = json.loads((out / "results.json").read_text())["runs"]
    assert any(str(folders["runs"]) in item for item in saved["shukla_kmedoids_2"]["overrides"])
    module = script("shukla_tables")
    code = module.main(["--quick", "--runs-dir", str(tmp_path / "runs"), "--out", str(out), "--tabulate-only"])
    text = (out / "results.md").read_text()
    assert code == 0, capsys.readouterr()
    assert "not yet run" not in text and text.count("recorded: trained on another machine") == len(saved)
    # every table, the class-group one (per-class IoU) included, is the same as beside the run folders
    assert table_lines(out / "results.md") == table_lines(folders["out"] / "shukla_tables" / "results.md")


def test_shukla_tables_full_plan_has_second_seeds_last(tmp_path):
    """Table 2's CycleGAN, 0-pair and 20 k-medoids rows get a training seed 1 run each (the same pair list), trained last;
    shukla_supplement's plan scores those same runs."""
    module = script("shukla_tables")
    args = cli.parse(cli.parser("plan", "shukla_tables"), ["--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    args.tables = [1, 2]
    exp = module.build(args)
    second = ["cyclegan_seed1", "shukla_pairs0_seed1", "shukla_kmedoids_20_seed1"]
    assert [r.name for r in exp.runs][-3:] == second
    for name in second:
        first, run = exp.run(name.removesuffix("_seed1")), exp.run(name)
        assert run.preset == first.preset and run.overrides == [
            "train.seed=1" if item == "train.seed=0" else item for item in first.overrides] != first.overrides
        assert exp.seeds(first.name) == [first.name, name]
    assert exp.seeds("shukla_kmedoids_5") == ["shukla_kmedoids_5"]

    # shukla_supplement scores the same seed-1 runs (Table 5's full row photo -> label, Table 9's rows label -> photo)
    supplement = script("shukla_supplement")
    plan = supplement.build(cli.parse(cli.parser("plan", "shukla_supplement"),
                                                    ["--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]))
    assert plan.seeds("shukla_kmedoids_20") == ["shukla_kmedoids_20", "shukla_kmedoids_20_seed1"]
    assert plan.run("shukla_kmedoids_20_seed1").run_dir == exp.run("shukla_kmedoids_20_seed1").run_dir
    assert plan.run("shukla_kmedoids_20_seed1").direction == "AtoB"
    for name in second:
        scored, trained = plan.run(name.replace("_seed1", "_b2a_seed1")), exp.run(name)
        assert (scored.run_dir, scored.preset, scored.overrides, scored.direction) == (trained.run_dir, trained.preset, trained.overrides, "BtoA")
        assert plan.seeds(name.replace("_seed1", "_b2a")) == [name.replace("_seed1", "_b2a"), scored.name]
    assert plan.seeds("shukla_kmedoids_5_b2a") == ["shukla_kmedoids_5_b2a"]


def test_shukla_tables_trains_on_the_lists_chosen_before(tmp_path, data_root):
    """A list in the results folder (chosen on another machine, whose runs' scores are recorded there) is taken as it
    is, not chosen again on this machine's features; the pairs are then chosen among its images."""
    from semicycle.data.io import list_images

    module = script("shukla_tables")
    out = tmp_path / "results" / "shukla_tables"
    recorded = "".join(f"{path.name}\n" for path in reversed(list_images(data_root / "cityscapes" / "train")[8:16]))
    (out / "selection").mkdir(parents=True)
    (out / "selection" / "unpaired8.txt").write_text(recorded)
    args = cli.parse(cli.parser("plan", "shukla_tables"),
                               ["--quick", "--runs-dir", str(tmp_path / "runs"), "--out", str(out)])
    args.tables = [1, 2]
    module.build(args)
    selection = tmp_path / "runs" / "shukla_tables" / "selection"
    assert (selection / "unpaired8.txt").read_text() == recorded
    assert set((selection / "pairs_kmedoids_2.txt").read_text().split()) <= set(recorded.split())


@pytest.mark.slow
def test_shukla_supplement_shares_table2_runs_and_scores_them_label_to_photo(folders, capsys):
    code, output = run_script("shukla_supplement", folders, capsys=capsys)
    assert code == 0, output
    out, runs = folders["out"] / "shukla_supplement", folders["runs"]
    text = (out / "results.md").read_text()
    assert "### Table 5" in text and "### Table 8" in text and "### Table 9" in text and "not yet run" not in text
    table2 = runs / "shukla_tables" / "shukla_kmedoids_2"
    # Table 9 scores Table 2's run in the other direction, beside (not over) its photo -> label scores
    forward, backward = (json.loads((table2 / name).read_text()) for name in ("metrics_val.json", "metrics_val_BtoA.json"))
    assert "photo_to_label" in forward and "label_to_photo" not in forward
    assert "label_to_photo" in backward and "photo_to_label" not in backward
    # each scoring's own wall time: the supplement lists the label -> photo one, not Table 2's photo -> label one
    eval_seconds = json.loads((table2 / "walltime.json").read_text())["eval_seconds"]
    recorded = json.loads((out / "results.json").read_text())["runs"]
    assert recorded["shukla_kmedoids_2_b2a"]["eval_seconds"] == eval_seconds["val_BtoA"] != eval_seconds["val"]
    assert recorded["pix2pix_b2a_kmedoids_2"]["eval_seconds"] > 0
    config = (runs / "shukla_supplement" / "pix2pix_b2a_kmedoids_2" / "config.yaml").read_text()
    assert "direction: BtoA" in config and "pairs_kmedoids_2.txt" in config  # Table 2's pair list, label -> photo
    # those lists belong to shukla_tables' runs folder: kept in its results folder only, not copied into this one
    assert (folders["out"] / "shukla_tables" / "selection" / "pairs_kmedoids_2.txt").is_file()
    assert not (out / "selection").exists()
    ablation = (runs / "shukla_supplement" / "shukla_kmedoids_2_no_cycle" / "config.yaml").read_text()
    assert "lambda_cycle: 0.0" in ablation
    assert_png(out / "label_to_photo_vs_pairs.png")  # Tables 8 and 9 against the number of pairs
    assert "label_to_photo_vs_pairs.png" in text


@pytest.mark.slow
def test_shukla_maps_and_scoring_another_split(folders, capsys):
    out, rows = run_to_the_end("shukla_maps", folders, capsys)
    assert [r for r in rows if "pairs" in r or "paired" in r] == [
        "8 paired only (pix2pix)", "8 unpaired, 0 pairs", "8 unpaired + 1 k-medoids pair", "8 unpaired + 2 k-medoids pairs"]
    text = (out / "results.md").read_text()
    assert "0.356 ± 0.016" in text and "0.377 ± 0.018" in text  # the paper's Table 4 rows for 0 pairs and all paired
    floor = re.search(r"The floor: a blank map in the colour that is right on most pixels of the 8 training maps, RGB \((\d+), (\d+), (\d+)\) "
                      r"\(no model\), scores (0\.\d+) \(mean over images\) / (0\.\d+) \(pooled\) on the same (\d+) val images at 32 px", text)
    assert floor and min(map(int, floor.groups()[:3])) > 200 and 0.2 < float(floor[4]) < 1, text
    assert_png(out / "maps_accuracy.png")
    assert_png(out / "samples_AtoB.png")

    # the same models scored on another split of the same layout, without training anything
    other = folders["out"] / "shukla_maps_train"
    code, output = run_script("shukla_maps", folders, "--split", "train", "--tabulate-only", "--out", str(other), capsys=capsys)
    assert code == 0 and "training" not in output
    run = folders["runs"] / "shukla_maps" / "shukla_pairs0"
    assert json.loads((run / "metrics_train.json").read_text())["split"] == "train"
    assert json.loads((run / "metrics_val.json").read_text())["split"] == "val"
    assert "evaluated on `train`" in (other / "results.md").read_text()


@pytest.mark.slow
def test_label_to_photo_fid_scores_shared_runs_with_fid_kid_and_fcn_on_the_same_images(folders, capsys):
    """Issue 41: the label -> photo network of pix2pix and of okada / shukla scored with FID, KID and the FCN-score on the
    same val images, into a scores file of its own beside the owners' (the shared runs keep their label -> photo scores)."""
    code, output = run_script("label_to_photo_fid", folders, capsys=capsys)
    assert code == 0, output
    out, runs = folders["out"] / "label_to_photo_fid", folders["runs"]
    text = (out / "results.md").read_text()
    assert "not yet run" not in text and "### Did the unpaired images make the photos more realistic?" in text
    assert [row for row in table_rows(out / "results.md") if row.startswith(("Facades", "Cityscapes"))] == [
        "Facades, 40 pairs (+ 400 unpaired photos and labels)"] * 2 + ["Cityscapes, 2 k-medoids pairs (+ 8 unpaired images)"] * 2 + [
        "Facades, 40 pairs (+ 400 unpaired photos and labels)", "Cityscapes, 2 k-medoids pairs (+ 8 unpaired images)"]
    folders_scored = {"pix2pix_40pairs_seed0": runs / "label_to_photo_fid" / "pix2pix_40pairs_seed0",
                      "okada_40pairs_seed0": runs / "okada_table1" / "okada_seed0",
                      "pix2pix_kmedoids2_seed0": runs / "shukla_supplement" / "pix2pix_b2a_kmedoids_2",
                      "shukla_kmedoids2_seed0": runs / "shukla_tables" / "shukla_kmedoids_2"}
    recorded = json.loads((out / "results.json").read_text())["runs"]
    for name, folder in folders_scored.items():
        scores = json.loads((folder / "metrics_val_BtoA_fid.json").read_text())
        assert scores["BtoA_fid"]["fid"] > 0 and scores["BtoA_fid"]["fid_images_a"] == scores["BtoA_fid"]["fid_images_b"] == 4
        assert "generated" in scores["label_to_photo"] and "photo_to_label" not in scores
        assert recorded[name]["metrics"]["BtoA_fid"]["kid"] == scores["BtoA_fid"]["kid"]
        for other in set(folder.glob("metrics_*.json")) - {folder / "metrics_val_BtoA_fid.json"}:  # the owners' scores: untouched
            assert "BtoA_fid" not in json.loads(other.read_text())
    # facades: pix2pix trains label -> photo on okada's 40 pairs (the same seeded choice) with okada's generator
    pix2pix = yaml.safe_load((folders_scored["pix2pix_40pairs_seed0"] / "config.yaml").read_text())
    okada = yaml.safe_load((folders_scored["okada_40pairs_seed0"] / "config.yaml").read_text())
    assert pix2pix["data"]["direction"] == "BtoA" and pix2pix["train"]["method"] == "paired"
    assert {k: pix2pix["model"][k] for k in ("generator", "norm", "ngf")} == {k: okada["model"][k] for k in ("generator", "norm", "ngf")}
    assert (folders_scored["pix2pix_40pairs_seed0"] / "pairs.txt").read_text() == (folders_scored["okada_40pairs_seed0"] / "pairs.txt").read_text()
    assert_png(out / "samples_facades_40pairs.png")


def test_label_to_photo_fid_full_plan_shares_the_owners_runs(tmp_path):
    """The full plan: facades 40 pairs, pix2pix (new) vs okada_table1's okada runs, two seeds each; Cityscapes 5 and 20
    k-medoids pairs, shukla_supplement's pix2pix label -> photo runs vs shukla_tables' runs, the seeds those trained (and a
    second pix2pix seed at 20 pairs, where shukla has two); every shared run in its owner's folder, with its configuration."""
    module = script("label_to_photo_fid")
    exp = cli.build_experiment(module.__doc__, module.NAME, module.build, ["--runs-dir", str(tmp_path)])
    owners = {"okada_40pairs_seed0": "okada_table1/okada_seed0", "okada_40pairs_seed1": "okada_table1/okada_seed1",
              "pix2pix_kmedoids5_seed0": "shukla_supplement/pix2pix_b2a_kmedoids_5",
              "pix2pix_kmedoids20_seed0": "shukla_supplement/pix2pix_b2a_kmedoids_20",
              "shukla_kmedoids5_seed0": "shukla_tables/shukla_kmedoids_5", "shukla_kmedoids20_seed0": "shukla_tables/shukla_kmedoids_20",
              "shukla_kmedoids20_seed1": "shukla_tables/shukla_kmedoids_20_seed1", "scorer": "okada_table1/scorer"}
    own = ["pix2pix_40pairs_seed0", "pix2pix_40pairs_seed1", "pix2pix_kmedoids20_seed1"]
    assert sorted(run.name for run in exp.runs) == sorted([*owners, *own])
    for name, folder in owners.items():
        assert exp.run(name).run_dir == tmp_path / folder
    for name in own:
        assert exp.run(name).run_dir == tmp_path / "label_to_photo_fid" / name
    source = [cli.build_experiment(m.__doc__, m.NAME, m.build, ["--runs-dir", str(tmp_path)], getattr(m, "add_arguments", None))
              for m in (script("okada_table1"), script("shukla_supplement"))]
    for name in owners:
        run = exp.run(name)
        theirs = next(r for owner in source for r in owner.runs if r.run_dir == run.run_dir)
        assert (run.preset, run.overrides) == (theirs.preset, theirs.overrides)
    scored = [run for run in exp.runs if run.evaluate]
    assert all(run.direction == "BtoA" and "eval.fid=true" in run.eval_overrides and "eval.max_images=100" in run.eval_overrides
               for run in scored)
    base, second = exp.run("pix2pix_kmedoids20_seed0"), exp.run("pix2pix_kmedoids20_seed1")
    assert second.overrides == ["train.seed=1" if o == "train.seed=0" else o for o in base.overrides] != base.overrides
    assert exp.scores_name(scored[0]) == "val_BtoA_fid"

