"""``semicycle select-pairs``: the parser and the command, for ``semicycle.cli`` to register."""

from __future__ import annotations

import argparse

from ..pretrained import WEIGHTS_PIP
from .features import EXTRACTORS, SIDES
from .strategies import METHODS


def add_select_pairs_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``select-pairs`` subcommand to ``subparsers`` (from ``parser.add_subparsers()``)."""
    p = subparsers.add_parser(
        "select-pairs",
        help="choose which N images to label (k-medoids on ImageNet features, as Shukla et al. 2019)",
        description=(
            "Write the file list that pairs.list= reads (one name per line), a contact sheet (.png) and the "
            f"cluster assignment and distances (.json). The default features need: {WEIGHTS_PIP}"
        ),
    )
    p.add_argument("--data", required=True, help="folder of images (pix2pix A|B files or plain images)")
    p.add_argument("--budget", required=True, type=int, help="number of images to label")
    p.add_argument("--method", default="kmedoids", choices=METHODS, help="selection strategy (default kmedoids)")
    p.add_argument("--out", default="pairs.txt", help="pairs list to write; .png and .json go beside it (default pairs.txt)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extractor", default="mobilenet_v2", choices=[e for e in EXTRACTORS if e != "pixels"],
                   help="features for kmedoids (resnet50 needs --weights)")
    p.add_argument("--weights", help="torchvision state dict for the extractor (default: the installed MobileNetV2 package)")
    p.add_argument("--side", default="auto", choices=SIDES,
                   help="part of each file to look at: auto = left half of A|B files, else the whole image")
    p.add_argument("--model", metavar="RUN_DIR", help="trained semicycle run (for --method cycle-error)")
    p.add_argument("--direction", default="AtoB", choices=["AtoB", "BtoA"], help="cycle-error: first translation")
    p.add_argument("--exclude", metavar="PAIRS_TXT", help="leave out the images listed in this file (already paired)")
    p.add_argument("--among", metavar="LIST_TXT", help="choose only among the images listed in this file (e.g. a data.subset list)")
    p.add_argument("--cache-dir", help="feature cache (default ~/.cache/semicycle/features)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=cmd_select_pairs)
    return p


def cmd_select_pairs(args) -> int:
    from .strategies import select_pairs

    selection = select_pairs(
        args.data, args.budget, method=args.method, seed=args.seed, out=args.out, extractor=args.extractor,
        weights=args.weights, model=args.model, exclude=args.exclude, among=args.among, cache_dir=args.cache_dir,
        progress=not args.no_progress, side=args.side, direction=args.direction, device=args.device,
        batch_size=args.batch_size,
    )
    for note in selection.notes:
        print(f"note: {note}")
    shown = ", ".join(selection.names[:20]) + (" ..." if len(selection.names) > 20 else "")
    print(f"selected {len(selection.names)} of {len(selection.candidates)} images ({selection.method}): {shown}")
    outputs = selection.outputs
    print(f"pairs list:    {outputs['pairs']}   (train with pairs.list={outputs['pairs']}, "
          f"or on these images only with data.subset={outputs['pairs']})")
    print(f"contact sheet: {outputs['sheet']}\ndetails:       {outputs['json']}")
    return 0
