"""The ``blendmask`` command: synth, subset, train, eval, predict, render, demo (``blendmask CMD --help``).

Multi-GPU / multi-machine training is the same ``train`` command under torchrun, e.g.
``torchrun --nproc_per_node 8 -m blendmask.cli train ...``.

Exit codes: 0 done; 2 bad input (one line on stderr naming the file, field, id or option;
``--debug`` or ``BLENDMASK_DEBUG=1`` shows the traceback); 3 training stopped on a non-finite
loss; 130 interrupted.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Sequence
from typing import Any

from .config import METHODS
from .engine.inference import PRECISIONS
from .lab import commands

DEVICES = ("cpu", "cuda")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _add_config_settings(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE ...``: BlendMaskConfig fields, parsed by :func:`_config_setting`."""
    parser.add_argument("--set", nargs="+", type=_config_setting, default=[], metavar="KEY=VALUE", help=help)


def _config_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (KEY, VALUE): the value as a Python literal (number, bool, None, tuple, list),
    else as a string, so ``frozen_bn=False`` and ``backbone_weights=ResNet50_Weights.DEFAULT`` both work."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    if isinstance(parsed, list):
        parsed = tuple(parsed)
    return key.strip(), parsed


def _add_precision(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=default,
        help=f"inference precision (default {default}); auto: bfloat16 autocast + channels-last on CUDA "
        "and on CPUs with native bfloat16, else float32 (the reference)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="blendmask",
        description="BlendMask Lab: train, evaluate and look inside BlendMask (CVPR 2020).",
        epilog="exit codes: 0 done, 2 bad input (one line on stderr), 3 non-finite loss, 130 interrupted",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (also BLENDMASK_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write the synthetic COCO-format shapes dataset")
    p.add_argument("--out", required=True, help="output folder (train/, val/, annotations/)")
    p.add_argument("--num-train", type=int, default=400, help="training images (default 400)")
    p.add_argument("--num-val", type=int, default=100, help="validation images (default 100)")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--num-classes", type=int, default=3, help="shape classes, 1..6 (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=commands.cmd_synth)

    p = sub.add_parser("subset", help="write a COCO json restricted to some categories / images")
    p.add_argument("--ann", required=True, help="source COCO instances json")
    p.add_argument("--out", required=True, help="output json")
    p.add_argument("--categories", help="comma-separated names or ids, e.g. person,dog or 1,18")
    p.add_argument("--max-images", type=_positive_int, help="keep at most this many images")
    p.add_argument("--min-instances", type=int, default=1, help="images need this many kept instances")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=commands.cmd_subset)

    p = sub.add_parser("train", help="train BlendMask on a COCO-format dataset (also under torchrun)")
    p.add_argument("--data-root", required=True, help="folder of the training images")
    p.add_argument("--train-ann", required=True, help="training COCO instances json")
    p.add_argument("--val-ann", help="validation json, evaluated at the end (and every --eval-period)")
    p.add_argument("--val-root", help="folder of the validation images (default: --data-root)")
    p.add_argument("--preset", default="cpu_tiny", help="config preset (default cpu_tiny), e.g. R_50_1x")
    p.add_argument("--rkm", help="blender R_K_M, e.g. 28_4_4 or 56_4_14")
    p.add_argument("--method", choices=METHODS, help="merging method")
    p.add_argument("--out", required=True, help="run folder: last.pt, metrics.jsonl, metrics.json")
    p.add_argument("--iters", type=_positive_int, help="training iterations (rescales a step schedule)")
    p.add_argument("--batch-size", type=_positive_int, help="global batch size over all processes")
    p.add_argument("--lr", type=float, help="base learning rate")
    _add_config_settings(
        p,
        "set any BlendMaskConfig field, e.g. --set frozen_bn=False or "
        "--set backbone_weights=ResNet50_Weights.DEFAULT (torchvision fetches named weights only then)",
    )
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes per rank (default 0)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.add_argument("--device", choices=DEVICES, help="default: cuda when available")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--checkpoint-period", type=_positive_int, default=500, help="iterations between checkpoints"
    )
    p.add_argument(
        "--eval-period", type=int, default=0, help="iterations between evaluations (0: at the end)"
    )
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        help="mixed precision (default: on for CUDA, off for CPU; --amp on a CPU uses bfloat16)",
    )
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across GPUs (CUDA + torchrun)")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels (reproducible runs)")
    p.set_defaults(func=commands.cmd_train)

    p = sub.add_parser(
        "eval", help="COCO mask and box AP of a checkpoint on a COCO-format dataset (also under torchrun)"
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint (.pt) written by train")
    p.add_argument("--data-root", required=True, help="folder of the images")
    p.add_argument("--ann", required=True, help="COCO instances json")
    p.add_argument("--out", help="metrics json to write (COCO results go next to it)")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--verbose", action="store_true", help="print COCOeval's full tables")
    p.add_argument(
        "--strict",
        action="store_true",
        help="a missing or unreadable image is an error (default: skip, say so)",
    )
    _add_precision(p, default="float32")
    p.set_defaults(func=commands.cmd_eval)

    p = sub.add_parser("predict", help="overlay PNGs of the predicted instances")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders of images")
    p.add_argument(
        "--out",
        required=True,
        help="output folder; IMAGE's name with its dots as underscores plus .png (ok.jpg -> ok_jpg.png), "
        "_2, _3, ... added when two images would share a name",
    )
    p.add_argument(
        "--strict", action="store_true", help="an unreadable image is an error (default: skip it, say so)"
    )
    p.add_argument("--score-threshold", type=float, default=0.5)
    p.add_argument("--device", choices=DEVICES)
    _add_precision(p, default="auto")
    p.set_defaults(func=commands.cmd_predict)

    p = sub.add_parser("render", help="the paper's Figure 1 (blending) and Figure 3 (bases) for an image")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", choices=DEVICES)
    p.set_defaults(func=commands.cmd_render)

    p = sub.add_parser(
        "import-adelaidet", help="convert an AdelaiDet BlendMask model_final.pth into a checkpoint"
    )
    p.add_argument("source", help="AdelaiDet/detectron2 checkpoint (.pth torch file or .pkl of numpy arrays)")
    p.add_argument("--out", required=True, help="project checkpoint to write (.pt)")
    p.add_argument("--preset", help="zoo config, e.g. R_50_1x (default: the one the keys describe)")
    _add_config_settings(
        p, "override a config field as in train, e.g. --set min_size_test=512 max_size_test=853"
    )
    p.set_defaults(func=commands.cmd_import_adelaidet)

    p = sub.add_parser("demo", help="synthetic data -> train cpu_tiny -> evaluate -> overlays and figures")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--iters", type=_positive_int, help="training iterations (default: the demo's fixed budget)"
    )
    budget.add_argument("--minutes", type=float, help="train for about this long instead (machine-dependent)")
    p.add_argument("--num-train", type=_positive_int, help="synthetic training images (default: the demo's)")
    p.add_argument("--num-val", type=_positive_int, help="synthetic validation images (default: the demo's)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training (default 0)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (default): bfloat16 autocast on CUDA and on CPUs with native bfloat16, else float32",
    )
    p.set_defaults(func=commands.cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``blendmask`` console script: errors end as one line on stderr (see the
    module docstring for the exit codes) unless ``--debug`` / ``BLENDMASK_DEBUG=1`` asks for tracebacks."""
    from .engine.train import NonFiniteLossError

    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("BLENDMASK_DEBUG", "") not in ("", "0")
    try:
        try:
            return args.func(args)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    except KeyboardInterrupt:  # a further Ctrl-C while the first one is being handled
        print("interrupted", file=sys.stderr)
        return 130
    except NonFiniteLossError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (FileNotFoundError, ValueError) as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
