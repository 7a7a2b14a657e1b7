"""``skaudio-random train`` and ``predict``: a classifier in one file.

``train`` runs the paper's grid search (one ``GridSearchCV``) with cross-validation
on a folder of class subfolders, then fits the probability model of the chosen
grid point and saves everything in one joblib file. ``predict`` reads it back.

Probabilities
-------------
* SVM: Platt scaling through :class:`sklearn.calibration.CalibratedClassifierCV`
  (``method="sigmoid"``) around the selected SVM, on the grid search's folds:
  the grid search runs once, and the calibration fits the chosen SVM once per
  fold (the per-fold SVMs' calibrated probabilities are averaged). Unlike
  ``SVC(probability=True)``, whose ``predict`` can disagree with the argmax of
  its ``predict_proba``, the calibrated model predicts the class of largest
  probability, so labels and probabilities always agree. Its labels can differ
  from those of the plain SVM on a few clips.
* ELM: the softmax of its decision values (:meth:`ELMClassifier.predict_proba`),
  whose argmax is the ELM's own prediction; ``--calibrate`` gives Platt-scaled
  probabilities as for the SVM instead.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shlex
import stat
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ._cli_extract import (
    EXIT_SOME_FAILED,
    add_feature_options,
    collect_inputs,
    features_or_errors,
    transformer_params,
)
from ._names import builtin_model_names

__all__ = [
    "load_model_file",
    "save_model_file",
    "add_parsers",
    "MODEL_FORMAT",
    "InsecureModelFileWarning",
]

MODEL_FORMAT = "skaudio-random-model"
MODEL_FORMAT_VERSION = 1


class InsecureModelFileWarning(UserWarning):
    """A model file, or its folder, can be written by other users.

    Model files are pickles, which run code when they are read: whoever can
    write the file (or replace it in its folder) can run code as the user who
    loads it.
    """


def _check_out_path(path) -> Path:
    """``path`` as a model file to write; ``IsADirectoryError`` or
    ``NotADirectoryError`` (naming it) if a folder is in the way."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"--out {path} is a folder; give the model file's path, such as "
            f"{path / 'model.joblib'}."
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"--out {path}: {parent} is a file, not a folder; choose another "
                    "path for the model file."
                )
            break
    return path


