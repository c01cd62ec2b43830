"""Command line: ``semicycle train | demo | translate | serve | export | evaluate | compare | train-scorer | presets | select-pairs``."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from . import config as cfgmod
from .errors import SemicycleError
from .export import ONNX_OPSET
from .serving.limits import ServeLimits


def build_config(args) -> cfgmod.Config:
    cfg = cfgmod.Config()
    if getattr(args, "preset", None):
        cfg = cfgmod.load_preset(args.preset, cfg)
    if getattr(args, "config", None):
        cfg = cfgmod.load_yaml(args.config, cfg)
    cfg = cfgmod.apply_overrides(cfg, args.overrides)
    if getattr(args, "out", None):
        cfg.run_dir = args.out
    return cfg


def cmd_train(args) -> int:
    from .engine.trainer import train

    if args.resume:
        saved = Path(args.resume) / "config.yaml"
        if not saved.is_file():
            raise SemicycleError(f"{args.resume}: no config.yaml here; --resume takes the run folder of an earlier 'semicycle train'")
        cfg = cfgmod.load_yaml(saved, warn_renamed=False)  # the run's own config, perhaps of an earlier version
        cfg = cfgmod.apply_overrides(cfg, args.overrides)
        cfg.run_dir = args.resume
    else:
        cfg = build_config(args)
        if int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0)) > 0 and (Path(cfg.run_dir) / "ckpt" / "latest.pt").is_file():
            args.resume = cfg.run_dir  # torchrun --max-restarts restarted the job: continue from the last checkpoint
    path = train(cfg, resume=bool(args.resume))
    if int(os.environ.get("RANK", 0)):
        return 0  # one report per job: the main process's
    print(f"checkpoint: {path}\nsamples:    {Path(cfg.run_dir) / 'samples'}\ncurves:     {Path(cfg.run_dir) / 'loss_curves.png'}")
    return 0


def cmd_demo(args) -> int:
    args.preset, args.config = "demo", None
    return cmd_train(args)


def cmd_translate(args) -> int:
    from PIL import Image

    from .api import load
    from .data.io import list_images, load_rgb, save_image

    translator = load(args.checkpoint, device=args.device, backend=args.backend)
    direction = args.direction or (translator.directions[0] if len(translator.directions) == 1 else "AtoB")
    source = Path(args.input)
    paths = [source] if source.is_file() else list_images(source, hint="--input takes an image file or a folder of images")
    out_dir = Path(args.output)
    images = [Image.fromarray(load_rgb(p)[0]) for p in paths]
    results = translator.translate_batch(images, direction, batch_size=args.batch_size)
    for path, result in zip(paths, results):
        save_image(result, out_dir / f"{path.stem}.png")
    print(f"translated {len(paths)} image(s) {direction} -> {out_dir}")
    return 0


def cmd_export(args) -> int:
    from .export import export_onnx

    path = export_onnx(args.checkpoint, args.direction, args.output, opset=args.opset)
    print(f"exported {args.direction} -> {path} ({path.stat().st_size / 2**20:.1f} MiB, ONNX opset {args.opset}); "
          f"run it with: semicycle translate --backend onnxruntime --checkpoint {path} --input IMAGES --output DIR")
    return 0


def cmd_serve(args) -> int:
    from .serving import serve

    limits = ServeLimits(args.max_upload_bytes, args.max_pixels, args.queue, args.threads)
    serve(args.checkpoint, args.host, args.port, args.backend, args.device, args.token, limits)
    return 0


def cmd_train_scorer(args) -> int:
    args.preset, args.config = "scorer-facades", None
    return cmd_train(args)


_OVERRIDE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*=")  # section.key=value (a top-level key=value too)


def split_run_and_overrides(items: list[str]) -> tuple[str | None, list[str]]:
    """evaluate's positionals: ``section.key=value`` settings, in any order around at most one RUN."""
    overrides = [item for item in items if _OVERRIDE.match(item) and not os.path.exists(item)]
    runs = [item for item in items if item not in overrides]
    if len(runs) > 1:
        raise SemicycleError(f"evaluate takes one RUN, got {len(runs)}: {' '.join(runs)} (settings look like section.key=value)")
    return (runs[0] if runs else None), overrides


def cmd_evaluate(args) -> int:
    from .evaluation.runner import evaluate
    from .evaluation.report import compare_table

    run, args.overrides = split_run_and_overrides(args.positionals)
    if run and args.images:
        raise SemicycleError("evaluate takes either a RUN (checkpoint) or --images DIR (translated images), not both")
    if not run and not args.images:
        raise SemicycleError("evaluate needs a RUN (run folder, ckpt/ folder or .pt file) or --images DIR with --config or --preset")
    if run and (args.config or args.preset):
        raise SemicycleError("--config and --preset describe the data for --images; a RUN brings its own config (change eval.* settings instead)")
    if args.images and not (args.config or args.preset or any(item.startswith("data.") for item in args.overrides)):
        raise SemicycleError("evaluating --images needs the dataset: pass --config or --preset (and e.g. data.root=...)")
    cfg = None if run else build_config(args)
    overrides = dict(item.split("=", 1) for item in args.overrides) if run else None
    others = [key for key in overrides or {} if not key.startswith("eval.")]
    if others:
        raise SemicycleError(
            f"with a RUN only eval.* settings can be changed, not {', '.join(others)} "
            "(e.g. eval.fid=true eval.max_images=50; with --images DIR any setting can)"
        )
    metrics = evaluate(run, args.images, args.direction, cfg, args.split, args.out, overrides, args.device)
    if not int(os.environ.get("RANK", 0)):  # one report per torchrun job
        print(compare_table({"metrics": metrics}))
    return 0


