"""The verdict: each claim of the seed papers beside what we measured, and, for each budget of pairs measured, which
method scored best and whether the unpaired images paid off. Computed from the committed results alone.

    python -m experiments.verdict    # rewrites experiments/results/verdict.json and the blocks of docs/results.md and README.md

A cell is the mean of its runs' scores (sd over seeds where it has two or more runs, from each experiment's
results.json; scores of an older protocol are not used). A difference is a result only beyond twice the spread, the
largest sd of the cells compared: "reproduced in direction" when it has the paper's sign, "not reproduced: reversed"
against it, "not reproduced: level" within it (for a claim of no difference, level is "reproduced"); with no cell of
two runs there is no spread: "not decidable (one run a cell)". Every number the blocks print is in verdict.json as
printed.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass

from experiments import tables
from experiments.docs_page import update_docs_section
from experiments.records import REPO, read_json, scored_by_todays_protocol, write_json
from experiments.unpaired_payoff import seeds_of

RESULTS = REPO / "experiments" / "results"
VERDICT_JSON = RESULTS / "verdict.json"
PHOTO_TO_LABEL = ("photo_to_label", "mean_iou")
LABEL_TO_PHOTO = ("label_to_photo", "generated", "mean_iou")
MAPS_ACCURACY = ("AtoB_rgb", "mean_image_accuracy@20")
REPRODUCED, REVERSED, LEVEL = "reproduced in direction", "not reproduced: reversed", "not reproduced: level within 2 sd"
REPRODUCED_LEVEL, DIFFERS = "reproduced: level within 2 sd", "not reproduced: differs beyond 2 sd"


@dataclass(frozen=True)
class Cell:
    """Runs of one experiment averaged into one number."""

    label: str
    experiment: str
    runs: tuple[str, ...]
    metric: tuple[str, ...] = PHOTO_TO_LABEL


@dataclass(frozen=True)
class Claim:
    """A paper's claim that ``method`` scores above ``baseline`` (``expected=-1``: below, e.g. dropping a loss term;
    ``expected=0``: level with it)."""

    paper: str
    claim: str
    page: str
    baseline: Cell
    method: Cell
    paper_values: tuple[float | None, float | None] = (None, None)
    expected: int = 1


@dataclass(frozen=True)
class Budget:
    """One training budget (data, pairs, metric) and the methods measured on it: pairs only, or pairs + unpaired images."""

    budget: str
    metric: str
    page: str
    pairs_only: tuple[Cell, ...]
    with_unpaired: tuple[Cell, ...]
    readme: bool = True  # one of the README's rows (at most 8)


def okada_t1(method: str) -> float:
    return tables.paper_numbers("okada2019", "table1")[method][2]


def shukla(table: str, key, kmedoids: bool | None = None) -> float:
    row = tables.paper_numbers("shukla2019", table)[key]
    return (row[1] if kmedoids else row[0])[2] if kmedoids is not None else row[2]


def mondal_t1(method: str, rate: int | None = None) -> float:
    row = tables.paper_numbers("mondal2019", "table1")[method]
    return row if rate is None else row[rate]


def seeds(name: str) -> tuple[str, str]:
    return name, f"{name}_seed1"


OKADA, MONDAL, SHUKLA = "reproductions/okada.md", "reproductions/mondal.md", "reproductions/shukla.md"
ENCODERS, TIME = "reproductions/encoders.md", "reproductions/time_to_quality.md"
FACADES_CYCLEGAN = Cell("CycleGAN", "okada_table1", ("cyclegan_seed0", "cyclegan_seed1"))
CITYSCAPES_CYCLEGAN = Cell("CycleGAN", "okada_rate_sweep_cityscapes", ("cyclegan_seed0", "cyclegan_seed1"))
MONDAL_10 = Cell("mondal, 10%", "mondal_table1", seeds("mondal_10"))
SHUKLA_20 = Cell("shukla, 20 k-medoids pairs", "shukla_tables", seeds("shukla_kmedoids_20"))
SHUKLA_20_B2A = Cell("shukla, 20 k-medoids pairs", "shukla_supplement", seeds("shukla_kmedoids_20_b2a"), LABEL_TO_PHOTO)

CLAIMS = [
    Claim("Okada Table 1", "+ L_sv on 10% pairs beats CycleGAN (facades)", OKADA + "#table-1-facades",
          FACADES_CYCLEGAN, Cell("okada, 10%", "okada_table1", ("okada_seed0", "okada_seed1")),
          (okada_t1("cyclegan"), okada_t1("okada"))),
    Claim("Okada Fig. 5", "the score rises with the supervised rate: 0% to 100% (facades)", OKADA + "#fig-5-the-supervised-rate-facades",
          FACADES_CYCLEGAN, Cell("okada, 100%", "okada_rate_sweep", ("okada_rate100_seed0",))),
    Claim("Okada Fig. 5", "10% pairs beat CycleGAN (Cityscapes)", OKADA + "#fig-5-on-cityscapes",
          CITYSCAPES_CYCLEGAN, Cell("okada, 10%", "okada_rate_sweep_cityscapes", ("okada_seed0", "okada_seed1"))),
    Claim("Okada Fig. 5", "20% pairs beat CycleGAN (Cityscapes)", OKADA + "#fig-5-on-cityscapes",
          CITYSCAPES_CYCLEGAN, Cell("okada, 20%", "okada_rate_sweep_cityscapes", ("okada_rate20_seed0", "okada_rate20_seed1"))),
    Claim("Okada Figs. 6-7", "a larger kappa (weight of L_sv) scores higher: 1 to 50", OKADA + "#kappa-and-lambda",
          Cell("kappa 1", "okada_sweeps", ("okada_kappa1_seed0",)), Cell("kappa 50", "okada_sweeps", ("okada_kappa50_seed0",))),
    Claim("Okada Figs. 10-11", "with L_sv the score hardly depends on lambda: 1 to 20", OKADA + "#kappa-and-lambda",
          Cell("lambda 1", "okada_sweeps", ("okada_lambda1_seed0",)), Cell("lambda 20", "okada_sweeps", ("okada_lambda20_seed0",)),
          expected=0),
    Claim("Mondal Table 1", "mondal beats Partial (its labelled 10% alone)", MONDAL + "#table-1-and-its-ablations",
          Cell("Partial, 10%", "mondal_table1", seeds("partial_10")), MONDAL_10,
          (mondal_t1("partial", 10), mondal_t1("mondal", 10))),
    Claim("Mondal Table 1", "mondal beats Partial at 30%", MONDAL + "#table-1-and-its-ablations",
          Cell("Partial, 30%", "mondal_table1", ("partial_30",)), Cell("mondal, 30%", "mondal_table1", ("mondal_30",)),
          (mondal_t1("partial", 30), mondal_t1("mondal", 30))),
    *[Claim("Mondal Table 2", f"dropping the {term} lowers the score (10%)", MONDAL + "#table-1-and-its-ablations",
            MONDAL_10, Cell(f"without the {term}", "mondal_table1", (f"mondal_10_{run}",)), expected=-1)
      for term, run in (("image supervision", "no_image_sup"), ("label cycle", "no_label_cycle"), ("image cycle", "no_image_cycle"),
                        ("label discriminator", "no_label_adv"), ("image discriminator", "no_image_adv"))],
    Claim("Shukla Table 1", "k-medoids pairs beat random pairs (pix2pix, 20 pairs)", SHUKLA + "#tables-1-2",
          Cell("random, 3 draws", "shukla_tables", tuple(f"pix2pix_random_20_draw{d}" for d in (1, 2, 3))),
          Cell("k-medoids", "shukla_tables", ("pix2pix_kmedoids_20",)), (shukla("table1", 20, False), shukla("table1", 20, True))),
    Claim("Shukla Table 2", "200 unpaired + 20 k-medoids pairs beat CycleGAN", SHUKLA + "#tables-1-2",
          Cell("CycleGAN", "shukla_tables", seeds("cyclegan")), SHUKLA_20, (shukla("table2", "cyclegan"), shukla("table2", 20))),
    Claim("Shukla Table 2", "the score rises from 0 to 20 pairs", SHUKLA + "#tables-1-2",
          Cell("0 pairs", "shukla_tables", seeds("shukla_pairs0")), SHUKLA_20, (shukla("table2", 0), shukla("table2", 20))),
    Claim("Shukla Table 2", "balancing the pairs helps (20 pairs)", SHUKLA + "#tables-1-2",
          Cell("unbalanced", "shukla_tables", ("shukla_kmedoids_20_unbalanced",)), SHUKLA_20,
          (shukla("table2", "unbalanced_20"), shukla("table2", 20))),
    Claim("Shukla Table 4", "maps: 20 k-medoids pairs beat 0 pairs (accuracy@20)", SHUKLA + "#table-4-maps",
          Cell("0 pairs", "shukla_maps", ("shukla_pairs0",), MAPS_ACCURACY),
          Cell("20 pairs", "shukla_maps", ("shukla_kmedoids_20",), MAPS_ACCURACY),
          tuple(tables.paper_numbers("shukla2019", "table4")[key][0] for key in (0, 20))),
    *[Claim("Shukla Table 5", f"dropping the {term} loss lowers the score (20 pairs)", SHUKLA + "#supplementary-tables-5-8-9",
            Cell("full", "shukla_supplement", seeds("shukla_kmedoids_20")), Cell(f"without {term}", "shukla_supplement", (f"shukla_kmedoids_20_no_{term}",)),
            (shukla("table5", "full"), shukla("table5", f"no_{term}")), expected=-1) for term in ("cycle", "identity")],
    Claim("Shukla Table 8", "label -> photo: k-medoids pairs beat random pairs (pix2pix, 20 pairs)", SHUKLA + "#supplementary-tables-5-8-9",
          Cell("random, 3 draws", "shukla_supplement", tuple(f"pix2pix_b2a_random_20_draw{d}" for d in (1, 2, 3)), LABEL_TO_PHOTO),
          Cell("k-medoids", "shukla_supplement", ("pix2pix_b2a_kmedoids_20",), LABEL_TO_PHOTO),
          (shukla("table8", 20, False), shukla("table8", 20, True))),
    Claim("Shukla Table 9", "label -> photo: + 200 unpaired beat pix2pix on the same 20 pairs", SHUKLA + "#supplementary-tables-5-8-9",
          Cell("pix2pix", "shukla_supplement", ("pix2pix_b2a_kmedoids_20",), LABEL_TO_PHOTO), SHUKLA_20_B2A,
          (shukla("table8", 20, True), shukla("table9", 20))),
    Claim("Time to quality (ours)", "pix2pix on the 40 pairs beats okada at equal iterations (facades)", TIME,
          Cell("okada, 10%", "time_to_quality", ("okada_10",)), Cell("pix2pix", "time_to_quality", seeds("pix2pix_10"))),
    *[Claim("Encoders (ours)", f"an ImageNet encoder lifts {what}", ENCODERS, Cell("scratch", "pretrained_encoder", runs("scratch")),
            Cell("ImageNet", "pretrained_encoder", runs("imagenet")))
      for what, runs in (("the segmenter (facades, 40 pairs)", lambda encoder: (f"segment_{encoder}_seed0", f"segment_{encoder}_seed1")),
                         ("okada (facades, 40 pairs)", lambda encoder: (f"okada_{encoder}_seed0", f"okada_{encoder}_seed1")),
                         ("Partial (Cityscapes 10%)", lambda encoder: seeds(f"partial_10_{encoder}")),
                         ("mondal (Cityscapes 10%)", lambda encoder: seeds(f"mondal_10_{encoder}")))],
]

PAYOFF = "unpaired_payoff"


def payoff(method: str, label: str, budget: str) -> Cell:
    return Cell(label, PAYOFF, tuple(f"{method}_{budget}_seed{s}" for s in seeds_of(method, budget, quick=False)))


def payoff_budget(budget: str, title: str, semi_supervised: str) -> Budget:
    return Budget(title, "photo -> label mIoU", "reproductions/unpaired_payoff.md",
                  (payoff("segment", "segmenter, ImageNet encoder", budget), payoff("segment_strong", "segmenter, ImageNet, strong aug.", budget)),
                  (payoff("unimatch", "unimatch, ImageNet encoder", budget), payoff(semi_supervised, f"{semi_supervised}, ImageNet encoder", budget)))


BUDGETS = [
    Budget("facades, 40 pairs + 360 unpaired", "photo -> label mIoU", "reproductions/unpaired_payoff.md",
           (Cell("segmenter", "pretrained_encoder", ("segment_scratch_seed0", "segment_scratch_seed1")),
            payoff("segment", "segmenter, ImageNet encoder", "40pairs"), payoff("segment_strong", "segmenter, ImageNet, strong aug.", "40pairs"),
            Cell("pix2pix", "time_to_quality", seeds("pix2pix_10"))),
           (Cell("okada", "pretrained_encoder", ("okada_scratch_seed0", "okada_scratch_seed1")),
            payoff("okada", "okada, ImageNet encoder", "40pairs"), payoff("unimatch", "unimatch, ImageNet encoder", "40pairs"),
            Cell("shukla", "pretrained_encoder", ("shukla_scratch_seed0",)))),
    payoff_budget("20pairs", "facades, 20 pairs + 380 unpaired", "okada"),
    payoff_budget("5pairs", "facades, 5 pairs + 395 unpaired", "okada"),
    Budget("Cityscapes, 10% labelled (100 + 900 unpaired)", "photo -> label mIoU", "reproductions/unpaired_payoff.md",
           (Cell("Partial (segmenter)", "mondal_table1", seeds("partial_10")), payoff("segment", "Partial, ImageNet encoder", "10pc"),
            payoff("segment_strong", "Partial, ImageNet, strong aug.", "10pc")),
           (MONDAL_10, payoff("mondal", "mondal, ImageNet encoder", "10pc"), payoff("unimatch", "unimatch, ImageNet encoder", "10pc"))),
    payoff_budget("5pc", "Cityscapes, 5% labelled (50 + 950 unpaired)", "mondal"),
    payoff_budget("2pc", "Cityscapes, 2% labelled (20 + 980 unpaired)", "mondal"),
    Budget("Cityscapes, 30% labelled (300 + 700 unpaired)", "photo -> label mIoU", ENCODERS,
           (Cell("Partial (segmenter)", "mondal_table1", ("partial_30",)),
            Cell("Partial, ImageNet encoder", "pretrained_encoder", ("partial_30_imagenet",))),
           (Cell("mondal", "mondal_table1", ("mondal_30",)), Cell("mondal, ImageNet encoder", "pretrained_encoder", ("mondal_30_imagenet",))),
           readme=False),
    Budget("Cityscapes, 50% labelled (500 + 500 unpaired)", "photo -> label mIoU", MONDAL,
           (Cell("Partial (segmenter)", "mondal_table1", ("partial_50",)),), (Cell("mondal", "mondal_table1", ("mondal_50",)),), readme=False),
    Budget("Cityscapes, 20 k-medoids pairs + 180 unpaired", "photo -> label mIoU", SHUKLA,
           (Cell("pix2pix", "shukla_tables", ("pix2pix_kmedoids_20",)),), (SHUKLA_20,)),
    Budget("Cityscapes, 5 k-medoids pairs + 195 unpaired", "photo -> label mIoU", SHUKLA,
           (Cell("pix2pix", "shukla_tables", ("pix2pix_kmedoids_5",)),), (Cell("shukla", "shukla_tables", ("shukla_kmedoids_5",)),), readme=False),
    Budget("Cityscapes, 20 k-medoids pairs + 180 unpaired", "label -> photo FCN mIoU", SHUKLA,
           (Cell("pix2pix", "shukla_supplement", ("pix2pix_b2a_kmedoids_20",), LABEL_TO_PHOTO),), (SHUKLA_20_B2A,)),
]


def r3(value: float) -> float:
    return round(value, 3)


def runs_of(experiment: str) -> dict:
    return (read_json(RESULTS / experiment / "results.json", {}) or {}).get("runs") or {}


def measure(cell: Cell) -> dict:
    """The cell's scores from its experiment's results.json: mean, sd (two or more runs), n, training minutes."""
    runs = runs_of(cell.experiment)
    values, minutes = [], []
    for name in cell.runs:
        entry = runs.get(name) or {}
        metrics = entry.get("metrics")
        value = tables.get(metrics, *cell.metric) if metrics and scored_by_todays_protocol(metrics) else None
        if value is not None:
            values.append(value)
            if entry.get("train_seconds") is not None:
                minutes.append(entry["train_seconds"] / 60)
    out = {"label": cell.label, "experiment": cell.experiment, "runs": list(cell.runs), "metric": "/".join(cell.metric), "n": len(values)}
    if values:
        out |= {"mean": r3(statistics.mean(values))} | ({"train_minutes": round(statistics.mean(minutes))} if minutes else {})
        out |= {"sd": r3(statistics.stdev(values))} if len(values) > 1 else {}
    return out


def judge(baseline: dict, method: dict, expected: int = 1) -> dict:
    """The difference method - baseline, the spread (largest sd of the two) and the verdict (module docstring)."""
    if not baseline["n"] or not method["n"]:
        return {"verdict": "not yet measured"}
    difference = r3(method["mean"] - baseline["mean"])
    sds = [cell["sd"] for cell in (baseline, method) if "sd" in cell]
    out = {"difference": difference}
    if not sds:
        return out | {"verdict": "not decidable (one run a cell)"}
    spread = max(sds)
    out["two_sd"] = r3(2 * spread)
    if expected == 0:
        return out | {"verdict": REPRODUCED_LEVEL if abs(difference) <= 2 * spread else DIFFERS}
    if abs(difference) <= 2 * spread:
        return out | {"verdict": LEVEL}
    return out | {"verdict": REPRODUCED if difference * expected > 0 else REVERSED}


def summarise() -> dict:
    """verdict.json's content: every claim and budget, measured and judged."""
    claims = []
    for claim in CLAIMS:
        baseline, method = measure(claim.baseline), measure(claim.method)
        claims.append({"paper": claim.paper, "claim": claim.claim, "page": claim.page, "baseline": baseline, "method": method,
                       "paper_values": list(claim.paper_values), "expected": claim.expected,
                       **judge(baseline, method, claim.expected)})
    budgets = []
    for budget in BUDGETS:
        pairs_only = [measure(cell) for cell in budget.pairs_only]
        with_unpaired = [measure(cell) for cell in budget.with_unpaired]
        best_pairs = max((c for c in pairs_only if c["n"]), key=lambda c: c["mean"], default=None)
        best_unpaired = max((c for c in with_unpaired if c["n"]), key=lambda c: c["mean"], default=None)
        entry = {"budget": budget.budget, "metric": budget.metric, "page": budget.page, "readme": budget.readme,
                 "pairs_only": pairs_only, "with_unpaired": with_unpaired, "best_pairs_only": best_pairs, "best_with_unpaired": best_unpaired}
        if best_pairs and best_unpaired:
            judged = judge(best_pairs, best_unpaired)
            entry |= judged | {"unpaired_paid_off": {REPRODUCED: "yes", REVERSED: "no: pairs only scored higher",
                                                     LEVEL: "no: level"}.get(judged["verdict"], judged["verdict"])}
            entry["reached_pairs_only_score"] = best_unpaired["mean"] >= best_pairs["mean"]
        else:
            entry["unpaired_paid_off"] = "not yet measured"
        budgets.append(entry)
    return {"command": "python -m experiments.verdict", "rule": __doc__.split("\n\n")[2].replace("\n", " "),
            "claims": claims, "budgets": budgets}


