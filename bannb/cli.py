"""The command line: `python -m bannb train|ban|evaluate|models …`."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from bannb.data import CORPORA, DATASETS, load_corpus, load_dataset
from bannb.errors import BannbError, ConfigError, unknown_choice
from bannb.image.distributed import is_main_process
from bannb.losses import LOSSES
from bannb.models import count_parameters, create_model, list_models
from bannb.runs.lifecycle import train
from bannb.runs.store import default_runs_dir, resolve_run
from bannb.study.generations import born_again, ensemble_accuracy
from bannb.study.profiles import DEFAULT_PROFILE, PROFILES, check_seeds, make_config, resolve_device


def _loss_params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--loss-param takes key=value (e.g. label_weight=0.5), got {pair!r}")
        try:
            params[key] = float(value)
        except ValueError as err:
            raise ConfigError(f"--loss-param {key} needs a number, got {value!r}") from err
    return params


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The run parameters `train` and `ban` share. Their values are only parsed here: the run config checks them
    (`RunConfig`'s number rules), so that both commands refuse the same values in the same one line."""
    group = parser.add_argument_group("run parameters (a profile sets the defaults)")
    group.add_argument("--profile", default=DEFAULT_PROFILE,
                       help=f"defaults: {', '.join(PROFILES)} (default: {DEFAULT_PROFILE})")
    group.add_argument("--arch", help="architecture name (see `python -m bannb models`)")
    group.add_argument("--dataset", help="fashion-mnist, cifar10, cifar100 or cifar10-jpeg (CIFAR-10 re-encoded as JPEG)")
    group.add_argument("--epochs", type=int)
    group.add_argument("--batch-size", type=int)
    group.add_argument("--lr", type=float)
    group.add_argument("--weight-decay", type=float)
    group.add_argument("--dropout", type=float)
    group.add_argument("--train-size", type=int, help="train on a subset (smoke runs)")
    group.add_argument("--valid-size", type=int, help="held-out validation samples (default 5000)")
    group.add_argument("--test-size", type=int, help="test on a subset (smoke runs)")
    group.add_argument("--no-augment", dest="augment", action="store_false", default=None)
    group.add_argument("--precision", default=None,
                       help="bf16, fp16 (CUDA), fp32, or auto (the fastest on this machine); default: the profile's "
                            "precision of record, so that its runs are the same on every machine")
    group.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if available)")
    group.add_argument("--runs-dir", type=Path, default=None, help="where runs live (default: data/runs or $BANNB_RUNS)")
    group.add_argument("--quiet", action="store_true", help="no progress bars")


def _device(args) -> str:
    """`--device`, checked, else cuda where there is one; a profile that needs a GPU is refused on a machine without
    one unless `--device cpu` is given (`profiles.resolve_device`)."""
    return resolve_device(args.profile, args.device, "--device cpu")


def _config(args, **extra):
    return make_config(args.profile, device=_device(args), precision=args.precision, arch=args.arch,
                       dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       weight_decay=args.weight_decay, dropout=args.dropout, train_size=args.train_size,
                       valid_size=args.valid_size, test_size=args.test_size, augment=args.augment, **extra)


def _percent(value: float) -> str:
    return f"{100 * value:6.2f}%"


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return _percent(values[0])
    return f"{_percent(statistics.mean(values))} ± {100 * statistics.stdev(values):.2f}"


def cmd_train(args) -> None:
    check_seeds("--seed", [args.seed])  # the rule of `ban --seeds`: a teacher's seed is a replicate's base seed
    config = _config(args, loss=args.loss, loss_params=_loss_params(args.loss_param), teacher=args.teacher,
                     seed=args.seed)
    run = train(config, args.runs_dir, _device(args), progress=not args.quiet)
    print(f"{run.run_id}: test accuracy {_percent(run.test_accuracy)}  ({run.path})")


def cmd_ban(args) -> None:
    check_seeds("--seeds", args.seeds)
    results = {}  # row name -> accuracy per seed
    for seed in args.seeds:
        base = _config(args, seed=seed)
        runs = born_again(base, args.generations, args.loss, _loss_params(args.loss_param), args.student_arch,
                          args.runs_dir, _device(args), progress=not args.quiet)
        results.setdefault("teacher", []).append(runs[0].test_accuracy)
        for generation, run in enumerate(runs[1:], start=1):
            results.setdefault(f"BAN-{generation}", []).append(run.test_accuracy)
        for size in range(2, len(runs)):
            results.setdefault(f"ensemble BAN-1..{size}", []).append(ensemble_accuracy(runs[1:size + 1]))
        if len(runs) > 2:
            results.setdefault("ensemble teacher+BANs", []).append(ensemble_accuracy(runs))
        for run in runs:
            print(f"  {run.run_id}")
    print(f"\n{base.dataset}, {base.arch}{' → ' + args.student_arch if args.student_arch else ''}, "
          f"loss {args.loss}, {base.epochs} epochs, seeds {' '.join(map(str, args.seeds))}: test accuracy (last epoch)")
    for name, values in results.items():
        print(f"  {name:<24} {_mean_std(values)}")


