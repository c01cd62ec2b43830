"""The photo -> label scores of the same runs under both label decodings (issue 18), beside the stored ones.

    for run in runs/experiments/shukla_tables/*/; do      # semicycle 0.1's decoding, today's code (fp32)
      semicycle evaluate $run --split val --direction AtoB --out $run/eval/val_classes_and_void \\
        eval.label_decoding=classes_and_void
    done
    python -m experiments.shukla_tables --split val --tabulate-only   # the papers' decoding -> metrics_val.json
    python -m experiments.decoding_compare [--experiment shukla_tables] [--runs-dir runs/experiments]

Prints a markdown table, one row per run that has both scores: pixel accuracy and mean IoU under the papers'
decoding (nearest class colour, never void) and under semicycle 0.1's (nearest class or void colour, void
wrong), the void fraction of the latter, and the numbers stored in experiments/results/<experiment>/results.json
(scored with the old decoding, on the machine that first trained the runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.records import REPO, read_json


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiment", default="shukla_tables")
    p.add_argument("--runs-dir", default=str(REPO / "runs" / "experiments"))
    p.add_argument("--split", default="val")
    args = p.parse_args(argv)
    stored = (read_json(REPO / "experiments" / "results" / args.experiment / "results.json") or {}).get("runs", {})
    lines = ["| run | pixel acc, papers' decoding | pixel acc, old decoding | mean IoU, papers' decoding | mean IoU, old decoding "
             "| void fraction, old decoding | stored: pixel acc / mean IoU / void fraction |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for run in sorted(Path(args.runs_dir, args.experiment).iterdir()):
        new = (read_json(run / f"metrics_{args.split}.json") or {}).get("photo_to_label")
        old = (read_json(run / "eval" / f"{args.split}_classes_and_void" / "metrics.json") or {}).get("photo_to_label")
        if not new or not old or new.get("label_decoding") != "classes" or old.get("label_decoding") != "classes_and_void":
            continue
        before = ((stored.get(run.name) or {}).get("metrics") or {}).get("photo_to_label")
        kept = (f"{before['pixel_accuracy']:.3f} / {before['mean_iou']:.3f} / {before['void_prediction_fraction']:.3f}"
                if before else "—")
        lines.append(f"| `{run.name}` | {new['pixel_accuracy']:.3f} | {old['pixel_accuracy']:.3f} | {new['mean_iou']:.3f} | "
                     f"{old['mean_iou']:.3f} | {old['void_prediction_fraction']:.3f} | {kept} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