def score(cell: dict) -> str:
    if not cell["n"]:
        return "not measured"
    text = f"{cell['mean']:.3f}" + (f" ± {cell['sd']:.3f}" if "sd" in cell else "")
    return f"{text} (n={cell['n']})"


def number(value: float | None) -> str:
    return "—" if value is None else tables.paper(value)


def signed(value: float) -> str:
    return f"{value:+.3f}"


def verdict_table(summary: dict) -> str:
    lines = ["| paper | claim | paper's numbers | ours: baseline -> method | difference (2 sd) | verdict |",
             "| --- | --- | --- | --- | --- | --- |"]
    for c in summary["claims"]:
        papers = "—" if c["paper_values"] == [None, None] else " -> ".join(number(v) for v in c["paper_values"])
        ours = f"{c['baseline']['label']} {score(c['baseline'])} -> {c['method']['label']} {score(c['method'])}"
        difference = "—" if "difference" not in c else signed(c["difference"]) + (f" ({c['two_sd']:.3f})" if "two_sd" in c else "")
        lines.append(f"| {c['paper']} | [{c['claim']}]({c['page']}) | {papers} | {ours} | {difference} | {c['verdict']} |")
    return "\n".join(lines) + "\n"


def time_to_pairs_only_score(budget: dict) -> str:
    """The CPU time the best method with unpaired images needed to reach the best pairs-only final score: only runs'
    final scores are recorded, so "not reached" within its schedule, or reached by the end of it at the latest."""
    best = budget["best_with_unpaired"]
    if "reached_pairs_only_score" not in budget:
        return "—"
    minutes = f" {best['train_minutes']} min" if "train_minutes" in best else " its schedule"
    return f"by the end of its{minutes} at most" if budget["reached_pairs_only_score"] else f"not reached in{minutes}"