def cmd_compare(args) -> int:
    from .evaluation.report import compare_runs

    print(compare_runs(args.runs))
    return 0


def cmd_presets(args) -> int:
    for name, summary in cfgmod.list_presets().items():
        print(f"{name:28s} {summary}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semicycle", description="Image-to-image translation with few pairs.")
    sub = parser.add_subparsers(dest="command", required=True)

    overrides_help = "config overrides, e.g. train.epochs=5 data.root=../shared/data/facades"
    p = sub.add_parser("train", help="train a model (CycleGAN and the semi-supervised methods)")
    p.add_argument("--config", help="YAML config file")
    p.add_argument("--preset", help="a shipped preset (see: semicycle presets)")
    p.add_argument("--out", help="run folder (overrides run_dir)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run exactly")
    p.add_argument("overrides", nargs="*", help=overrides_help)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("demo", help="train on the embedded synthetic data (no download, a few CPU minutes)")
    p.add_argument("--out", help="run folder (default runs/demo)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted demo")
    p.add_argument("overrides", nargs="*", help=overrides_help)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("translate", help="translate images with a trained checkpoint or an exported .onnx file")
    p.add_argument("--checkpoint", required=True, help="run folder, its ckpt/ folder, a .pt file, or a .onnx file of 'semicycle export'")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], help="default: AtoB, or the only direction an .onnx file has")
    p.add_argument("--input", required=True, help="an image file or a folder of images")
    p.add_argument("--output", required=True, help="folder for the translated PNGs")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto")
    p.add_argument("--backend", default="auto", choices=["auto", "pytorch", "onnxruntime"],
                   help="auto: onnxruntime for a .onnx file, else pytorch")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("export", help="write a trained generator as ONNX (needs: pip install 'semicycle[export]')")
    p.add_argument("--checkpoint", required=True, help="run folder, its ckpt/ folder, or a .pt file")
    p.add_argument("--direction", required=True, choices=["AtoB", "BtoA"])
    p.add_argument("--format", default="onnx", choices=["onnx"])
    p.add_argument("--output", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=ONNX_OPSET, help=f"ONNX opset (default {ONNX_OPSET})")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="serve a trained model over HTTP: a page and POST /translate (needs: pip install 'semicycle[serve]')")
    p.add_argument("--checkpoint", required=True, help="run folder, its ckpt/ folder, a .pt file, or a .onnx file of 'semicycle export'")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; another one without --token warns)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--backend", default="auto", choices=["auto", "pytorch", "onnxruntime"],
                   help="auto: onnxruntime for a .onnx file, else pytorch")
    p.add_argument("--device", default="auto")
    p.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on /info and /translate")
    p.add_argument("--max-upload-bytes", type=int, default=ServeLimits.max_upload_bytes, help="largest upload (default 20 MiB)")
    p.add_argument("--max-pixels", type=int, default=ServeLimits.max_pixels, help="largest image, width x height (default 4096x4096)")
    p.add_argument("--queue", type=int, default=ServeLimits.queue, help="requests admitted at once; one more gets 503 at once (default 16)")
    p.add_argument("--threads", type=int, default=ServeLimits.threads, help="inference threads (default 1: torch uses every core per image)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "evaluate", help="score a run (or a folder of translations) on a split: metrics.json + report.html",
        usage="%(prog)s [options] RUN [eval.key=value ...]\n"
        "       %(prog)s [options] --images DIR --direction D (--config FILE | --preset NAME) [section.key=value ...]",
    )
    p.add_argument("--images", help="instead of a run: a folder of already-translated images (named like the split's files)")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], help="with RUN: score only this direction (default: every direction the run translates); with --images (required): what they are a translation of")
    p.add_argument("--config", help="with --images: the YAML config describing the dataset")
    p.add_argument("--preset", help="with --images: a preset describing the dataset")
    p.add_argument("--split", help="split to score (default data.val_split, usually 'val')")
    p.add_argument("--out", help="folder for metrics.json, metrics.md and report.html (default: the run folder)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "positionals", nargs="*", metavar="RUN | section.key=value",
        help="RUN: a run folder, its ckpt/ folder or a .pt file; then eval.* settings (e.g. eval.fid=true "
        "eval.max_images=100); with --images any setting (e.g. data.root=../shared/data/facades)",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="markdown table of several runs' metrics.json side by side")
    p.add_argument("runs", nargs="+", help="run folders (or metrics.json files)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("train-scorer", help="train the facades label->photo scorer (segmentation on every real pair)")
    p.add_argument("--out", help="run folder (default runs/scorer-facades)")
    p.add_argument("--resume", metavar="RUN_DIR")
    p.add_argument("overrides", nargs="*", help=overrides_help)
    p.set_defaults(func=cmd_train_scorer)

    p = sub.add_parser("presets", help="list the shipped presets")
    p.set_defaults(func=cmd_presets)

    from .selection.cli import add_select_pairs_parser

    add_select_pairs_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args, extras = parser.parse_known_args(argv)
    # Settings may also follow options (evaluate RUN --out DIR eval.fid=true): argparse leaves those over.
    listed = next((name for name in ("positionals", "overrides") if hasattr(args, name)), None)
    if extras and (listed is None or any(item.startswith("-") for item in extras)):
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if extras:
        getattr(args, listed).extend(extras)
    try:
        return args.func(args)
    except SemicycleError as exc:
        print(f"semicycle: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"semicycle: {exc or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