def save_model_file(path, content: dict) -> None:
    """Write a model file (joblib) atomically.

    The file is written beside ``path`` under a temporary name and renamed onto
    it, so an existing model file is replaced only by a complete one; the
    temporary file is removed if writing fails. A folder at ``path`` is refused.
    """
    import joblib

    from . import __version__

    path = _check_out_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "version": __version__,
        **content,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    os.close(fd)
    try:
        joblib.dump(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _warn_if_others_can_write(path: str) -> None:
    """:class:`InsecureModelFileWarning` if group or others can write ``path`` or
    replace it (its folder writable by them without the sticky bit)."""
    if os.name == "nt":  # POSIX permission bits only
        return
    others = stat.S_IWGRP | stat.S_IWOTH
    folder = os.path.dirname(os.path.abspath(path))
    mode, folder_mode = os.stat(path).st_mode, os.stat(folder).st_mode
    if mode & others:
        where = f"model file {path!r} is writable by its group or other users"
    elif folder_mode & others and not folder_mode & stat.S_ISVTX:
        where = (
            f"the folder {folder!r} of model file {path!r} is writable by its group "
            "or other users, who can replace the file"
        )
    else:
        return
    warnings.warn(
        f"{where}. A model file is a pickle that runs code when loaded: load it "
        "only if you trust everyone who can write it, and keep it private "
        "(chmod go-w).",
        InsecureModelFileWarning,
        stacklevel=3,
    )


def _missing_import(exc: BaseException) -> str | None:
    """``module`` or ``module.name`` of the global that unpickling could not import."""
    tb = exc.__traceback__
    found = None
    while tb is not None:  # pickle's find_class(module, name) frame, if any
        frame_vars = tb.tb_frame.f_locals
        if tb.tb_frame.f_code.co_name == "find_class" and "module" in frame_vars:
            found = f"{frame_vars['module']}.{frame_vars.get('name', '')}".rstrip(".")
        tb = tb.tb_next
    return found or getattr(exc, "name", None)


def _check_content(path: str, content: dict, classifier: bool) -> None:
    """``ValueError`` naming ``path`` unless ``content`` is a model file this
    version reads: a known ``format_version`` and a usable pipeline (features,
    then a classifier with its class names if ``classifier``)."""
    from . import __version__

    version = content.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(
            f"model file {path!r} has an unknown format_version {version!r}; this "
            f"skaudio-random ({__version__}) reads format_version 1 to "
            f"{MODEL_FORMAT_VERSION}. Retrain the model with `skaudio-random train`."
        )
    if version > MODEL_FORMAT_VERSION:
        raise ValueError(
            f"model file {path!r} has format_version {version} (written by "
            f"skaudio-random {content.get('version')}); this skaudio-random "
            f"({__version__}) reads format_version {MODEL_FORMAT_VERSION} at most. "
            "Upgrade skaudio-random (pip install -U skaudio-random) to use it."
        )
    needed = ("pipeline", "classes") if classifier else ("pipeline",)
    missing = [k for k in needed if k not in content]
    if missing:
        raise ValueError(
            f"model file {path!r} is damaged: the "
            + " and ".join(repr(k) for k in missing)
            + " entry is missing. Retrain the model with `skaudio-random train`."
        )
    pipeline = content["pipeline"]
    steps = getattr(pipeline, "steps", None)
    if not isinstance(steps, list) or len(steps) < (2 if classifier else 1):
        raise ValueError(
            f"model file {path!r} is damaged: its 'pipeline' entry is a "
            f"{type(pipeline).__name__}, not a Pipeline of features then a "
            "classifier. Retrain the model with `skaudio-random train`."
        )
    if not hasattr(pipeline[0], "transform"):
        raise ValueError(
            f"model file {path!r} is damaged: its pipeline does not start with a "
            "feature transformer."
        )
    if not classifier:
        return
    if not hasattr(pipeline[-1], "predict_proba"):
        raise ValueError(
            f"model file {path!r} is damaged: its pipeline does not end with a "
            "classifier giving probabilities."
        )
    n_classes = len(getattr(pipeline[-1], "classes_", ()))
    if len(content["classes"]) != n_classes:
        raise ValueError(
            f"model file {path!r} is damaged: it lists {len(content['classes'])} "
            f"class names for a classifier of {n_classes} classes."
        )


def load_model_file(path, *, classifier: bool = True) -> dict:
    """Read a model file written by ``skaudio-random train``.

    Model files are pickles, which run code when read: load only files you
    trust. A file that its group or other users can write (or replace) is
    loaded with an :class:`InsecureModelFileWarning`.

    Parameters
    ----------
    path : str or os.PathLike
    classifier : bool, default=True
        Whether the classifier and class names are needed (``predict``) or only
        the feature transformer, the pipeline's first step (HEAR).

    Returns
    -------
    dict
        ``pipeline`` (features then classifier), ``classes``, ``version``,
        ``params``, ``command``, ``cv_accuracy``, ``best_params``...

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a model file of this package, has a newer or unknown
        ``format_version``, lacks an entry (``pipeline``, ``classes``), or needs
        a module that cannot be imported here (a user network's, named).

    Warns
    -----
    InsecureModelFileWarning
        If group or other users can write the file or its folder.
    UserWarning
        If the file was written by another version of the package.
    """
    import joblib

    from . import __version__

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist.")
    _warn_if_others_can_write(path)
    try:
        content = joblib.load(path)
    except (ModuleNotFoundError, AttributeError) as exc:
        needed = _missing_import(exc)
        raise ValueError(
            f"model file {path!r} needs {needed or 'a module'!r}, which cannot be "
            f"imported here ({exc}). It was trained with a network of your own: "
            "make its module importable (install the package that holds it, or "
            "add the folder that holds it to PYTHONPATH, or run from that folder)."
        ) from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not ours"
        raise ValueError(
            f"{path!r} is not a skaudio-random model file (it could not be read as "
            f"one: {type(exc).__name__}). Model files are written by "
            "`skaudio-random train`."
        ) from None
    if not isinstance(content, dict) or content.get("format") != MODEL_FORMAT:
        raise ValueError(
            f"{path!r} is not a skaudio-random model file (it holds a "
            f"{type(content).__name__}). Model files are written by "
            "`skaudio-random train`."
        )
    _check_content(path, content, classifier)
    if content.get("version") != __version__:
        warnings.warn(
            f"model file {path!r} was written by skaudio-random "
            f"{content.get('version')}; this is {__version__}. Predictions may "
            "differ; retrain the model with this version to be sure.",
            UserWarning,
            stacklevel=2,
        )
    return content


def _classifier(args, data):
    """(estimator, param_grid) of the paper's classifier and grid."""
    from .elm import ELMClassifier
    from .grids import paper_elm_grid, paper_svm_grid
    from .kernels import make_kernel_svc

    if args.classifier == "svm":
        # the kernels are computed once for the whole grid (same results as SVC)
        return make_kernel_svc(device=args.device), paper_svm_grid(precomputed=True)
    return ELMClassifier(device=args.device, random_state=args.seed), paper_elm_grid()


def _format_confusion(matrix, names) -> str:
    width = max(len(str(n)) for n in names)
    width = max(width, len(str(matrix.max())), 4)
    head = " " * (width + 2) + " ".join(f"{n:>{width}}" for n in names)
    lines = ["confusion matrix (rows: true class, columns: predicted class)", head]
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"{name:>{width}}  " + " ".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)


