"""The ``skaudio-random`` command line: ``study``, ``demo``, ``extract``, ``train``
and ``predict``.

``skaudio-random demo`` runs a small study on the spoken digits shipped with
the package (no download); ``skaudio-random study DATASET`` runs the paper's
comparison on a dataset (see :func:`skaudio_random.study.run_study`);
``extract``, ``train`` and ``predict`` live in ``_cli_extract.py`` and
``_cli_model.py``. Also available as ``python -m skaudio_random``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "DEMO_MODELS", "load_fsdd", "subset"]

DATASETS = (
    "gtzan",
    "extended_ballroom",
    "urbansound8k",
    "esc50",
    "folder",
    "spoken_digits",
    "fsdd",
)

#: Models of ``skaudio-random demo``: the MFCC baseline, three spectrogram CNNs
#: (small squared filters, one vertical filter, the musically motivated pair)
#: and the waveform sample-level CNN.
DEMO_MODELS = ("mfcc", "vgg", "vertical_7x86", "timbral_temporal", "sample_level")
#: The demo's clip length: 1 s (spoken digits last 0.14-2.28 s, mean 0.44 s),
#: repeated, instead of the paper's 29 s.
DEMO_INPUT = {"n_samples": 12000, "n_frames": 47}
DEMO_RUNS = 3
DEMO_OUT = "skaudio_random_demo"

_EPILOG = """\
examples:
  skaudio-random extract music/ --models vgg --width 3500 --out feats
  skaudio-random train my_sounds/ --model timbral_temporal --classifier svm
  skaudio-random predict model.joblib new_sounds/ --output predictions.csv
  skaudio-random demo
  skaudio-random study gtzan --data-home ~/data --widths 120 3500 --runs 3
  skaudio-random study urbansound8k --download --device cuda --models vgg mfcc
  skaudio-random study folder --data-home path/to/class_folders --n-frames 188
  skaudio-random study fsdd --data-home ~/data --widths 120 --trained
  skaudio-random study gtzan --data-home /shared/gtzan --scheduler tcp://host:8786
  skaudio-random study folder --data-home DIR --models vgg mypkg.nets:my_net

exit status:
  0 done; 1 the command cannot run (a missing or unreadable input, an unknown
  model, a bad option value, a full disk), with a one-line reason on stderr;
  2 a bad command line (usage errors, --window/--hop not positive and finite)
  or a size that cannot fit in memory (--width, --n-frames, --n-samples);
  3 extract or predict could not read some files (the others are written);
  130 interrupted (run the same command again to resume).
  Module paths (mypkg.nets:my_net) are imported from the installed packages,
  then from the current folder.
