"""What each ``blendmask`` subcommand does with its parsed arguments (the parser is ``blendmask.cli``).

Each ``cmd_*`` returns the exit code; bad input raises ``UsageError`` (or ``FileNotFoundError`` /
``ValueError``), which ``blendmask.cli.main`` turns into one line on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import BlendMaskConfig


def cmd_synth(args: argparse.Namespace) -> int:
    from ..data import make_synthetic_coco

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


def cmd_subset(args: argparse.Namespace) -> int:
    from ..data import make_subset

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
    from ..config import BlendMaskConfig
    from ..errors import UsageError

    hints = typing.get_type_hints(BlendMaskConfig)
    for key, value in settings:
        if key in hints and not _accepts(hints[key], value):  # unknown keys: the config names them
            expected = getattr(hints[key], "__name__", None) or str(hints[key])
            raise UsageError(f"--set {key}={value!r}: {key} expects {expected}, got {type(value).__name__}")


def _train_config(args: argparse.Namespace) -> BlendMaskConfig:
    """The preset with the command line's overrides (``--set`` last), shortened or lengthened to
    ``--iters`` by ``BlendMaskConfig.with_iters``."""
    from ..config import BlendMaskConfig

    overrides = {}
    for name in ("method", "batch_size", "lr"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    _check_setting_types(args.set)
    overrides.update(args.set)
    cfg = BlendMaskConfig.from_preset(args.preset, rkm=args.rkm, **overrides)
    if args.iters:
        cfg = cfg.with_iters(args.iters)
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from ..engine import init_distributed, shutdown_distributed

    init_distributed(args.device)
    try:
        return _train(args)
    finally:
        shutdown_distributed()


def _train(args: argparse.Namespace) -> int:
    from ..engine import coco_eval_set, coco_train_set, format_metrics, train

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


def cmd_eval(args: argparse.Namespace) -> int:
    from ..engine import init_distributed, shutdown_distributed

    init_distributed(args.device)  # under torchrun the images are sharded over the ranks
    try:
        return _eval(args)
    finally:
        shutdown_distributed()


def _eval(args: argparse.Namespace) -> int:
    from ..data.coco import MISSING_FILE
    from ..engine import Predictor, coco_eval_set, evaluate, format_metrics
    from ..engine.distributed import is_main_process
    from ..errors import UsageError

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
    from ..data import image_files
    from ..errors import UsageError

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


def cmd_predict(args: argparse.Namespace) -> int:
    from ..data import to_image_tensor
    from ..engine import Predictor
    from ..errors import ImageReadError
    from .render import write_overlay

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
        kept = len(prediction.above(args.score_threshold))
        print(f"{image_path}: {kept} instances with score >= {args.score_threshold} -> {path}")
        done += 1
    return _report_skips(done, skipped, "predicted")


def cmd_render(args: argparse.Namespace) -> int:
    from ..data import to_image_tensor
    from ..engine import Predictor
    from .render import write_figures

    predictor = Predictor(args.checkpoint, device=args.device)
    image = to_image_tensor(args.image)
    prediction = predictor.predict(image)
    prefix = f"{Path(args.image).stem}_"
    if not len(prediction):
        print(
            f"{args.image}: no instance detected; writing Figure 3 (bases) only, Figure 1 needs a detection",
            file=sys.stderr,
        )
    for path in write_figures(image, prediction, args.out, class_names=predictor.categories, prefix=prefix):
        print(path)
    return 0


def cmd_import_adelaidet(args: argparse.Namespace) -> int:
    from ..engine.checkpoint import save_checkpoint
    from ..modeling.adelaidet import import_adelaidet

    checkpoint = import_adelaidet(args.source, preset=args.preset, **dict(args.set))
    path = save_checkpoint(checkpoint, args.out)
    print(f"{args.source}: AdelaiDet {checkpoint['preset']}, {len(checkpoint['model'])} tensors -> {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import format_summary, run_demo

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