def cmd_evaluate(args) -> None:
    runs_dir = args.runs_dir or default_runs_dir()
    runs = [resolve_run(name, runs_dir) for name in args.runs]
    for run in runs:
        print(f"  {run.run_id:<70} test accuracy {_percent(run.test_accuracy)}")
    if len(runs) > 1:
        print(f"  {'ensemble of ' + str(len(runs)) + ' (mean of softmax outputs)':<70} "
              f"test accuracy {_percent(ensemble_accuracy(runs))}")


def cmd_models(args) -> None:
    for name in list_models():
        suffix = ""
        if args.params:
            suffix = f"  {count_parameters(create_model(name, in_channels=3, num_classes=args.classes)) / 1e6:8.3f}M"
        print(f"{name}{suffix}")


def cmd_data(args) -> None:
    if args.dataset in CORPORA:  # a text corpus (the language-model experiment)
        print(load_corpus(args.dataset).summary())
        return
    if args.dataset not in DATASETS:
        raise unknown_choice("dataset", args.dataset, (*DATASETS, *CORPORA))
    dataset = load_dataset(args.dataset)
    print(f"{dataset.name}: {len(dataset.train_images)} train + {len(dataset.test_images)} test images of shape "
          f"{dataset.image_shape}, {dataset.num_classes} classes, from {dataset.source}")
    per_class = {split: sorted(set(labels.bincount(minlength=dataset.num_classes).tolist()))
                 for split, labels in (("train", dataset.train_labels), ("test", dataset.test_labels))}
    print("  images per class: " + ", ".join(f"{split} {'/'.join(map(str, counts))}" for split, counts in per_class.items())
          + f"; classes {', '.join(dataset.classes)}")
    for name, digest in dataset.checksums.items():
        print(f"  {name}: {digest}")
    if dataset.note:
        print(f"note: {dataset.note}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bannb", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one model (a teacher, or a student of --teacher)")
    _add_run_arguments(train)
    train.add_argument("--loss", default="ce", help=f"one of {', '.join(LOSSES)} (default: ce)")
    train.add_argument("--loss-param", action="append", metavar="KEY=VALUE", help="e.g. label_weight=0.5, temperature=4")
    train.add_argument("--teacher", help="run id or run directory of a finished teacher")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=cmd_train)

    ban = commands.add_parser("ban", help="a teacher, born-again generations and their ensembles")
    _add_run_arguments(ban)
    ban.add_argument("--generations", type=int, default=3)
    ban.add_argument("--loss", default="ban", help=f"students' loss: one of {', '.join(LOSSES)} (default: ban)")
    ban.add_argument("--loss-param", action="append", metavar="KEY=VALUE")
    ban.add_argument("--student-arch", help="students of another architecture than the teacher")
    ban.add_argument("--seeds", type=int, nargs="+", default=[0], help="one sequence per seed; mean ± std over them")
    ban.set_defaults(func=cmd_ban)

    evaluate = commands.add_parser("evaluate", help="test accuracy of finished runs, and of their ensemble")
    evaluate.add_argument("runs", nargs="+", help="run ids or run directories")
    evaluate.add_argument("--runs-dir", type=Path, default=None)
    evaluate.set_defaults(func=cmd_evaluate)

    models = commands.add_parser("models", help="list the registered architectures")
    models.add_argument("--params", action="store_true", help="with parameter counts (3×32×32 input)")
    models.add_argument("--classes", type=int, default=10)
    models.set_defaults(func=cmd_models)
    data = commands.add_parser("data", help="find (or download) a dataset, validate its files and describe it")
    data.add_argument("--dataset", default="fashion-mnist",
                      help="fashion-mnist, cifar10, cifar100 or cifar10-jpeg, or the text corpus `fortunes`")
    data.set_defaults(func=cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not is_main_process():  # under torchrun, one process reports
        sys.stdout = open(os.devnull, "w")
    try:
        args.func(args)
    except BannbError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished epochs are checkpointed; the same command resumes", file=sys.stderr)
        return 130
    return 0