"""

#: Exit statuses of :func:`main` (see its docstring).
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


#: FSDD's own split (its README): takes 0-4 of every speaker and digit are the
#: test set; ``load_fsdd(split="official")`` validates on the next five.
FSDD_TEST_TAKES = range(0, 5)
FSDD_VALIDATION_TAKES = range(5, 10)


def load_fsdd(data_home, *, n_splits=5, split="cv"):
    """The Free Spoken Digit Dataset from a copy of its repository.

    Looks for ``recordings/{digit}_{speaker}_{take}.wav`` in ``data_home``,
    ``data_home/fsdd`` or ``data_home/free-spoken-digit-dataset``; the label is
    the digit of the file name (the dataset's own convention); ``groups`` holds
    the speaker; ``fix_length="repeat"``. FSDD is CC BY-SA 4.0 (Z. Jackson et
    al., Zenodo 10.5281/zenodo.1342401).

    Parameters
    ----------
    data_home : str or os.PathLike
        Where the copy of the repository is.
    n_splits : int, default=5
        Folds of ``split="cv"``.
    split : {"cv", "official"}, default="cv"
        ``"cv"``: all clips, the ``"cv"`` protocol over
        ``StratifiedKFold(n_splits, shuffle=True, random_state=0)`` (takes of
        one speaker fall in every fold, as in the official split).
        ``"official"``: the dataset's own split, with the ``"validation"``
        protocol of the package's other fixed splits (as ``load_gtzan``):
        takes 0-4 of every speaker and digit are the test set
        (``test_filenames``, ``test_target``, ``test_groups``: 300 of the 3000
        clips), never in ``cv``; the others are ``filenames``, where ``cv`` is
        a ``PredefinedSplit`` whose single validation fold is takes 5-9 (model
        selection, early stopping) and takes 10-49 train. ``n_splits`` is
        unused.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``filenames``, ``target``, ``target_names``, ``cv``, ``protocol``,
        ``groups``, ``fix_length``, ``name="fsdd"``, ``split``, ``root``,
        ``DESCR``; with ``split="official"`` also the test fields.

    Raises
    ------
    OSError
        If no recordings are found or a file name does not follow the
        layout (with ``split="official"`` the take must be an integer, and
        both the test and the validation takes must be present).
    ValueError
        If ``split`` is not one of the above.
    """
    from sklearn.model_selection import PredefinedSplit, StratifiedKFold

    from .datasets._base import _make_bunch

    if split not in ("cv", "official"):
        raise ValueError(f"load_fsdd: split must be 'cv' or 'official'; got {split!r}.")
    home = Path(data_home).expanduser()
    tried = [home, home / "fsdd", home / "free-spoken-digit-dataset"]
    for root in tried:
        files = sorted((root / "recordings").glob("*.wav"))
        if files:
            break
    else:
        raise OSError(
            "load_fsdd: no recordings/*.wav under "
            + ", ".join(str(t) for t in tried)
            + "; expected a copy of github.com/Jakobovski/free-spoken-digit-dataset "
            "(recordings/{digit}_{speaker}_{take}.wav)."
        )
    parts = [f.stem.split("_") for f in files]
    bad = [
        f.name
        for f, p in zip(files, parts, strict=True)
        if len(p) != 3
        or not p[0].isdigit()
        or (split == "official" and not p[2].isdigit())
    ]
    if bad:
        raise OSError(
            f"load_fsdd: {len(bad)} file names in {root / 'recordings'} do not follow "
            f"{{digit}}_{{speaker}}_{{take}}.wav (e.g. {bad[0]})."
        )
    filenames = np.asarray([str(f) for f in files], dtype=str)
    target = np.asarray([int(p[0]) for p in parts])
    groups = np.asarray([p[1] for p in parts], dtype=str)
    common = dict(
        target_names=[str(d) for d in range(10)],
        descr="Free Spoken Digit Dataset (CC BY-SA 4.0), Z. Jackson et al.",
        fix_length="repeat",
        name="fsdd",
        split=split,
        root=str(root),
    )
    if split == "cv":
        return _make_bunch(
            filenames=filenames,
            target=target,
            cv=StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=0),
            protocol="cv",
            groups=groups,
            **common,
        )
    take = np.asarray([int(p[2]) for p in parts])
    test = np.isin(take, FSDD_TEST_TAKES)
    valid = np.isin(take, FSDD_VALIDATION_TAKES)
    parts_present = {
        "test (takes 0-4)": test,
        "validation (takes 5-9)": valid,
        "training (takes 10 and above)": ~(test | valid),
    }
    absent = [what for what, mask in parts_present.items() if not mask.any()]
    if absent:
        raise OSError(
            f"load_fsdd: split='official' found no recording of the "
            f"{' and '.join(absent)} set(s) in {root / 'recordings'}."
        )
    return _make_bunch(
        filenames=filenames[~test],
        target=target[~test],
        cv=PredefinedSplit(np.where(valid[~test], 0, -1)),
        protocol="validation",
        groups=groups[~test],
        test_filenames=filenames[test],
        test_target=target[test],
        test_groups=groups[test],
        **common,
    )


def _needs_home(args):
    if args.data_home is None:
        raise OSError(f"the {args.dataset!r} dataset needs --data-home (its folder).")
    return args.data_home


def _load(args):
    from . import datasets as d

    loaders = {
        "gtzan": lambda a: d.load_gtzan(
            a.data_home, split=a.split, download=a.download
        ),
        "extended_ballroom": lambda a: d.load_extended_ballroom(
            a.data_home, download=a.download
        ),
        "urbansound8k": lambda a: d.load_urbansound8k(a.data_home, download=a.download),
        "esc50": lambda a: d.load_esc50(a.data_home, download=a.download),
        "spoken_digits": lambda a: d.load_spoken_digits(),
        "folder": lambda a: d.load_audio_folder(
            _needs_home(a), n_splits=a.n_splits or 10
        ),
        "fsdd": lambda a: load_fsdd(_needs_home(a), n_splits=a.n_splits or 5),
    }
    data = loaders[args.dataset](args)
    if args.max_clips is not None:
        data = subset(data, args.max_clips)
    return data


def subset(data, n_clips, *, random_state=0):
    """A stratified random subset of ``n_clips`` clips of a dataset bunch.

    Per-clip fields (``filenames``, ``target``, ``groups``, ``fold``) are
    subset alike and a :class:`~sklearn.model_selection.PredefinedSplit` keeps
    each kept clip's fold; other splitters are reused as they are. A test split
    (``test_filenames``) is kept whole. Order is preserved; ``subset_of`` holds
    the original number of clips.

    Parameters
    ----------
    data : sklearn.utils.Bunch
        A dataset bunch.
    n_clips : int
        Clips to keep (all of them if there are no more).
    random_state : int, default=0
        Seed of the draw.

    Returns
    -------
    data : sklearn.utils.Bunch
        A new bunch.
    """
    from sklearn.model_selection import PredefinedSplit, train_test_split
    from sklearn.utils import Bunch

    y = np.asarray(data.target)
    if n_clips < 1:
        raise ValueError(f"--max-clips must be a positive int; got {n_clips}.")
    if n_clips >= len(y):
        return data
    idx, _ = train_test_split(
        np.arange(len(y)), train_size=n_clips, stratify=y, random_state=random_state
    )
    idx = np.sort(idx)
    out = Bunch(**data)
    for key in ("filenames", "target", "groups", "fold"):
        value = data.get(key)
        if value is not None and len(value) == len(y):
            out[key] = np.asarray(value)[idx]
    if isinstance(data.cv, PredefinedSplit):
        out.cv = PredefinedSplit(data.cv.test_fold[idx])
    out.subset_of = len(y)  # reported by the study
    return out


def _transformer_params(args) -> dict:
    return {
        k: v
        for k, v in (("n_frames", args.n_frames), ("n_samples", args.n_samples))
        if v is not None
    }


def _check_models(models) -> None:
    """Resolve every ``--models`` entry before a dataset is read (a clear
    error listing the registry names, or the import path's problem)."""
    from ._resolve import check_model

    for model in models or ():
        check_model(model)


def _study(args) -> int:
    from ._cli_options import trained_kwargs
    from .study import run_study

    _check_models(args.models)
    data = _load(args)
    params = _transformer_params(args)
    result = run_study(
        data,
        models=args.models,
        widths=args.widths,
        classifiers=args.classifiers,
        runs=args.runs,
        out=args.out or f"study_{data.name}",
        device=args.device,
        n_jobs=args.n_jobs,
        search_jobs=args.search_jobs,
        memory=args.memory,
        nested=not args.no_nested,
        fast_svm=not args.plain_svm,
        verbose=not args.quiet,
        transformer_params=params or None,
        inner_splits=args.inner_splits,
        restart=args.restart,
        figures=not args.no_figures,
        svm_params=None
        if args.svm_max_iter is None
        else {"max_iter": args.svm_max_iter},
        scheduler=args.scheduler,
        **trained_kwargs(args),
    )
    if args.quiet:  # the table is printed either way
        print(result.report)
        print(f"Outputs in {result.out.resolve()}")
    return 0


def _demo(args) -> int:
    from .datasets import load_spoken_digits
    from .study import run_study

    started = time.perf_counter()
    data = load_spoken_digits()
    models, runs, nested = list(DEMO_MODELS), DEMO_RUNS, not args.no_nested
    if args.quick:  # a smoke test: 100 clips, two models, two runs, no nested CV
        keep = np.arange(0, len(data.target), 3)
        for k in ("filenames", "target", "groups"):
            data[k] = data[k][keep]
        models, runs, nested = ["mfcc", "vgg"], 2, False
    out = Path(args.out)
    print(
        f"skaudio-random demo: {len(data.target)} spoken digits (Free Spoken Digit "
        "Dataset, CC BY-SA 4.0, shipped), models "
        f"{', '.join(models)} at width 120, SVM and ELM with the paper's grids, "
        f"{runs} runs, {data.cv.get_n_splits()}-fold CV"
        + (" (paper-style and nested)" if nested else "")
        + ". Inputs: every clip repeated to 1 s (the paper uses 29 s clips); MFCC "
        f"on whole clips. Outputs: {out}/",
        flush=True,
    )
    result = run_study(
        data,
        models=models,
        widths=(120,),
        classifiers=("svm", "elm"),
        runs=runs,
        out=out,
        device=args.device,
        n_jobs=args.n_jobs,
        search_jobs=args.search_jobs,
        nested=nested,
        transformer_params=dict(DEMO_INPUT),
        verbose=not args.quiet,
    )
    if args.quiet:
        print(result.report)
    print(
        f"demo finished in {time.perf_counter() - started:.0f} s "
        f"({result.n_computed} rows computed, {result.n_reused} reused from an "
        f"earlier run); results in {out.resolve()}"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="skaudio-random",
        description="Randomly weighted CNN audio features and ELMs (Pons & Serra, "
        "ICASSP 2019): extract features, train and apply classifiers, and run the "
        "paper's comparison of architectures.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(
        dest="command", metavar="{extract,train,predict,study,demo}"
    )
    sub.required = True

    from ._cli_options import add_scheduler_option, add_trained_options
    from ._names import CLASSIFIERS, builtin_model_names

    st = sub.add_parser(
        "study",
        help="compare architectures on a dataset (the paper's protocol)",
        description="Run the paper's comparison on a dataset and write results.csv, "
        "results.md, summary.csv, ttests.csv and one figure per width to --out. "
        "Rerunning with the same --out resumes.",
    )
    st.add_argument("dataset", choices=DATASETS)
    st.add_argument(
        "--data-home",
        help="where the dataset lives (for 'folder': the "
        "folder of class subfolders; for 'fsdd': a copy of the FSDD repository)",
    )
    st.add_argument("--download", action="store_true", help="fetch a missing dataset")
    st.add_argument(
        "--split",
        default="fault_filtered",
        choices=("fault_filtered", "all"),
        help="GTZAN partition (default: fault_filtered, the paper's)",
    )
    st.add_argument(
        "--n-splits", type=int, help="folds for 'folder' (10) and 'fsdd' (5)"
    )
    st.add_argument(
        "--models",
        nargs="+",
        metavar="MODEL",
        help="default: the paper's set for the dataset; any of "
        f"{builtin_model_names()}, or an import path package.module:factory naming a "
        "network factory or a transformer class (rows are labelled by the "
        "factory's name)",
    )
    st.add_argument("--widths", nargs="+", type=int, default=[120, 3500])
    st.add_argument(
        "--classifiers", nargs="+", choices=CLASSIFIERS, default=list(CLASSIFIERS)
    )
    st.add_argument(
        "--runs", type=int, default=3, help="runs; run k uses random_state=k"
    )
    st.add_argument(
        "--max-clips",
        type=int,
        help="a stratified random subset of this many clips (seed 0), for a quick "
        "look at a large dataset; a test split is kept whole",
    )
    st.add_argument("--out", help="results folder (default: study_<dataset>)")
    st.add_argument("--memory", help="feature cache folder (default: <out>/features)")
    st.add_argument(
        "--n-frames",
        type=int,
        help="CNN input length in log-mel frames (default: the paper's 1376)",
    )
    st.add_argument(
        "--n-samples",
        type=int,
        help="waveform CNN input length in samples (default: the paper's 350000)",
    )
    st.add_argument(
        "--inner-splits", type=int, default=3, help="inner folds of the nested CV"
    )
    st.add_argument("--no-nested", action="store_true", help="skip the nested CV")
    st.add_argument(
        "--plain-svm",
        action="store_true",
        help="plain SVC instead of the cached torch kernels (same results)",
    )
    st.add_argument(
        "--svm-max-iter",
        type=int,
        help="cap libsvm's iterations per fit (default: none, as in the paper); the "
        "linear kernel at C=32 on poorly separable features can take minutes per fit",
    )
    st.add_argument(
        "--restart",
        action="store_true",
        help="discard the results in --out (the cached features are kept) "
        "instead of resuming; needed when --out holds another study",
    )
    st.add_argument("--no-figures", action="store_true")
    add_trained_options(st)
    add_scheduler_option(st, what="the features and the grid searches")
    _common(st)
    st.set_defaults(func=_study)

    de = sub.add_parser(
        "demo",
        help="a small study on spoken digits shipped with the package",
        description="A small study on 300 spoken digits shipped with the package "
        "(no download): the MFCC baseline and four CNNs (VGG, 7x86, timbral+temporal, "
        "sample level) at width 120 on 1 s inputs, SVM and ELM with the paper's "
        "grids, 3 runs, 5-fold CV (the paper's best-grid-point score and the nested "
        "CV). About a minute on two CPU cores. Rerunning resumes.",
    )
    de.add_argument(
        "--out", default=DEMO_OUT, help=f"results folder (default: {DEMO_OUT})"
    )
    de.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: 100 clips, MFCC and one CNN, 2 runs",
    )
    de.add_argument("--no-nested", action="store_true", help="skip the nested CV")
    _common(de, threads_default=1)
    de.set_defaults(func=_demo)

    from ._cli_extract import add_parser as add_extract
    from ._cli_model import add_parsers as add_train_predict

    add_extract(sub, _common)
    add_train_predict(sub, _common)
    return parser


def _common(p, threads_default=None):
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--n-jobs", type=int, help="threads decoding audio")
    p.add_argument(
        "--search-jobs",
        type=int,
        help="processes running grid searches at once (default: one per CPU core "
        "on the CPU, 1 with a GPU)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=threads_default,
        help="torch and BLAS threads (default: "
        + ("the libraries' own" if threads_default is None else str(threads_default))
        + "); small matrices run fastest on one thread, which also avoids the "
        "large slowdowns of oversubscribed cores",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (the final table is still printed)",
    )


@contextlib.contextmanager
def _threads(n):
    """Limit torch's and the BLAS libraries' threads to ``n`` (``None``: no limit)."""
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"--threads must be a positive int; got {n}.")
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def user_imports():
    """The current folder importable, after the installed packages, for a while.

    Used only for a command that names a user's import path
    (``--models``/``--model`` ``package.module:factory``) or reads a model file
    that may name one (``predict``), so that such modules are found as
    ``python -m`` would find them, also by the worker processes the command
    starts; a file of the current folder named like an installed library
    (``psutil.py``) never replaces it, and other commands do not see the
    current folder at all.
    """
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            del sys.path[len(sys.path) - 1 - sys.path[::-1].index(cwd)]