def run_train(args) -> int:
    """The ``train`` command; returns the exit status."""
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import GridSearchCV, cross_val_predict
    from sklearn.pipeline import Pipeline

    from .datasets import load_audio_folder

    started = time.perf_counter()
    out = _check_out_path(args.out)  # before any work
    data = load_audio_folder(args.folder, n_splits=args.n_splits)
    names = list(data.target_names)
    counts = np.bincount(np.asarray(data.target), minlength=len(names))
    if counts.min() < args.n_splits:  # checked before computing any feature
        small = ", ".join(
            f"{n} ({c})"
            for n, c in zip(names, counts, strict=True)
            if c < args.n_splits
        )
        raise ValueError(
            f"--n-splits={args.n_splits} needs at least {args.n_splits} files per "
            f"class; these classes have fewer: {small}. Lower --n-splits or add files."
        )
    params = transformer_params(args)
    if args.fix_length is None:  # the folder loader's rule ("repeat")
        params["fix_length"] = data.fix_length
    if args.model == "mfcc" and params["fix_length"] == "crop":
        params["fix_length"] = "none"  # MFCC reads whole clips (SPEC 4)
    from ._resolve import make_transformer

    transformer = make_transformer(args.model, memory=args.memory, **params)
    X, ok, failed = features_or_errors(
        transformer, list(data.filenames), desc=args.model, quiet=args.quiet
    )
    if failed:
        for i, reason in failed:
            print(f"train: cannot use {data.filenames[i]}: {reason}", file=sys.stderr)
        raise ValueError(
            f"{len(failed)} training file(s) could not be read (listed above); fix or "
            "remove them and train again."
        )
    y = np.asarray(data.target)
    estimator, grid = _classifier(args, data)
    search = GridSearchCV(estimator, grid, cv=data.cv, refit=True, error_score="raise")
    search.fit(X, y)
    best = clone(estimator).set_params(**search.best_params_)
    predicted = cross_val_predict(best, X, y, cv=data.cv)
    matrix = confusion_matrix(y, predicted, labels=np.arange(len(names)))
    if args.classifier == "svm" or args.calibrate:
        classifier = CalibratedClassifierCV(best, method="sigmoid", cv=data.cv)
        classifier.fit(X, y)
        probabilities = "Platt scaling (CalibratedClassifierCV, sigmoid)"
    else:
        classifier = search.best_estimator_
        probabilities = "softmax of the ELM's decision values"
    final = clone(transformer).set_params(memory=None, verbose=False)
    pipeline = Pipeline([("features", final), ("classifier", classifier)])
    best_params = {
        k: (v.item() if isinstance(v, np.generic) else v)
        for k, v in search.best_params_.items()
    }
    accuracy = float(search.best_score_)
    save_model_file(
        out,
        {
            "pipeline": pipeline,
            "classes": names,
            "params": {k: v for k, v in vars(args).items() if k != "func"},
            "transformer_params": final.get_params(),
            "best_params": best_params,
            "cv_accuracy": accuracy,
            "probabilities": probabilities,
            "command": "skaudio-random " + shlex.join(args.argv),
            "n_clips": len(y),
        },
    )
    print(
        f"{len(y)} clips, {len(names)} classes ({', '.join(names)}), model "
        f"{args.model} ({X.shape[1]} features), classifier {args.classifier}, "
        f"{data.cv.get_n_splits()}-fold CV\n"
        f"best grid point: {best_params}\n"
        f"CV accuracy (best grid point, mean over folds): {accuracy:.4f}\n"
        + _format_confusion(matrix, names)
        + f"\nprobabilities: {probabilities}\nmodel written to {out} in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


def predict_files(content: dict, paths, *, device=None, quiet=True):
    """Labels and probabilities of audio files from a loaded model file.

    Returns
    -------
    labels : list of str
        Class names, the argmax of each row of ``proba``.
    proba : ndarray of shape (n_ok, n_classes)
    ok, errors : as :func:`~skaudio_random._cli_extract.features_or_errors`
    """
    pipeline = content["pipeline"]
    features, classifier = pipeline[0], pipeline[-1]
    if device is not None and "device" in features.get_params():
        features.set_params(device=device)
    X, ok, errors = features_or_errors(features, paths, desc="predict", quiet=quiet)
    if len(ok) == 0:
        return [], np.empty((0, len(content["classes"]))), ok, errors
    proba = classifier.predict_proba(X)
    classes = list(content["classes"])
    # classes_ are the label ids 0..n-1 (load_audio_folder's coding)
    labels = [classes[int(classifier.classes_[k])] for k in proba.argmax(axis=1)]
    return labels, proba, ok, errors


def run_predict(args) -> int:
    """The ``predict`` command; returns the exit status."""
    content = load_model_file(args.model_file)
    files = collect_inputs(args.inputs)
    paths = [p for p, _ in files]
    labels, proba, ok, errors = predict_files(
        content, paths, device=args.device, quiet=args.quiet
    )
    classifier = content["pipeline"][-1]
    columns = [f"p_{content['classes'][int(c)]}" for c in classifier.classes_]
    rows = [
        [paths[i], label, *(f"{p:.6f}" for p in row)]
        for i, label, row in zip(ok, labels, proba, strict=True)
    ]
    stream = (
        open(args.output, "w", newline="", encoding="utf-8")
        if args.output
        else sys.stdout
    )
    try:
        writer = csv.writer(stream)
        writer.writerow(["path", "label", *columns])
        writer.writerows(rows)
    finally:
        if args.output:
            stream.close()
    for i, reason in errors:
        print(f"predict: cannot read {paths[i]}: {reason}", file=sys.stderr)
    return EXIT_SOME_FAILED if errors else 0


_TRAIN_DESCRIPTION = """\
Train a classifier on a folder of class subfolders (each subfolder is a class,
its audio files at any depth are the examples; any sample rate or channel
count). The features of every clip are computed once; the paper's grid
(32 SVM points, or 6 ELM sizes) is searched with stratified K-fold
cross-validation. Prints the CV accuracy of the best grid point and a confusion
matrix of cross-validated predictions, then writes one model file (joblib) with
the fitted pipeline (features + classifier), the class names, the package
version, every parameter and this command line.

Probabilities: the SVM is Platt-scaled (CalibratedClassifierCV, sigmoid, on the
same folds; predicted label = most probable class); the ELM gives the softmax of
its scores, or Platt-scaled probabilities with --calibrate."""

_PREDICT_DESCRIPTION = """\
Predict the class of audio files with a model file written by
`skaudio-random train`. Writes a CSV (to stdout or --output): path, predicted
label (the most probable class) and one probability column per class (p_NAME).
INPUTS are audio files, folders or .txt/.lst lists, as for `extract`. Files that
cannot be read are reported on stderr and the exit status is 3. Model files are
pickles: load only files you trust."""


def add_parsers(sub, common) -> None:
    """Register ``train`` and ``predict`` on the sub-parsers ``sub``."""
    fmt = argparse.RawDescriptionHelpFormatter
    tr = sub.add_parser(
        "train",
        help="train a classifier on a folder of class subfolders",
        description=_TRAIN_DESCRIPTION,
        epilog="example:\n  skaudio-random train my_sounds/ --model timbral_temporal "
        "--width 3500 --classifier svm --out sounds.joblib",
        formatter_class=fmt,
    )
    tr.add_argument("folder", help="folder holding one subfolder per class")
    tr.add_argument(
        "--model",
        default="timbral_temporal",
        metavar="MODEL",
        help=f"one of {builtin_model_names()} or an import path package.module:factory "
        "of your own network (it must stay importable for predict; default: "
        "timbral_temporal)",
    )
    tr.add_argument(
        "--classifier",
        default="svm",
        choices=("svm", "elm"),
        help="SVM (paper's 32-point grid) or ELM (6 sizes); default svm",
    )
    add_feature_options(tr, fix_length_default=None)
    tr.add_argument(
        "--n-splits", type=int, default=5, help="cross-validation folds (default: 5)"
    )
    tr.add_argument(
        "--calibrate",
        action="store_true",
        help="ELM: Platt-scaled probabilities instead of its softmax",
    )
    tr.add_argument("--memory", help="feature cache folder (default: none)")
    tr.add_argument(
        "--out",
        default="model.joblib",
        help="model file to write (default: model.joblib)",
    )
    common(tr)
    tr.set_defaults(func=run_train)

    pr = sub.add_parser(
        "predict",
        help="predict labels and class probabilities of audio files",
        description=_PREDICT_DESCRIPTION,
        epilog="example:\n  skaudio-random predict sounds.joblib new/*.wav "
        "--output predictions.csv",
        formatter_class=fmt,
    )
    pr.add_argument("model_file", metavar="MODEL", help="model file from `train`")
    pr.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio file, folder, or .txt/.lst list of paths",
    )
    pr.add_argument("--output", help="CSV file to write (default: stdout)")
    common(pr)
    pr.set_defaults(func=run_predict)
