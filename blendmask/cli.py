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
import dataclasses
import os
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import BlendMaskConfig


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _cmd_synth(args: argparse.Namespace) -> int:
    from .data import make_synthetic_coco

    data = make_synthetic_coco(
        args.out,
        num_train=args.num_train,
        num_val=args.num_val,
        image_size=args.size,
        num_classes=args.num_classes,
        seed=args.seed,
    )
    print(f"train: {data.train_images} ({data.train_ann})")
    print(f"val:   {data.val_images} ({data.val_ann})")
    return 0


def _cmd_subset(args: argparse.Namespace) -> int:
    from .data import make_subset

    categories = None
    if args.categories:
        categories = [int(c) if c.strip().isdigit() else c.strip() for c in args.categories.split(",")]
    summary = make_subset(
        args.ann,
        args.out,
        categories=categories,
        max_images=args.max_images,
        min_instances=args.min_instances,
        seed=args.seed,
    )
    print(
        f"{args.out}: {summary['images']} images, {summary['annotations']} annotations, "
        f"{summary['categories']} categories"
    )
    return 0


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


def _accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` (a parsed ``--set`` literal) fits the type hint of a config field."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(hint))
    kind = typing.get_origin(hint) or hint
    if kind is type(None):
        return value is None
    if kind in (int, float) and isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float)
    if kind in (tuple, list):
        return isinstance(value, tuple | list)
    return isinstance(value, kind)


def _check_setting_types(settings: Sequence[tuple[str, Any]]) -> None:
    """Raise UsageError naming a ``--set KEY=VALUE`` whose value does not fit the field's type."""
    from .config import BlendMaskConfig
    from .errors import UsageError

    hints = typing.get_type_hints(BlendMaskConfig)
    for key, value in settings:
        if key in hints and not _accepts(hints[key], value):  # unknown keys: the config names them
            expected = getattr(hints[key], "__name__", None) or str(hints[key])
            raise UsageError(f"--set {key}={value!r}: {key} expects {expected}, got {type(value).__name__}")


def _train_config(args: argparse.Namespace) -> BlendMaskConfig:
    """The preset with the command line's overrides (``--set`` last). ``--iters`` rescales a step
    schedule's lr_steps and caps the warm-up at a tenth of the run."""
    from .config import BlendMaskConfig

    overrides = {}
    for name in ("method", "batch_size", "lr"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    _check_setting_types(args.set)
    overrides.update(args.set)
    cfg = BlendMaskConfig.from_preset(args.preset, rkm=args.rkm, **overrides)
    if args.iters:
        scale = args.iters / cfg.max_iter
        cfg = dataclasses.replace(
            cfg,
            max_iter=args.iters,
            lr_steps=tuple(round(step * scale) for step in cfg.lr_steps),
            warmup_iters=min(cfg.warmup_iters, args.iters // 10),
        )
    return cfg


def _cmd_train(args: argparse.Namespace) -> int:
    from .engine import init_distributed, shutdown_distributed

    init_distributed(args.device)
    try:
        return _train(args)
    finally:
        shutdown_distributed()


def _train(args: argparse.Namespace) -> int:
    from .engine import coco_eval_set, coco_train_set, format_metrics, train

    cfg = _train_config(args)
    train_set = coco_train_set(cfg, args.data_root, args.train_ann)
    names = list(train_set.categories)
    cfg = dataclasses.replace(cfg, num_classes=len(names), class_names=names)
    val_set = coco_eval_set(args.val_root or args.data_root, args.val_ann) if args.val_ann else None
    result = train(
        cfg,
        train_set,
        out_dir=args.out,
        val_set=val_set,
        device=args.device,
        resume=args.resume,
        workers=args.workers,
        seed=args.seed,
        checkpoint_period=args.checkpoint_period,
        eval_period=args.eval_period,
        amp=args.amp,
        sync_bn=args.sync_bn,
        deterministic=args.deterministic,
    )
    if result.interrupted:
        return 130
    if result.checkpoint is not None:
        minutes = result.seconds / 60
        print(f"checkpoint: {result.checkpoint} ({result.iteration} iterations, {minutes:.1f} min)")
    if result.metrics is not None:
        print(format_metrics(result.metrics))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .engine import init_distributed, shutdown_distributed

    init_distributed(args.device)  # under torchrun the images are sharded over the ranks
    try:
        return _eval(args)
    finally:
        shutdown_distributed()


def _eval(args: argparse.Namespace) -> int:
    from .data.coco import MISSING_FILE
    from .engine import Predictor, coco_eval_set, evaluate, format_metrics
    from .engine.distributed import is_main_process
    from .errors import UsageError

    predictor = Predictor(args.checkpoint, device=args.device, precision=args.precision)
    dataset = coco_eval_set(args.data_root, args.ann)
    listed = len(dataset.image_ids) + dataset.skipped.get(MISSING_FILE, 0)
    if not dataset.image_ids:
        raise UsageError(f"--data-root {args.data_root}: 0 of the {listed} images of {args.ann} found there")
    if len(dataset.image_ids) < listed:
        if args.strict:
            raise UsageError(
                f"--data-root {args.data_root}: only {len(dataset.image_ids)} of the {listed} images "
                f"of {args.ann} found there (--strict)"
            )
        print(
            f"warning: only {len(dataset.image_ids)} of the {listed} images of {args.ann} found under "
            f"{args.data_root}; evaluating those",
            file=sys.stderr,
        )
    if list(dataset.categories) != predictor.categories:
        raise ValueError(
            f"{args.ann} has the categories {list(dataset.categories)}, "
            f"but {args.checkpoint} was trained on {predictor.categories}"
        )
    out = Path(args.out) if args.out else None
    metrics = evaluate(
        predictor.model,
        dataset,
        out_dir=out.parent if out else None,
        metrics_file=out,
        verbose=args.verbose,
        strict=args.strict,
    )
    if not is_main_process():
        return 0
    for skip in metrics["skipped"]:
        print(f"skipped image id {skip['image_id']} ({skip['path']}): {skip['reason']}", file=sys.stderr)
    if metrics["skipped"]:
        print(
            f"evaluated {metrics['num_images']} of {len(dataset)} images; left out "
            f"{len(metrics['skipped'])} unreadable image(s) with their ground truth",
            file=sys.stderr,
        )
    print(format_metrics(metrics))
    if out:
        print(f"metrics: {out}; COCO results: {out.parent / 'coco_results.json'}")
    return 0


def _image_paths(inputs: Sequence[str]) -> list[Path]:
    """IMAGE arguments -> image files: a folder stands for every image file directly in it."""
    from .data import image_files
    from .errors import UsageError

    paths: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found = image_files(path)
            if not found:
                raise UsageError(f"{path}: the folder holds no image file")
            paths.extend(found)
        else:
            paths.append(path)
    return paths


def _output_name(image_path: Path, taken: set[str]) -> str:
    """``ok.png`` -> ``ok_png.png`` (the extension kept in the name); ``_2``, ``_3`` ... when taken."""
    base = image_path.name.replace(".", "_")
    name, number = f"{base}.png", 1
    while name in taken:
        number += 1
        name = f"{base}_{number}.png"
    taken.add(name)
    return name


def _report_skips(done: int, skipped: list[tuple[Path, str]], what: str) -> int:
    """Print the summary line of a many-item command; exit code 2 when nothing could be done."""
    summary = f"{done} of {done + len(skipped)} images {what}"
    if skipped:
        summary += f"; skipped {len(skipped)}: " + ", ".join(str(path) for path, _ in skipped)
    print(summary, file=sys.stderr if skipped else sys.stdout)
    return 2 if skipped and not done else 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .engine import Predictor, to_image_tensor
    from .engine.render import write_overlay
    from .errors import ImageReadError

    predictor = Predictor(args.checkpoint, device=args.device, precision=args.precision)
    taken: set[str] = set()
    done, skipped = 0, []
    for image_path in _image_paths(args.images):
        try:
            image = to_image_tensor(image_path)
        except (ImageReadError, FileNotFoundError) as error:
            if args.strict:
                raise
            print(f"skipped {image_path}: {error}", file=sys.stderr)
            skipped.append((image_path, str(error)))
            continue
        prediction = predictor.predict(image)
        path = write_overlay(
            image,
            prediction,
            Path(args.out) / _output_name(image_path, taken),
            class_names=predictor.categories,
            score_threshold=args.score_threshold,
        )
        kept = int((prediction["scores"] >= args.score_threshold).sum())
        print(f"{image_path}: {kept} instances with score >= {args.score_threshold} -> {path}")
        done += 1
    return _report_skips(done, skipped, "predicted")


def _cmd_render(args: argparse.Namespace) -> int:
    from .engine import Predictor, to_image_tensor
    from .engine.render import write_figures

    predictor = Predictor(args.checkpoint, device=args.device)
    image = to_image_tensor(args.image)
    prediction = predictor.predict(image)
    prefix = f"{Path(args.image).stem}_"
    if not prediction["scores"].numel():
        print(
            f"{args.image}: no instance detected; writing Figure 3 (bases) only, Figure 1 needs a detection",
            file=sys.stderr,
        )
    for path in write_figures(image, prediction, args.out, class_names=predictor.categories, prefix=prefix):
        print(path)
    return 0


def _cmd_import_adelaidet(args: argparse.Namespace) -> int:
    from .engine.checkpoint import save_checkpoint
    from .modeling.adelaidet import import_adelaidet

    checkpoint = import_adelaidet(args.source, preset=args.preset, **dict(args.set))
    path = save_checkpoint(checkpoint, args.out)
    print(f"{args.source}: AdelaiDet {checkpoint['preset']}, {len(checkpoint['model'])} tensors -> {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .engine.demo import format_summary, run_demo

    result = run_demo(
        args.out,
        iters=args.iters,
        minutes=args.minutes,
        num_train=args.num_train,
        num_val=args.num_val,
        device=args.device,
        workers=args.workers,
        seed=args.seed,
        precision=args.precision,
    )
    print(format_summary(result))
    return 0


def _add_precision(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--precision",
        choices=("auto", "bfloat16", "float32"),
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
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("subset", help="write a COCO json restricted to some categories / images")
    p.add_argument("--ann", required=True, help="source COCO instances json")
    p.add_argument("--out", required=True, help="output json")
    p.add_argument("--categories", help="comma-separated names or ids, e.g. person,dog or 1,18")
    p.add_argument("--max-images", type=_positive_int, help="keep at most this many images")
    p.add_argument("--min-instances", type=int, default=1, help="images need this many kept instances")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_subset)

    p = sub.add_parser("train", help="train BlendMask on a COCO-format dataset (also under torchrun)")
    p.add_argument("--data-root", required=True, help="folder of the training images")
    p.add_argument("--train-ann", required=True, help="training COCO instances json")
    p.add_argument("--val-ann", help="validation json, evaluated at the end (and every --eval-period)")
    p.add_argument("--val-root", help="folder of the validation images (default: --data-root)")
    p.add_argument("--preset", default="cpu_tiny", help="config preset (default cpu_tiny), e.g. R_50_1x")
    p.add_argument("--rkm", help="blender R_K_M, e.g. 28_4_4 or 56_4_14")
    p.add_argument("--method", choices=("blender", "weighted_sum", "assembler"), help="merging method")
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
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
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
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "eval", help="COCO mask and box AP of a checkpoint on a COCO-format dataset (also under torchrun)"
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint (.pt) written by train")
    p.add_argument("--data-root", required=True, help="folder of the images")
    p.add_argument("--ann", required=True, help="COCO instances json")
    p.add_argument("--out", help="metrics json to write (COCO results go next to it)")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.add_argument("--verbose", action="store_true", help="print COCOeval's full tables")
    p.add_argument(
        "--strict",
        action="store_true",
        help="a missing or unreadable image is an error (default: skip, say so)",
    )
    _add_precision(p, default="float32")
    p.set_defaults(func=_cmd_eval)

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
    p.add_argument("--device", choices=("cpu", "cuda"))
    _add_precision(p, default="auto")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("render", help="the paper's Figure 1 (blending) and Figure 3 (bases) for an image")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser(
        "import-adelaidet", help="convert an AdelaiDet BlendMask model_final.pth into a checkpoint"
    )
    p.add_argument("source", help="AdelaiDet/detectron2 checkpoint (.pth torch file or .pkl of numpy arrays)")
    p.add_argument("--out", required=True, help="project checkpoint to write (.pt)")
    p.add_argument("--preset", help="zoo config, e.g. R_50_1x (default: the one the keys describe)")
    _add_config_settings(
        p, "override a config field as in train, e.g. --set min_size_test=512 max_size_test=853"
    )
    p.set_defaults(func=_cmd_import_adelaidet)

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
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training (default 0)")
    p.add_argument(
        "--precision",
        choices=("auto", "bfloat16", "float32"),
        default="auto",
        help="auto (default): bfloat16 autocast on CUDA and on CPUs with native bfloat16, else float32",
    )
    p.set_defaults(func=_cmd_demo)
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
