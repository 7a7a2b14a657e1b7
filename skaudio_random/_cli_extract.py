"""``skaudio-random extract``: features of audio files written to disk.

Also holds what ``train`` and ``predict`` share with it: gathering input files
and computing features file by file so that unreadable files are reported, not
fatal.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from ._cli_options import add_scheduler_option
from ._names import builtin_model_names

__all__ = [
    "collect_inputs",
    "features_or_errors",
    "frames_or_errors",
    "add_parser",
    "EXIT_SOME_FAILED",
]

#: Exit status when some files could not be processed (the others were written).
EXIT_SOME_FAILED = 3
LIST_SUFFIXES = (".txt", ".lst")
_CHUNK = 32  # files per transform call; a failing chunk is redone file by file

_DESCRIPTION = """\
Compute the features of audio files with one or more models and write them to
--out. INPUTS are audio files, folders (searched recursively for audio files) or
text files (.txt, .lst) listing one audio path per line (relative paths are read
from the list's folder; blank lines and lines starting with # are skipped). Audio
of any sample rate and channel count is mixed to mono and resampled to 12 kHz.

--layout stacked (default) writes, per model, MODEL.npy (float32, one row per
file) and MODEL_features.txt (the feature names), plus index.csv (path, row,
duration in seconds, model) telling which file each row holds. --layout mirror
writes one NAME.npz per input file (one array per model) under a mirror of the
input tree, plus the same MODEL_features.txt files: NAME is the file's path
relative to the deepest folder holding every input (a/x.wav and b/x.wav stay
apart), and nothing is written outside --out. extract.json lists the files a
run wrote; a later run with other models or the other layout stops unless
--overwrite (which removes those files only).

Files that cannot be decoded or are too short for a model are listed in
errors.csv (path, model, reason); the others are written and the exit status is
3. Features are cached per clip (--memory, default OUT/cache): running the same
command again after an interruption computes only what is missing.

--window (and --hop) give frame-level features instead: each feature averaged
over windows of --window seconds every --hop seconds, starting at 0, the last
window reaching the end of the file (see skaudio_random.frames); rows are then
windows, and index.csv has their centre time in seconds."""

_EPILOG = """\
examples:
  skaudio-random extract song.wav --out feats
  skaudio-random extract music/ --models vgg timbral_temporal --width 3500 --out feats
  skaudio-random extract files.txt --layout mirror --device cuda --out feats
"""


def _audio_extensions() -> tuple[str, ...]:
    from .datasets._base import AUDIO_EXTENSIONS

    return AUDIO_EXTENSIONS


def _walk_audio(folder: Path, extensions) -> list[str]:
    """Audio files anywhere below ``folder``, sorted (hidden files and folders
    skipped; folder links followed, each real folder walked once, so a link
    back up the tree cannot loop)."""
    found, walked = [], set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in walked:
            dirnames[:] = []
            continue
        walked.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(
            os.path.join(dirpath, f)
            for f in filenames
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in extensions
        )
    return sorted(found)


def collect_inputs(inputs) -> list[tuple[str, str]]:
    """``(path, relative name)`` of every audio file named by ``inputs``.

    Folders are walked (sorted, hidden entries skipped); list files (``.txt``,
    ``.lst``, UTF-8 with or without a byte-order mark, any line endings) give
    one path per line, relative to the list's folder; other paths are audio
    files. Duplicates are kept once, in order.

    The relative name (the ``--layout mirror`` output name) is the file's path
    relative to the deepest folder holding every input: the folder arguments,
    the folders of the file arguments and of the list files, and the folders
    of every file found. One folder argument keeps its tree (``deep/x.wav``),
    two give ``a/x.wav`` and ``b/x.wav``; no name holds ``..``, and two files
    never get one name.

    Raises
    ------
    FileNotFoundError
        If an input or a listed path does not exist.
    ValueError
        If a folder holds no audio file, no input file is found at all, or the
        inputs share no folder (paths on different drives).
    """
    found: dict[str, None] = {}
    anchors: list[str] = []  # folders the names are relative to, at the least
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files = _walk_audio(path, _audio_extensions())
            if not files:
                raise ValueError(
                    f"folder {str(path)!r} holds no audio file (extensions "
                    f"{', '.join(_audio_extensions())})."
                )
            anchors.append(os.path.abspath(path))
            found.update(dict.fromkeys(os.path.abspath(f) for f in files))
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            anchors.append(os.path.abspath(path.parent))
            found.update(dict.fromkeys(_listed_files(path)))
        elif path.exists():
            found.setdefault(os.path.abspath(path), None)
        else:
            raise FileNotFoundError(f"input {str(path)!r} does not exist.")
    if not found:
        raise ValueError("no audio file found in the inputs.")
    try:
        root = os.path.commonpath(anchors + [os.path.dirname(f) for f in found])
    except ValueError:
        raise ValueError(
            "the inputs share no folder (different drives), so --layout mirror "
            "cannot name their outputs; extract them separately."
        ) from None
    return [(f, os.path.relpath(f, root)) for f in found]


def _listed_files(listing: Path) -> list[str]:
    """Absolute paths of the audio files a list file names (checked to exist)."""
    # utf-8-sig: lists written by Windows tools often start with a BOM
    lines = listing.read_text(encoding="utf-8-sig").splitlines()  # \r\n, \r, \n
    files = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        listed = Path(line).expanduser()
        if not listed.is_absolute():
            listed = listing.parent / listed
        if not listed.exists():
            raise FileNotFoundError(
                f"{listing}:{number}: listed audio file {str(listed)!r} does not exist."
            )
        files.append(os.path.abspath(listed))
    return files


def _duration(path: str) -> float:
    """Duration in seconds (decodes the file when libsndfile cannot tell).

    A pipe (``<(...)``) or device is read once here, into memory, and later
    decoded from those bytes (:func:`~skaudio_random.audio.stream_bytes`).
    """
    from .audio import _decode, audio_source

    source = audio_source(path)
    try:
        info = sf.info(source)
        if info.frames > 0:
            return info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    y, rate = _decode(path)
    return y.shape[0] / rate


def features_or_errors(
    transformer, paths, *, desc: str = "", quiet: bool = False, client=None
):
    """Features of ``paths``, isolating the files that fail.

    With a Dask ``client`` the files are featurized on its workers
    (:func:`~skaudio_random.distributed.transform_distributed`, through the
    transformer's ``memory``); if a file fails there, the files are redone here
    as below, the clips the workers stored in the cache being read back.

    Returns
    -------
    X : ndarray of shape (n_ok, n_features), float32
    ok : list of int
        Indices into ``paths`` of the rows of ``X``.
    errors : list of (int, str)
        Index and reason of each file that failed (decoding, length).
    """
    if client is not None and paths:
        from .distributed import transform_distributed

        try:
            X = transform_distributed(transformer, paths, client=client)
            return X, list(range(len(paths))), []
        except (OSError, ValueError, RuntimeError):
            pass  # find the failing files below
    rows, ok, errors = [], [], []
    with tqdm(total=len(paths), unit="file", desc=desc, disable=quiet) as bar:
        for start in range(0, len(paths), _CHUNK):
            chunk = list(range(start, min(start + _CHUNK, len(paths))))
            try:
                rows.append(transformer.transform([paths[i] for i in chunk]))
                ok += chunk
            except (OSError, ValueError, RuntimeError):
                for i in chunk:  # cached rows of the chunk are not recomputed
                    try:
                        rows.append(transformer.transform([paths[i]]))
                        ok.append(i)
                    except (OSError, ValueError, RuntimeError) as exc:
                        errors.append((i, f"{type(exc).__name__}: {exc}"))
            bar.update(len(chunk))
    n_features = len(transformer.get_feature_names_out())
    X = np.concatenate(rows) if rows else np.empty((0, n_features), np.float32)
    return X, ok, errors


def transformer_params(args) -> dict:
    """Transformer parameters of the shared command-line options."""
    params = {
        "width": args.width,
        "random_state": args.seed,
        "n_jobs": args.n_jobs,
        "device": args.device,
        "precision": args.precision,
        "fix_length": args.fix_length,
    }
    if args.n_frames is not None:
        params["n_frames"] = args.n_frames
    if args.n_samples is not None:
        params["n_samples"] = args.n_samples
    return params


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def _write_csv(path: Path, header, rows) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def frames_or_errors(transformer, paths, *, window, hop, desc="", quiet=False):
    """Frame-level features of ``paths``, one file at a time (lengths differ).

    Returns
    -------
    features : list of ndarray of shape (n_windows, n_features)
    times : list of ndarray of shape (n_windows,)
    ok, errors : as :func:`features_or_errors`
    """
    features, times, ok, errors = [], [], [], []
    for i, path in enumerate(tqdm(paths, unit="file", desc=desc, disable=quiet)):
        try:
            frames = transformer.transform_frames([path], window=window, hop=hop)
        except (OSError, ValueError, RuntimeError) as exc:
            errors.append((i, f"{type(exc).__name__}: {exc}"))
            continue
        features.append(frames.features[0])
        times.append(frames.times)
        ok.append(i)
    return features, times, ok, errors


def run_extract(args) -> int:
    """The ``extract`` command; returns the exit status."""
    if args.scheduler is None:
        return _extract(args, client=None)
    if args.window is not None:
        raise ValueError(
            "--scheduler applies to clip-level features; frame-level features "
            "(--window) are computed in this process: drop one of the two."
        )
    from .study._scheduler import study_client

    with study_client(args.scheduler) as client:
        return _extract(args, client=client)


#: What an extract run wrote into --out (see _earlier_outputs).
RECORD = "extract.json"


def _output_path(out: Path, name: str) -> Path:
    """``out / name``, checked to stay inside ``out`` (links resolved)."""
    target = out / name
    if not target.resolve().is_relative_to(out.resolve()):
        raise ValueError(
            f"output {name!r} would be written outside --out {out} (through '..' or "
            "a link); nothing is written there."
        )
    return target


def _models(specs, memory, params) -> dict:
    """Label -> (transformer, feature names) of ``--models``, every one built.

    A model named twice (``vgg vgg``, ``vgg VGG``) is computed once, with a
    note on stderr; registry and class names are labelled by the registry
    name. Two different models whose labels are equal, or differ only by case
    (their files would clash on a case-insensitive file system), are an error.
    Building here raises the memory estimate's ``MemoryError`` (and a user
    network's own errors) before anything is computed or written.
    """
    import functools

    from ._resolve import make_transformer, model_label
    from .network import resolve_model

    models: dict[str, tuple] = {}
    named: dict[str, tuple[object, list[str]]] = {}  # casefolded label -> model
    for spec in specs:
        resolved = resolve_model(spec)
        # file names: "pkg.nets:my_net" -> my_net; "VGG" -> vgg
        label = model_label(spec if ":" in spec else resolved)
        what = resolved.args if isinstance(resolved, functools.partial) else resolved
        key = label.casefold()
        if key in named:
            first = next(k for k in models if k.casefold() == key)
            if named[key][0] != what:
                clash = "are" if first == label else "differ only by case"
                raise ValueError(
                    f"--models names two models whose file names {clash}: "
                    f"{first!r} and {label!r} ({named[key][1][0]!r}, {spec!r}); "
                    "their files would clash (on case-insensitive file systems "
                    "too). Give one of them another name."
                )
            named[key][1].append(spec)
            continue
        named[key] = (what, [spec])
        est = make_transformer(spec, memory=memory, **params)
        if hasattr(est, "_prepare"):
            est._prepare()  # the memory estimate and the build, reused below
        models[label] = (est, est.get_feature_names_out())
    for label in models:
        specs_of = named[label.casefold()][1]
        if len(specs_of) > 1:
            print(
                f"extract: --models names {label} {len(specs_of)} times "
                f"({', '.join(specs_of)}); it is computed once.",
                file=sys.stderr,
            )
    return models


def _planned(layout: str, labels, names) -> set[str]:
    """The files of --out an extract run writes (``names``: mirror names)."""
    planned = {f"{m}_features.txt" for m in labels}
    if layout == "stacked":
        return planned | {f"{m}.npy" for m in labels} | {"index.csv"}
    return planned | {n + ".npz" for n in names}


def _read_record(out: Path) -> dict | None:
    import json

    try:
        record = json.loads((out / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no record (or a torn one): nothing is known to be ours
    ok = isinstance(record, dict) and isinstance(record.get("files"), list)
    return record if ok else None


def _earlier_outputs(out: Path, layout: str, labels, planned, overwrite) -> list:
    """The files of an earlier run to keep in the record, after removing stale ones.

    An earlier run's files (listed in ``out/extract.json``) that this run would
    not rewrite are stale when it had other models or the other layout: they
    would lie beside an ``index.csv`` that does not list them. They are an
    error unless ``overwrite``, which removes them (those listed and inside
    ``out`` only). A rerun with the same models and layout keeps them (mirror:
    the outputs of other inputs).
    """
    record = _read_record(out)
    if record is None:
        return []
    files = [f for f in record["files"] if isinstance(f, str)]
    same = record.get("layout") == layout and sorted(
        map(str, record.get("models", []))
    ) == sorted(labels)
    if same:
        return [f for f in files if f not in planned]
    stale = [f for f in files if f not in planned and (out / f).exists()]
    if stale and not overwrite:
        shown = ", ".join(stale[:5]) + (
            f" and {len(stale) - 5} more" if len(stale) > 5 else ""
        )
        raise ValueError(
            f"--out {out} holds the outputs of an earlier extract (layout "
            f"{record.get('layout')}, models {record.get('models')}) that this run "
            f"(layout {layout}, models {list(labels)}) would not replace: {shown}. "
            "Choose another --out, or pass --overwrite to remove them first (only "
            f"the files {RECORD} lists are removed)."
        )
    for name in stale:
        target = out / name
        parts = Path(name).parts
        inside = target.parent.resolve().is_relative_to(out.resolve())
        if Path(name).is_absolute() or ".." in parts or not inside:
            continue  # never a file outside --out, whatever the record says
        target.unlink(missing_ok=True)
        for parent in target.parents:  # mirror folders left empty
            if parent == out or not parent.is_relative_to(out):
                break
            with contextlib.suppress(OSError):
                parent.rmdir()
    return []


def _write_record(out: Path, layout: str, labels, files) -> None:
    import json

    record = {"layout": layout, "models": list(labels), "files": sorted(set(files))}
    tmp = _output_path(out, RECORD + ".part")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / RECORD)


def _check_mirror_names(files) -> None:
    """No two mirror outputs whose names differ only by case."""
    seen: dict[str, str] = {}
    for path, name in files:
        other = seen.setdefault(name.casefold(), path)
        if other != path:
            raise ValueError(
                f"--layout mirror: the outputs of {other!r} and {path!r} would have "
                "names that differ only by case, which clash on case-insensitive "
                "file systems; rename one, or use --layout stacked."
            )


def _extract(args, *, client) -> int:
    """``extract`` with its features computed here or on ``client``'s workers."""
    files = collect_inputs(args.inputs)
    out = Path(args.out)
    memory = None if args.no_cache else (args.memory or str(out / "cache"))
    params = transformer_params(args)
    frame_level = args.window is not None
    hop = None
    if frame_level:
        hop = args.hop if args.hop is not None else args.window / 2
    elif args.hop is not None:
        raise ValueError("--hop needs --window (frame-level features).")
    mirror = args.layout == "mirror"
    if mirror:
        _check_mirror_names(files)
    # every model is checked before anything is computed or written
    models = _models(args.models, memory, params)
    planned = _planned(args.layout, models, [n for _, n in files])
    kept = _earlier_outputs(out, args.layout, list(models), planned, args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    paths = [p for p, _ in files]

    errors: list[tuple[str, str, str]] = []
    durations: dict[int, float] = {}
    for i, path in enumerate(paths):
        try:
            durations[i] = _duration(path)
        except (OSError, ValueError, RuntimeError) as exc:
            errors.append((path, "", f"{type(exc).__name__}: {exc}"))
    readable = sorted(durations)
    todo = [paths[i] for i in readable]

    written: list[str] = []
    index_rows: list = []
    per_file: dict[int, dict] = {}
    for model, (est, names) in models.items():
        _output_path(out, f"{model}_features.txt").write_text(
            "\n".join(names) + "\n", encoding="utf-8"
        )
        written.append(f"{model}_features.txt")
        if frame_level:
            feats, times, ok, failed = frames_or_errors(
                est, todo, window=args.window, hop=hop, desc=model, quiet=args.quiet
            )
        else:
            X, ok, failed = features_or_errors(
                est, todo, desc=model, quiet=args.quiet, client=client
            )
            feats, times = list(X), [None] * len(ok)
        errors += [(todo[j], model, reason) for j, reason in failed]
        rows_of = [readable[j] for j in ok]
        if mirror:
            for i, f, t in zip(rows_of, feats, times, strict=True):
                arrays = per_file.setdefault(i, {})
                arrays[model] = f
                if t is not None:
                    arrays[f"{model}_times"] = t
            continue
        row = 0
        for i, t in zip(rows_of, times, strict=True):
            extra = [] if t is None else [f"{x:.6f}" for x in t]
            for k in range(len(extra) or 1):
                index_rows.append(
                    (paths[i], row, f"{durations[i]:.6f}", model, *extra[k : k + 1])
                )
                row += 1
        stacked = np.concatenate(feats) if frame_level and feats else np.asarray(feats)
        stacked = stacked.reshape(-1, len(names)).astype(np.float32, copy=False)
        _save_npy(_output_path(out, f"{model}.npy"), stacked)
        written.append(f"{model}.npy")
    if not mirror:
        header = ("path", "row", "duration", "model") + (
            ("time",) if frame_level else ()
        )
        _write_csv(_output_path(out, "index.csv"), header, index_rows)
        written.append("index.csv")
    else:
        for i, arrays in per_file.items():
            name = files[i][1] + ".npz"
            target = _output_path(out, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, target)
            written.append(name)
    _write_record(out, args.layout, models, kept + written)
    errors_path = _output_path(out, "errors.csv")
    if errors:
        _write_csv(errors_path, ("path", "model", "reason"), errors)
    elif errors_path.exists():
        errors_path.unlink()  # a stale list from an earlier run
    n_failed = len({p for p, _, _ in errors})
    print(
        f"extract: {len(paths) - n_failed} of {len(paths)} files written to {out}"
        + (f"; {n_failed} failed, see {errors_path}" if errors else ""),
        file=sys.stderr,
    )
    return EXIT_SOME_FAILED if errors else 0


def positive_seconds(text: str) -> float:
    """argparse ``type=`` of ``--window``/``--hop``: positive, finite seconds."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"expected a positive, finite number of seconds; got {text!r}"
        )
    return value


def add_feature_options(p, *, fix_length_default: str) -> None:
    """Options that choose and configure a model (shared with ``train``)."""
    p.add_argument(
        "--width",
        type=int,
        default=120,
        help="feature-vector length: the paper's 120 or 3500, or any other "
        "(default: 120; MFCC always has 120)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="random_state of the weights (default: 0)"
    )
    p.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "tf32", "bfloat16"),
        help="arithmetic of the network (default: float32)",
    )
    p.add_argument(
        "--fix-length",
        default=fix_length_default,
        choices=("none", "crop", "repeat", "zero"),
        help="length rule: 'none' keeps each clip whole; 'crop', 'repeat' and 'zero' "
        "bring clips to --n-frames/--n-samples (default: "
        + (fix_length_default or "'repeat', short clips tiled as in the paper")
        + ")",
    )
    p.add_argument(
        "--n-frames",
        type=int,
        help="spectrogram CNN input length in log-mel frames for --fix-length "
        "(default: the paper's 1376, 29 s)",
    )
    p.add_argument(
        "--n-samples",
        type=int,
        help="waveform CNN input length in samples for --fix-length (default: the "
        "paper's 350000, 29 s)",
    )


def add_parser(sub, common) -> None:
    """Register ``extract`` on the sub-parsers ``sub``."""
    import argparse

    p = sub.add_parser(
        "extract",
        help="write features of audio files (.npy + index, or .npz per file)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio file, folder, or .txt/.lst list of paths",
    )
    p.add_argument(
        "--out",
        default="skaudio_features",
        help="output folder (default: skaudio_features)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=["timbral_temporal"],
        metavar="MODEL",
        help=f"one or more of {builtin_model_names()} or import paths "
        "package.module:factory of your own networks (files are named by the "
        "factory's name; default: timbral_temporal)",
    )
    add_feature_options(p, fix_length_default="none")
    p.add_argument(
        "--layout",
        default="stacked",
        choices=("stacked", "mirror"),
        help="one .npy per model with index.csv (stacked, default), or "
        "one .npz per input file under a mirror of the input tree",
    )
    p.add_argument(
        "--window",
        type=positive_seconds,
        metavar="SECONDS",
        help="frame-level features: averages over windows of this length (one "
        "forward pass per file; rows are windows, index.csv gains their centre "
        "'time'; .npz files gain MODEL_times). Not cached.",
    )
    p.add_argument(
        "--hop",
        type=positive_seconds,
        metavar="SECONDS",
        help="spacing of the windows (default: half of --window)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="when --out holds the outputs of an earlier extract with other models "
        f"or the other layout, remove them (the files its {RECORD} lists) instead "
        "of stopping",
    )
    p.add_argument("--memory", help="feature cache folder (default: OUT/cache)")
    p.add_argument(
        "--no-cache", action="store_true", help="do not cache features (no resuming)"
    )
    add_scheduler_option(p, what="the features")
    common(p)
    p.set_defaults(func=run_extract)