def what_to_use_table(summary: dict) -> str:
    lines = ["| budget | metric | best, pairs only | best, pairs + unpaired | difference (2 sd) | did the unpaired images pay off? | "
             "time the unpaired method needed to reach the pairs-only score |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for b in summary["budgets"]:
        cells = []
        for best in (b["best_pairs_only"], b["best_with_unpaired"]):
            cells.append("not measured" if best is None else f"{best['label']}: {score(best)}" + (f", {best['train_minutes']} min" if "train_minutes" in best else ""))
        difference = "—" if "difference" not in b else signed(b["difference"]) + (f" ({b['two_sd']:.3f})" if "two_sd" in b else "")
        lines.append(f"| [{b['budget']}]({b['page']}) | {b['metric']} | {cells[0]} | {cells[1]} | {difference} | {b['unpaired_paid_off']} | "
                     f"{time_to_pairs_only_score(b)} |")
    return "\n".join(lines) + "\n"


def readme_rows(summary: dict) -> str:
    lines = ["| budget (64 px, CPU) | best here | adding the unpaired images |", "| --- | --- | --- |"]
    for b in (b for b in summary["budgets"] if b["readme"]):
        best = max((c for c in (b["best_pairs_only"], b["best_with_unpaired"]) if c), key=lambda c: c["mean"], default=None)
        best_text = "not measured" if best is None else f"{best['label']}, {score(best)}"
        link = "docs/" + b["page"]
        lines.append(f"| [{b['budget']}]({link}), {b['metric']} | {best_text} | {b['unpaired_paid_off']} |")
    return "\n".join(lines) + "\n"


def blocks(summary: dict) -> dict[str, str]:
    """The generated blocks: docs/results.md's verdict and what-to-use tables, the README's rows."""
    return {"verdict": verdict_table(summary), "what_to_use": what_to_use_table(summary), "readme_verdict": readme_rows(summary)}


def main() -> int:
    summary = summarise()
    write_json(VERDICT_JSON, summary)
    for name, text in blocks(summary).items():
        if not update_docs_section(name, text, script="verdict"):
            print(f"{name}: its page has no block markers; not written", file=sys.stderr)
    print(f"wrote {VERDICT_JSON.relative_to(REPO)} and the verdict blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
