"""The HTML report (rendered in headless Chromium) and the markdown table comparing runs."""

import json
import re
import subprocess

import pytest

from semicycle.figures import plot_loss_curves
from semicycle.errors import DataError
from semicycle.evaluation import compare_runs, compare_table, load_metrics, write_html_report
from browser import FLAGS, chromium
from conftest import read_halves

# Appended to a copy of the report: after load, count the images the browser decoded and the
# tables it parsed, and write them into the title (read back with --dump-dom).
PROBE = """<script>
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  var decoded = images.filter(function (im) { return im.complete && im.naturalWidth > 0; });
  document.title = 'PROBE images=' + decoded.length + '/' + images.length
    + ' tables=' + document.querySelectorAll('table').length
    + ' bars=' + document.querySelectorAll('.bar span').length;
});
</script>"""


def _render(html_path, tmp_path) -> str:
    command = [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=5000",
               "--dump-dom", html_path.resolve().as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def report_inputs(data_root, tmp_path):
    rows = []
    for photo, label in read_halves(data_root / "facades" / "val", 3):
        rows.append([label, photo[:, ::-1].copy(), photo])  # input, "output", ground truth
    curves = plot_loss_curves(
        [{"iter": i, "loss_G": 1 / (i + 1), "loss_D": 0.5} for i in range(20)], tmp_path / "loss_curves.png"
    )
    return {
        "title": "facades label -> photo <evaluation>",
        "config": {"data": {"dataset": "aligned", "root": "../shared/data/facades"}, "train": {"lr": 2e-4}},
        "metrics": {
            "generated": {"pixel_accuracy": 0.61, "mean_class_accuracy": 0.21, "mean_iou": 0.14, "fid": 101.5},
            "real_photos": {"pixel_accuracy": 0.83, "mean_class_accuracy": 0.48, "mean_iou": 0.35},
        },
        "per_class_iou": {"road": 0.91, "sidewalk": 0.42, "train": None, "bicycle": 0.0},
        "sample_rows": rows,
        "loss_curves_png": curves,
    }


def test_report_renders_in_a_browser(report_inputs, tmp_path):
    path = write_html_report(tmp_path / "report.html", **report_inputs)
    text = path.read_text(encoding="utf-8")
    # self-contained: no scripts, no external resources, every image inline
    assert "<script" not in text and "http://" not in text and "https://" not in text
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == 3 * 3 + 1 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "&lt;evaluation&gt;" in text  # titles are escaped

    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _render(probe, tmp_path)
    match = re.search(r"<title>PROBE images=(\d+)/(\d+) tables=(\d+) bars=(\d+)</title>", dom)
    assert match, dom[:2000]
    decoded, total, tables, bars = map(int, match.groups())
    assert decoded == total == 10
    assert tables == 2  # grouped metrics table + samples table
    assert bars == 3  # "train" is absent from the ground truth: no bar
    assert "real photos (upper bound)" in dom and "real_photos" not in dom  # the key's display name
    assert "0.35" in dom and "absent from the ground truth" in dom
    assert "ground truth" in dom and "resolved config" in dom and "../shared/data/facades" in dom


def test_report_flat_metrics_and_missing_curves(tmp_path):
    path = write_html_report(
        tmp_path / "sub" / "r.html", title="maps", config={}, metrics={"pixel_accuracy@20": 0.5, "images": 3}
    )
    text = path.read_text(encoding="utf-8")
    assert "pixel_accuracy@20" in text and "<td class=\"num\">0.5</td>" in text
    with pytest.raises(DataError, match="nothing.png"):
        write_html_report(tmp_path / "r2.html", title="x", config={}, metrics={}, loss_curves_png=tmp_path / "nothing.png")
    assert not (tmp_path / "r2.html").exists()


def test_compare_table_runs_side_by_side(tmp_path):
    table = compare_table({
        "okada": {"fcn": {"pixel_accuracy": 0.7123456, "mean_iou": 0.2}, "fid": 80.0,
                  "per_class_iou": {"road": 0.9}},
        "cyclegan": {"fcn": {"pixel_accuracy": 0.6, "mean_iou": None}, "kid": 0.01},
    })  # fmt: skip
    lines = table.strip().splitlines()
    assert lines[0] == "| metric | okada | cyclegan |"
    assert lines[1] == "| --- | ---: | ---: |"
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert set(rows) == {"fcn.pixel_accuracy", "fcn.mean_iou", "fid", "kid"}
    assert rows["fcn.pixel_accuracy"] == "| fcn.pixel_accuracy | 0.7123 | 0.6 |"
    assert rows["fcn.mean_iou"] == "| fcn.mean_iou | 0.2 | n/a |"
    assert rows["fid"] == "| fid | 80 | — |" and rows["kid"] == "| kid | — | 0.01 |"

    for name, metrics in (("run_a", {"fid": 10.0}), ("run_b", {"fid": 12.5, "kid": 0.002})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    table = compare_runs([tmp_path / "run_a", tmp_path / "run_b" / "metrics.json"])
    assert "| metric | run_a | run_b |" in table and "| kid | — | 0.002 |" in table
    with pytest.raises(DataError, match="metrics.json"):
        compare_runs([tmp_path])


def test_metrics_written_before_a_key_was_renamed_load_with_the_new_key(tmp_path):
    """Runs evaluated before the rename hold the label -> photo upper bound as "real photos (upper bound)"."""
    scores = {"pixel_accuracy": 0.65, "mean_iou": 0.32}
    old = {"split": "val", "label_to_photo": {"generated": {"mean_iou": 0.2}, "real photos (upper bound)": scores}}
    new = {"split": "val", "label_to_photo": {"generated": {"mean_iou": 0.2}, "real_photos": scores}}
    for name, metrics in (("old", old), ("new", new)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    assert load_metrics(tmp_path / "old") == load_metrics(tmp_path / "new") == new
    assert list(load_metrics(tmp_path / "old")["label_to_photo"]) == ["generated", "real_photos"]
    table = compare_runs([tmp_path / "old", tmp_path / "new"])
    assert "| label_to_photo.real_photos.mean_iou | 0.32 | 0.32 |" in table
    # a run whose label -> photo direction had no segmenter
    (tmp_path / "note.json").write_text(json.dumps({"label_to_photo": {"note": "no segmenter"}}))
    assert load_metrics(tmp_path / "note.json") == {"label_to_photo": {"note": "no segmenter"}}