def _import_paths(args) -> list[str]:
    """The ``package.module:factory`` specs of the command line."""
    specs = list(getattr(args, "models", None) or ())
    if args.command == "train":
        specs.append(args.model)
    return [s for s in specs if isinstance(s, str) and ":" in s]


def _one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _error(exc: BaseException, status: int) -> int:
    print(f"skaudio-random: error: {_one_line(exc)}", file=sys.stderr)
    return status


def _is_unreachable_width(exc: BaseException) -> bool:
    arch = sys.modules.get("skaudio_random.architectures")  # raised only once imported
    return arch is not None and isinstance(exc, arch.WidthUnreachableError)


def _run(args) -> int:
    """The command, with the user's modules imported first (see user_imports)."""
    specs = _import_paths(args)
    if not specs and args.command != "predict":  # the model file may name one
        return args.func(args)
    from ._resolve import check_model

    # The whole command: worker processes it starts copy sys.path, and
    # unpickle the user's network by its module.
    with user_imports():
        for spec in specs:
            check_model(spec)
        return args.func(args)


def main(argv=None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments (``sys.argv[1:]`` when ``None``).

    Returns
    -------
    status : int
        - 0: done.
        - 1 (``EXIT_FAILED``): the command cannot run with these inputs: a
          missing or unreadable dataset, input or model file, an unknown model
          or import path, an option value the library rejects, a full disk
          (``OSError``, ``ValueError``, ``TypeError``).
        - 2 (``EXIT_USAGE``, argparse's own status): a bad command line
          (unknown options, bad choices, ``--window``/``--hop`` not positive and
          finite), a ``--width`` no nf gives, or a size that cannot fit in
          memory (the ``MemoryError`` estimate naming ``--width``,
          ``--n-frames`` or ``--n-samples``).
        - 3 (``EXIT_SOME_FAILED``): ``extract`` or ``predict`` could not read
          some files; the others are written.
        - 130: interrupted; the same command resumes.

        Errors are one line on stderr, ``skaudio-random: error: ...``, without
        a traceback; only a bug of the package shows one.

    Examples
    --------
    >>> from skaudio_random.cli import main
    >>> main(["demo", "--quick", "--out", "demo_out"])  # doctest: +SKIP
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv  # recorded in model files
    try:
        with _threads(args.threads):
            return _run(args)
    except MemoryError as exc:  # the estimates name the option to lower
        return _error(exc, EXIT_USAGE)
    except (OSError, ValueError, TypeError) as exc:
        return _error(exc, EXIT_USAGE if _is_unreachable_width(exc) else EXIT_FAILED)
    except KeyboardInterrupt:
        print(
            "skaudio-random: interrupted; run the same command again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
