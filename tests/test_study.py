"""The study runner: protocols, outputs, resume, t-tests and figures."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.svm import SVC
from sklearn.utils import Bunch

import skaudio_random as sr
from skaudio_random import study
from skaudio_random._base import AudioFeatureTransformer
from skaudio_random._cnn_base import RandomCNNBase
from skaudio_random.architectures import ARCHITECTURES
from skaudio_random.study import (
    RESULT_COLUMNS,
    _protocol,
    _report,
    default_models,
    run_study,
)

CLASSES = ("low", "mid", "high")
FREQS = (220.0, 880.0, 2500.0)
PARAMS = {"n_frames": 24, "n_samples": 6000}  # 0.5 s inputs
MODELS = ["mfcc", "vertical_7x96", "sample_level"]


def write_tree(root: Path, n_per_class: int = 6, seed: int = 0) -> Path:
    """``root/<class>/clip<k>.wav``: 0.5 s tones at 8 kHz, one frequency per class."""
    rng = np.random.default_rng(seed)
    t = np.arange(4000) / 8000
    for name, f in zip(CLASSES, FREQS, strict=True):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(n_per_class):
            f_k = f * (1 + 0.05 * rng.standard_normal())
            y = 0.3 * np.sin(2 * np.pi * f_k * t) + 0.05 * rng.standard_normal(t.size)
            sf.write(root / name / f"clip{k}.wav", y.astype(np.float32), 8000)
    return root


def cv_bunch(root: Path) -> Bunch:
    data = sr.load_audio_folder(root, n_splits=3)
    assert data.protocol == "cv"
    return data


def validation_bunch(root: Path) -> Bunch:
    """Per class: 3 train, 2 validation, 1 test clip (a GTZAN-like protocol)."""
    files, y, test_files, test_y, fold = [], [], [], [], []
    for c, name in enumerate(CLASSES):
        clips = sorted(str(p) for p in (root / name).glob("*.wav"))
        for k, path in enumerate(clips):
            if k == 5:
                test_files.append(path)
                test_y.append(c)
            else:
                files.append(path)
                y.append(c)
                fold.append(-1 if k < 3 else 0)
    return Bunch(
        filenames=np.asarray(files),
        target=np.asarray(y),
        cv=PredefinedSplit(fold),
        test_filenames=np.asarray(test_files),
        test_target=np.asarray(test_y),
        target_names=list(CLASSES),
        fix_length="repeat",
        protocol="validation",
        name="tones_validation",
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("tones"))


@pytest.fixture(scope="module")
def cv_study(tree, tmp_path_factory):
    """One cv study (3 models, width 8, 2 runs, nested CV), counting computed clips."""
    out = tmp_path_factory.mktemp("cv_study")
    counts = {"clips": 0}
    mp = pytest.MonkeyPatch()
    for cls in (sr.MFCC, RandomCNNBase):
        original = cls._transform_clips

        def counting(self, clips, names, _original=original):
            counts["clips"] += len(clips)
            return _original(self, clips, names)

        mp.setattr(cls, "_transform_clips", counting)
    try:
        result = run_study(
            cv_bunch(tree),
            models=MODELS,
            widths=[8],
            runs=2,
            out=out,
            device="cpu",
            transformer_params=PARAMS,
            inner_splits=2,
            verbose=False,
        )
    finally:
        mp.undo()
    return result, counts["clips"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- #
# models
# --------------------------------------------------------------------------- #
def test_models_registry_and_defaults():
    assert list(study.MODELS) == [*ARCHITECTURES, "mfcc"]
    for name, cls in study.MODELS.items():
        assert name == "mfcc" or cls._architecture == name
    music, sound = default_models("gtzan"), default_models("urbansound8k")
    assert music[-1] == sound[-1] == "mfcc"
    assert (
        "temporal" in music
        and "timbral_temporal" in music
        and "timbral_time" not in music
    )
    assert "timbral_time" in sound and "temporal" not in sound
    assert default_models("esc50") == sound
    assert default_models("my_folder") == default_models("extended_ballroom") == music
    assert len(music) == 10 and len(sound) == 9
    assert set(music) | set(sound) <= set(study.MODELS)


# --------------------------------------------------------------------------- #
# the cv protocol
# --------------------------------------------------------------------------- #
def test_cv_study_writes_every_output(cv_study):
    result, _ = cv_study
    out = result.out
    for name in (
        "results.csv",
        "results.md",
        "summary.csv",
        "ttests.csv",
        "figure_width8.png",
        "study.json",
    ):
        assert (out / name).is_file(), name
    assert (out / "features" / "skaudio_random_features").is_dir()
    assert set(result.files) >= {
        "results.csv",
        "results.md",
        "summary.csv",
        "ttests.csv",
        "figure_width8.png",
    }
    assert (out / "figure_width8.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with open(out / "results.csv", newline="") as f:
        assert next(csv.reader(f)) == list(RESULT_COLUMNS)
    rows = read_csv(out / "results.csv")
    # (MFCC + 2 CNNs) x 2 classifiers x 2 runs
    assert len(rows) == len(result.rows) == 12
    keys = {(r["model"], r["width"], r["classifier"], r["run"]) for r in rows}
    assert len(keys) == 12
    for r in rows:
        assert r["dataset"] == "audio_folder" and r["protocol"] == "cv"
        assert r["score_kind"] == "best_cv"
        assert 0 <= float(r["score"]) <= 1
        assert 0 <= float(r["nested_score"]) <= 1
        assert float(r["selection_score"]) == float(r["score"])
        params = json.loads(r["best_params"])
        if r["classifier"] == "svm":
            assert params["kernel"] in ("rbf", "linear") and params["C"] in (
                0.1,
                2,
                8,
                32,
            )
        else:
            assert set(params) == {"n_hidden"}
        assert len(json.loads(r["nested_params"])) == 3  # one choice per outer fold
        assert r["version"] == sr.__version__ and r["device"] == "cpu"
        assert r["width"] == ("" if r["model"] == "mfcc" else "8")
    n_features = {r["model"]: int(r["n_features"]) for r in rows}
    assert n_features == {"mfcc": 120, "vertical_7x96": 8, "sample_level": 7}


def test_cv_study_separates_the_tones(cv_study):
    result, _ = cv_study
    mfcc_svm = next(
        s for s in result.summary if s["model"] == "mfcc" and s["classifier"] == "svm"
    )
    assert mfcc_svm["mean"] > 0.8  # three well separated tones, chance is 1/3


def test_each_clip_is_computed_once_per_model_width_and_seed(cv_study):
    result, n_clips = cv_study
    # 18 clips: MFCC once (seed-independent, its later runs come from the cache),
    # each CNN once per run
    assert n_clips == 18 * (1 + 2 * 2)


def test_mfcc_svm_is_computed_once(cv_study):
    result, _ = cv_study
    runs = sorted(
        (r for r in result.rows if r["model"] == "mfcc" and r["classifier"] == "svm"),
        key=lambda r: r["run"],
    )
    assert [r["run"] for r in runs] == [0, 1]
    assert runs[0]["score"] == runs[1]["score"]
    assert runs[1]["note"].startswith("copied from run 0")
    elm = [r for r in result.rows if r["model"] == "mfcc" and r["classifier"] == "elm"]
    assert not any(r["note"] for r in elm)  # the ELM depends on the seed: computed


def test_cv_score_is_gridsearch_best_score(cv_study, tree):
    """The reported number is GridSearchCV(SVC(), grid, cv=data.cv).best_score_."""
    result, _ = cv_study
    data = cv_bunch(tree)
    cnn = sr.Vertical7x96(
        width=8,
        random_state=1,
        fix_length="repeat",
        n_frames=24,
        device="cpu",
        memory=result.out / "features",
    )
    X = cnn.transform(data.filenames).astype(np.float64)
    search = GridSearchCV(SVC(), sr.paper_svm_grid(), cv=data.cv).fit(X, data.target)
    row = next(
        r
        for r in result.rows
        if r["model"] == "vertical_7x96" and r["classifier"] == "svm" and r["run"] == 1
    )
    assert row["score"] == pytest.approx(search.best_score_)
    assert json.loads(row["best_params"]) == {
        k: v for k, v in sorted(search.best_params_.items())
    }


def test_summary_and_report(cv_study):
    result, _ = cv_study
    s = {(x["model"], x["classifier"]): x for x in result.summary}
    assert len(s) == 6
    vert = s[("vertical_7x96", "elm")]
    scores = [
        r["score"]
        for r in result.rows
        if r["model"] == "vertical_7x96" and r["classifier"] == "elm"
    ]
    assert vert["n_runs"] == 2
    assert vert["mean"] == pytest.approx(np.mean(scores))
    assert vert["std"] == pytest.approx(np.std(scores, ddof=1))
    assert s[("mfcc", "svm")]["std"] == 0.0
    assert vert["paper"] is None  # not one of the paper's datasets
    text = (result.out / "results.md").read_text()
    assert text == result.report
    assert "## Width ≈8" in text and "MFCC (baseline)" in text
    assert "nested CV (honest)" in text and "best mean CV accuracy (paper)" in text
    assert "figure_width8.png" in text and "## Two-sample t-tests" in text
    assert text.count("**") >= 4 * 2  # one bold best per column (4 columns)
    assert f"{100 * vert['mean']:.2f} ± {100 * vert['std']:.2f}" in text
    summary = read_csv(result.out / "summary.csv")
    assert len(summary) == 6


def test_ttests_file(cv_study):
    result, _ = cv_study
    rows = read_csv(result.out / "ttests.csv")
    # per classifier and metric: each CNN vs MFCC (no paper pair among these models)
    assert len(rows) == len(result.ttests) == 2 * 2 * 2
    pairs = {(r["model_a"], r["model_b"]) for r in rows}
    assert pairs == {("vertical_7x96", "mfcc"), ("sample_level", "mfcc")}
    assert {r["metric"] for r in rows} == {"score", "nested_score"}


# --------------------------------------------------------------------------- #
# resume
# --------------------------------------------------------------------------- #
def test_resume_recomputes_only_missing_rows(cv_study, tree, tmp_path, monkeypatch):
    result, _ = cv_study
    out = tmp_path / "resumed"
    out.mkdir()
    for name in ("results.csv", "study.json"):
        (out / name).write_bytes((result.out / name).read_bytes())
    lines = (out / "results.csv").read_text().splitlines(keepends=True)
    # drop the last two finished rows (sample_level, run 1) and leave a torn line,
    # as a kill in the middle of a write would
    kept = lines[:-2]
    (out / "results.csv").write_text("".join(kept) + lines[-1][:25])

    evaluated, transformed = [], []
    real_evaluate = _protocol.evaluate

    def evaluate(*args, **kwargs):
        evaluated.append(1)
        return real_evaluate(*args, **kwargs)

    real_transform = AudioFeatureTransformer.transform

    def transform(self, X):
        transformed.append(type(self).__name__)
        return real_transform(self, X)

    monkeypatch.setattr(_protocol, "evaluate", evaluate)
    monkeypatch.setattr(AudioFeatureTransformer, "transform", transform)
    with pytest.warns(UserWarning, match=r"results.csv: dropped 1 unreadable"):
        again = run_study(
            cv_bunch(tree),
            models=MODELS,
            widths=[8],
            runs=2,
            out=out,
            device="cpu",
            memory=result.out / "features",
            transformer_params=PARAMS,
            inner_splits=2,
            verbose=False,
            search_jobs=1,  # the monkeypatched counters live in this process
        )
    assert len(evaluated) == 2 and transformed == ["SampleLevel"]
    assert again.n_computed == 2 and again.n_reused == 10
    rows = read_csv(out / "results.csv")
    assert len(rows) == 12
    assert (out / "results.csv").read_text().endswith("\n")
    old = {
        (r["model"], r["classifier"], r["run"]): r["score"]
        for r in read_csv(result.out / "results.csv")
    }
    new = {(r["model"], r["classifier"], r["run"]): r["score"] for r in rows}
    assert new == old  # same seeds, cached features: same numbers

    # nothing left to do: no features, no fits
    evaluated.clear()
    transformed.clear()
    third = run_study(
        cv_bunch(tree),
        models=MODELS,
        widths=[8],
        runs=2,
        out=out,
        device="cpu",
        memory=result.out / "features",
        transformer_params=PARAMS,
        inner_splits=2,
        verbose=False,
        search_jobs=1,
    )
    assert evaluated == [] and transformed == [] and third.n_computed == 0


def test_resume_refuses_another_study(cv_study, tree, tmp_path):
    result, _ = cv_study
    out = tmp_path / "other"
    out.mkdir()
    for name in ("results.csv", "study.json"):
        (out / name).write_bytes((result.out / name).read_bytes())
    with pytest.raises(ValueError, match=r"holds results of another study.*n_frames"):
        run_study(
            cv_bunch(tree),
            models=["vertical_7x96"],
            widths=[8],
            runs=1,
            out=out,
            transformer_params={"n_frames": 30},
            verbose=False,
        )


# --------------------------------------------------------------------------- #
# the validation protocol
# --------------------------------------------------------------------------- #
def test_validation_protocol(tree, tmp_path):
    data = validation_bunch(tree)
    result = run_study(
        data,
        models=["mfcc", "vertical_7x86"],
        widths=[8],
        runs=2,
        out=tmp_path,
        device="cpu",
        transformer_params=PARAMS,
        verbose=False,
        search_jobs=1,
    )
    assert len(result.rows) == 2 * 2 * 2
    for r in result.rows:
        assert r["score_kind"] == "test" and r["protocol"] == "validation"
        assert math.isnan(r["nested_score"])
        assert (r["n_train"], r["n_test"]) == (9, 3)
        assert 0 <= r["selection_score"] <= 1

    # the paper's GTZAN protocol by hand: select on validation, refit on train only
    X_all = (
        sr.MFCC(fix_length="repeat")
        .transform(list(data.filenames) + list(data.test_filenames))
        .astype(np.float64)
    )
    X, X_test = X_all[:15], X_all[15:]
    search = GridSearchCV(SVC(), sr.paper_svm_grid(), cv=data.cv, refit=False)
    search.fit(X, data.target)
    train = data.cv.test_fold == -1
    svm = SVC(**search.best_params_).fit(X[train], data.target[train])
    row = next(
        r for r in result.rows if r["model"] == "mfcc" and r["classifier"] == "svm"
    )
    assert row["selection_score"] == pytest.approx(search.best_score_)
    assert row["score"] == pytest.approx(svm.score(X_test, data.test_target))

    text = result.report
    assert "test accuracy" in text and "nested" not in text.split("## Width")[1]
    assert (tmp_path / "figure_width8.png").is_file()


# --------------------------------------------------------------------------- #
# t-tests and paper numbers
# --------------------------------------------------------------------------- #
def _row(model, clf, run, score, width=120):
    return {
        "model": model,
        "width": None if model == "mfcc" else width,
        "classifier": clf,
        "run": run,
        "score": score,
        "nested_score": math.nan,
    }


def test_ttests_pairs_and_values():
    from scipy.stats import ttest_ind

    a, b, m = [0.60, 0.62, 0.61], [0.50, 0.55, 0.52], [0.55, 0.55, 0.55]
    rows = [_row("sample_level", "svm", k, v) for k, v in enumerate(a)]
    rows += [_row("frame_level_many_shapes", "svm", k, v) for k, v in enumerate(b)]
    rows += [_row("mfcc", "svm", k, v) for k, v in enumerate(m)]
    rows += [_row("vgg", "svm", 0, 0.5)]
    models = ["sample_level", "frame_level_many_shapes", "vgg", "mfcc"]
    tests = _report.ttests(rows, models, [120], ["svm"])
    pairs = {(t["model_a"], t["model_b"]): t for t in tests}
    assert set(pairs) == {
        ("sample_level", "frame_level_many_shapes"),
        ("sample_level", "mfcc"),
        ("frame_level_many_shapes", "mfcc"),
        ("vgg", "mfcc"),
    }
    t = pairs[("sample_level", "frame_level_many_shapes")]
    ref = ttest_ind(a, b)
    assert t["t"] == pytest.approx(ref.statistic) and t["p"] == pytest.approx(
        ref.pvalue
    )
    assert t["note"] == "sample_level better (p < 0.05)"
    assert pairs[("vgg", "mfcc")]["note"] == "n<2: no test possible"
    assert math.isnan(pairs[("vgg", "mfcc")]["p"])


def test_paper_numbers():
    assert _report.paper_number("gtzan", "validation", "vgg", 3500, "svm") == 59.6
    assert (
        _report.paper_number("extended_ballroom", "cv", "temporal", 3500, "elm") == 89.9
    )
    assert _report.paper_number("urbansound8k", "cv", "mfcc", 120, "svm") == 65.6
    assert _report.paper_number("urbansound8k", "cv", "mfcc", 120, "elm") is None
    assert _report.paper_number("gtzan", "validation", "vgg", 120, "svm") is None
    assert (
        _report.paper_number("gtzan", "cv", "vgg", 3500, "svm") is None
    )  # split="all"
    assert _report.paper_number("urbansound8k", "cv", "temporal", 3500, "svm") is None
    assert _report.paper_number("audio_folder", "cv", "vgg", 3500, "svm") is None


def test_figures_are_skipped_without_matplotlib(tree, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.warns(UserWarning, match="matplotlib is not installed"):
        result = run_study(
            cv_bunch(tree),
            models=["mfcc"],
            widths=[8],
            runs=1,
            classifiers=["svm"],
            nested=False,
            out=tmp_path,
            verbose=False,
            search_jobs=1,
        )
    assert not list(tmp_path.glob("*.png")) and "results.md" in result.files


# --------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"models": ["vgg", "resnet"]}, r"unknown models \['resnet'\]; choose from"),
        ({"models": []}, "models must not be empty"),
        ({"models": ["vgg", "vgg"]}, "duplicates"),
        ({"classifiers": ["knn"]}, r"unknown classifiers \['knn'\]"),
        ({"widths": [120, 0]}, "widths must be positive ints"),
        ({"runs": 0}, "'runs' parameter of run_study must be an int in the range"),
        ({"transformer_params": {"n_frame": 10}}, r"\['n_frame'\] is not a parameter"),
        (
            {"transformer_params": {"vgg": 3}},
            r"transformer_params\['vgg'\] must be a dict",
        ),
        ({"svm_params": {"C": 3}}, r"svm_params \['C'\] cannot be set"),
    ],
)
def test_bad_arguments(tree, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_study(cv_bunch(tree), out=tmp_path, verbose=False, **kwargs)


def test_nested_cv_needs_enough_clips_per_class(tree, tmp_path):
    with pytest.raises(ValueError, match=r"only 4 clip\(s\) of some class, fewer than"):
        run_study(
            cv_bunch(tree),
            models=["mfcc"],
            widths=[8],
            runs=1,
            out=tmp_path,
            classifiers=["svm"],
            inner_splits=5,
            verbose=False,
        )


def test_svm_params_reach_the_svc():
    for fast in (True, False):
        est, grid = _protocol.classifier("svm", 0, fast, "cpu", {"max_iter": 7})
        svc = est.named_steps["svm"]
        svc = svc.named_steps["svc"] if fast else svc
        assert svc.max_iter == 7
        assert len(grid) == 8  # the paper's grid, untouched


def test_bad_data(tree, tmp_path):
    data = cv_bunch(tree)
    del data["protocol"]
    with pytest.raises(ValueError, match=r"lacks \['protocol'\]"):
        run_study(data, out=tmp_path, verbose=False)
    data = validation_bunch(tree)
    del data["test_filenames"]
    with pytest.raises(ValueError, match="needs data.test_filenames"):
        run_study(data, out=tmp_path, verbose=False)
    data = cv_bunch(tree)
    data.protocol = "holdout"
    with pytest.raises(ValueError, match="'validation' or 'cv'; got 'holdout'"):
        run_study(data, out=tmp_path, verbose=False)


# --------------------------------------------------------------------------- #
# the identity of a study, the lock and damaged files
# --------------------------------------------------------------------------- #
def quick_study(data, out, **kwargs):
    """MFCC + SVM, one run, no nested CV, no figures: a study in about a second.

    Its searches run in this process: worker processes (the default on the CPU)
    cost seconds to start per study; cv_study and the search_jobs test use them.
    """
    kw = dict(
        models=["mfcc"],
        widths=[8],
        runs=1,
        classifiers=["svm"],
        nested=False,
        figures=False,
        device="cpu",
        verbose=False,
        search_jobs=1,
    )
    return run_study(data, out=out, **{**kw, **kwargs})


def test_resume_refuses_other_clips_with_the_same_count(tmp_path):
    first = write_tree(tmp_path / "first", seed=0)
    second = write_tree(tmp_path / "second", seed=1)
    out = tmp_path / "out"
    quick_study(cv_bunch(first), out)
    # same dataset name, clip count and settings: only the audio differs
    with pytest.raises(
        ValueError,
        match=r"clips changed \(18 files new: second/high/clip0.wav, .*18 files gone",
    ) as exc:
        quick_study(cv_bunch(second), out)
    assert "restart=True" in str(exc.value) and "features" in str(exc.value)
    fresh = quick_study(cv_bunch(second), out, restart=True)
    alone = quick_study(cv_bunch(second), tmp_path / "alone")
    assert fresh.n_reused == 0 and fresh.rows[0]["score"] == alone.rows[0]["score"]

    # the same paths with new content in three of them
    for k in range(3):
        path = second / "low" / f"clip{k}.wav"
        sf.write(path, np.zeros(4000, np.float32) + 0.01 * k, 8000)
    with pytest.raises(
        ValueError, match=r"3 files with other content: low/clip0.wav, low/clip1"
    ):
        quick_study(cv_bunch(second), out)


def test_resume_refuses_other_folds_and_targets(tree, tmp_path):
    out = tmp_path / "out"
    quick_study(cv_bunch(tree), out)
    assert quick_study(cv_bunch(tree), out).n_reused == 1  # same study: resumed
    two = sr.load_audio_folder(tree, n_splits=2)
    with pytest.raises(ValueError, match=r"folds changed: n_splits 3 -> 2"):
        quick_study(two, out)
    relabelled = cv_bunch(tree)
    relabelled.target = relabelled.target.copy()
    relabelled.target[:2] = relabelled.target[:2][::-1] + 1
    with pytest.raises(ValueError, match=r"targets changed \(2 labels differ\)"):
        quick_study(relabelled, out)
    with pytest.raises(ValueError, match=r"svm_params: None -> \{'max_iter': 50\}"):
        quick_study(cv_bunch(tree), out, svm_params={"max_iter": 50})
    with pytest.raises(ValueError, match=r"nested: False -> True"):
        quick_study(cv_bunch(tree), out, nested=True, inner_splits=2)


def test_restart_discards_results_and_keeps_features(tree, tmp_path, monkeypatch):
    out = tmp_path / "out"
    quick_study(cv_bunch(tree), out, figures=True)
    features = sorted((out / "features").rglob("*"))
    assert features and (out / "figure_width8.png").exists()
    computed = []
    real = sr.MFCC._transform_clips

    def counting(self, clips, names):
        computed.append(len(clips))
        return real(self, clips, names)

    monkeypatch.setattr(sr.MFCC, "_transform_clips", counting)
    two = sr.load_audio_folder(tree, n_splits=2)
    again = quick_study(two, out, restart=True)
    assert again.n_reused == 0 and again.n_computed == 1
    assert computed == []  # every clip's features came from the cache
    assert sorted((out / "features").rglob("*")) == features
    assert not (out / "figure_width8.png").exists()  # the old study's figure
    (row,) = read_csv(out / "results.csv")
    assert json.loads((out / "study.json").read_text())["folds"]["n_splits"] == 2
    assert float(row["score"]) == again.rows[0]["score"]


def test_resume_is_deprecated(tree, tmp_path):
    with pytest.warns(FutureWarning, match="use restart"):
        quick_study(cv_bunch(tree), tmp_path, resume=False)


def test_a_second_study_into_the_same_folder_stops_at_once(tree, tmp_path):
    from filelock import FileLock

    out = tmp_path / "out"
    out.mkdir()
    with FileLock(out / "study.lock"):  # as a running study holds it
        with pytest.raises(BlockingIOError, match="another study is writing") as exc:
            quick_study(cv_bunch(tree), out)
    assert str(out) in str(exc.value) and "study.lock" in str(exc.value)
    assert not (out / "results.csv").exists()
    assert quick_study(cv_bunch(tree), out).n_computed == 1  # released: runs


def test_two_processes_do_not_share_a_folder(tree, tmp_path):
    import subprocess
    import textwrap

    out = tmp_path / "out"
    out.mkdir()
    holder = textwrap.dedent(
        f"""
        import sys, time
        from filelock import FileLock
        with FileLock({str(out / "study.lock")!r}):
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(BlockingIOError, match="study.lock"):
            quick_study(cv_bunch(tree), out)
    finally:
        proc.communicate("\n", timeout=30)


@pytest.mark.parametrize("content", ["", "dataset,model,wid"])
def test_empty_or_torn_header_results_csv_resumes(tree, tmp_path, content):
    out = tmp_path / "out"
    quick_study(cv_bunch(tree), out)
    (out / "results.csv").write_text(content)  # a kill before the first row
    if content:
        with pytest.warns(UserWarning, match=r"results.csv: dropped a torn header"):
            result = quick_study(cv_bunch(tree), out)
    else:  # nothing was lost: no warning
        result = quick_study(cv_bunch(tree), out)
    assert result.n_computed == 1 and len(read_csv(out / "results.csv")) == 1


def test_torn_last_line_is_dropped_with_a_warning(tree, tmp_path):
    out = tmp_path / "out"
    quick_study(cv_bunch(tree), out, classifiers=["svm", "elm"])
    text = (out / "results.csv").read_text()
    (out / "results.csv").write_text(text[: len(text) - 40])  # the ELM row, torn
    with pytest.warns(UserWarning, match=r"results.csv: dropped 1 .*line 3"):
        result = quick_study(cv_bunch(tree), out, classifiers=["svm", "elm"])
    assert result.n_reused == 1 and result.n_computed == 1
    assert [r["classifier"] for r in read_csv(out / "results.csv")] == ["svm", "elm"]


def test_duplicate_rows_are_dropped(tree, tmp_path):
    out = tmp_path / "out"
    quick_study(cv_bunch(tree), out)
    lines = (out / "results.csv").read_text().splitlines(keepends=True)
    (out / "results.csv").write_text("".join(lines + lines[1:]))
    with pytest.warns(UserWarning, match=r"line 3 \(a duplicate\)"):
        result = quick_study(cv_bunch(tree), out)
    assert result.n_reused == 1 and len(read_csv(out / "results.csv")) == 1


@pytest.mark.parametrize(
    "content, problem",
    [("", "is empty"), ('{"dataset": "a', "is not JSON"), ("[]", "list")],
)
def test_damaged_study_json(tree, tmp_path, content, problem):
    out = tmp_path / "out"
    quick_study(cv_bunch(tree), out)
    (out / "study.json").write_text(content)
    with pytest.raises(ValueError, match=problem) as exc:
        quick_study(cv_bunch(tree), out)
    text = str(exc.value)
    assert str(out / "study.json") in text and "1 rows of" in text
    assert "restart=True" in text and "cached features" in text
    assert quick_study(cv_bunch(tree), out, restart=True).n_computed == 1
    # without finished rows nothing is lost: the file is written again
    (out / "study.json").write_text(content)
    (out / "results.csv").write_text("")
    assert quick_study(cv_bunch(tree), out).n_computed == 1


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"dataset,model,score\ngtzan,vgg,0.5\n", "another version of skaudio_random"),
        (b"\xff\xfe\x00\x81 binary", "not a text file written by skaudio_random"),
    ],
)
def test_results_of_another_version(tree, tmp_path, content, problem):
    out = tmp_path / "out"
    quick_study(cv_bunch(tree), out)
    (out / "results.csv").write_bytes(content)
    with pytest.raises(ValueError, match=problem) as exc:
        quick_study(cv_bunch(tree), out)
    assert str(out / "results.csv") in str(exc.value)
    assert "restart=True" in str(exc.value) and "cached features" in str(exc.value)


# --------------------------------------------------------------------------- #
# published frame-level numbers beside per-filter runs
# --------------------------------------------------------------------------- #
def _summary_row(model, averaging):
    params = {} if averaging is None else {"backend_averaging": averaging}
    return {
        "dataset": "gtzan",
        "protocol": "validation",
        "model": model,
        "width": 3500,
        "n_features": 3584,
        "classifier": "svm",
        "run": 0,
        "score": 0.4,
        "score_kind": "test",
        "nested_score": math.nan,
        "selection_score": 0.4,
        "feature_seconds": 1.0,
        "fit_seconds": 1.0,
        "transformer_params": json.dumps(params),
    }


@pytest.mark.parametrize(
    "averaging, marked", [("per_filter", True), (None, True), ("collapsed", False)]
)
def test_paper_frame_level_numbers_are_marked_beside_per_filter_runs(averaging, marked):
    rows = [_summary_row("frame_level", averaging), _summary_row("vgg", None)]
    models = ["frame_level", "vgg"]
    summary = _report.summarise(rows, models, [3500], ["svm"])
    text = _report.markdown_report(
        info={"dataset": "gtzan", "protocol": "validation", "facts": {}},
        summary=summary,
        tests=[],
        widths=[3500],
        classifiers=["svm"],
        figures={},
    )
    assert ("| 39.9† |" in text) is marked and ("| 39.9 |" in text) is not marked
    assert "| 59.6 |" in text  # VGG's number is comparable
    assert ("† Not comparable" in text) is marked
    if marked:
        assert "backend_averaging='per_filter'" in text and "SPEC §9" in text


def test_rows_record_the_backend_averaging(tree, tmp_path):
    result = quick_study(
        cv_bunch(tree),
        tmp_path,
        models=["frame_level"],
        transformer_params={"n_samples": 6000},
    )
    used = json.loads(result.rows[0]["transformer_params"])
    assert used["backend_averaging"] == "per_filter"


# the study's grid searches against GridSearchCV
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def digit_features(tmp_path_factory):
    """MFCC and VGG (width 120, 1 s inputs) of half the shipped spoken digits."""
    data = sr.datasets.load_spoken_digits()
    keep = np.arange(0, len(data.target), 2)  # 150 clips keep the test short
    for k in ("filenames", "target", "groups"):
        data[k] = data[k][keep]
    memory = tmp_path_factory.mktemp("digit_features")
    mfcc = sr.MFCC(fix_length="repeat", memory=memory, verbose=False)
    vgg = sr.VGG(
        width=120,
        random_state=1,
        fix_length="repeat",
        n_frames=47,
        device="cpu",
        memory=memory,
        verbose=False,
    )
    X = {
        "mfcc": mfcc.transform(data.filenames).astype(np.float64),
        "vgg": vgg.transform(data.filenames).astype(np.float64),
    }
    return data, X


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored")
@pytest.mark.parametrize("features", ["mfcc", "vgg"])
@pytest.mark.parametrize("clf", ["svm", "elm"])
def test_study_search_selects_and_scores_as_gridsearchcv(digit_features, features, clf):
    from skaudio_random.kernels import clear_kernel_cache
    from skaudio_random.study import _search

    data, X = digit_features
    X, y = X[features], np.asarray(data.target)
    est, grid = _protocol.classifier(clf, 1, True, "cpu", {})
    splits = list(data.cv.split(X, y, data.groups))
    clear_kernel_cache()
    ref = GridSearchCV(est, grid, cv=data.cv, refit=False).fit(X, y)
    clear_kernel_cache()
    params, score = _search.grid_search(est, grid, X, y, splits)
    assert params == ref.best_params_
    assert score == ref.best_score_  # bitwise
    # a nested fold: inner search, refit on the outer training fold, test score
    train, test = splits[0]
    inner, _ = _protocol._inner_cv(data, 3, None)
    ref = GridSearchCV(est, grid, cv=inner, refit=True).fit(X[train], y[train])
    inner_splits = list(inner.split(X[train], y[train]))
    params, score = _search.grid_search(est, grid, X[train], y[train], inner_splits)
    assert params == ref.best_params_ and score == ref.best_score_
    assert _search.refit_score(
        est, params, X[train], y[train], X[test], y[test]
    ) == ref.score(X[test], y[test])


def test_study_search_refuses_non_finite_features():
    from skaudio_random.study import _search

    X = np.ones((4, 2))
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        _search.check_finite(X)


def test_searches_in_worker_processes_give_the_same_rows_in_the_same_order(
    tree, tmp_path, monkeypatch
):
    import threading

    import torch
    from threadpoolctl import threadpool_limits

    from skaudio_random.study import _runner

    where = []
    search_row = _runner._search_row

    def spy(*args, **kwargs):  # runs in this process only in the threads mode
        where.append(threading.current_thread() is threading.main_thread())
        return search_row(*args, **kwargs)

    monkeypatch.setattr(_runner, "_search_row", spy)
    rows = {}
    for jobs in (1, 2, "threads"):
        # "threads": one thread per library call, so the searches run in threads
        single = jobs == "threads"
        where.clear()
        saved = torch.get_num_threads()
        limits = threadpool_limits(1 if single else None)
        if single:
            torch.set_num_threads(1)
        try:
            run_study(
                cv_bunch(tree),
                models=["mfcc", "vertical_7x96"],
                widths=[8],
                runs=2,
                out=tmp_path / f"jobs{jobs}",
                memory=tmp_path / "features",
                device="cpu",
                transformer_params=PARAMS,
                inner_splits=2,
                figures=False,
                verbose=False,
                search_jobs=2 if single else jobs,
            )
        finally:
            limits.restore_original_limits()
            torch.set_num_threads(saved)
        if jobs == 1:
            assert where == [True] * 7  # 8 rows, one copied (seed-independent)
        if single:
            assert where == [False] * 7  # in this process, not its main thread
        rows[jobs] = [
            {
                k: r[k]
                for k in (
                    "model",
                    "classifier",
                    "run",
                    "score",
                    "best_params",
                    "nested_score",
                    "nested_params",
                    "note",
                )
            }
            for r in read_csv(tmp_path / f"jobs{jobs}" / "results.csv")
        ]
    assert len(rows[1]) == 8
    assert rows[2] == rows[1]
    assert rows["threads"] == rows[1]


@pytest.mark.parametrize("n_classes", [2, 5])
@pytest.mark.parametrize(
    "params",
    [
        {"C": 0.1},
        {"C": 100},
        {"C": 1, "class_weight": "balanced", "random_state": 3},
        {"C": 10, "tol": 1e-5, "shrinking": False},
    ],
)
def test_direct_libsvm_path_predicts_as_svc(n_classes, params):
    """The search's libsvm calls give bitwise SVC.fit(...).predict(...)."""
    from sklearn.metrics.pairwise import rbf_kernel

    from skaudio_random.study import _search

    rng = np.random.default_rng(n_classes)
    X = rng.standard_normal((90, 12))
    y = np.array(["b", "a", "c", "e", "d"][:n_classes])[rng.integers(0, n_classes, 90)]
    X[y == "a"] += 0.7  # some structure, some errors
    K = rbf_kernel(X, gamma=0.05)
    train, test = np.arange(60), np.arange(60, 90)
    K_train, K_test = K[np.ix_(train, train)], K[np.ix_(test, train)]
    svc = SVC(kernel="precomputed", **params)
    assert _search._LibsvmFit.supports(svc)
    ref = svc.fit(K_train, y[train]).predict(K_test)
    direct = _search._LibsvmFit(y[train])
    assert direct.accuracy(svc, K_train, K_test, y[test]) == np.average(ref == y[test])
    # same for a Fortran-ordered float32 kernel (SVC.fit converts it too)
    K32 = np.asfortranarray(K_train.astype(np.float32))
    ref = svc.fit(K32, y[train]).predict(K_test)
    assert direct.accuracy(svc, K32, K_test, y[test]) == np.average(ref == y[test])


def test_direct_libsvm_path_warns_errors_and_falls_back_as_svc(capfd):
    from sklearn.svm import _libsvm

    from skaudio_random.study import _search

    K = np.eye(6) + 0.1
    y = np.array([0, 1, 0, 1, 0, 1])
    _libsvm.set_verbosity_wrap(1)  # libsvm's default: a report on stdout per fit
    _search._LibsvmFit(y).accuracy(SVC(kernel="precomputed"), K, K, y)
    assert "optimization finished" not in capfd.readouterr().out  # silent as SVC
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        _search._LibsvmFit(y).accuracy(SVC(kernel="precomputed", max_iter=1), K, K, y)
    with pytest.raises(ValueError, match="greater than one; got 1 class"):
        _search._LibsvmFit(np.zeros(6)).accuracy(SVC(kernel="precomputed"), K, K, y)
    with pytest.raises(ValueError, match="square matrix"):
        _search._LibsvmFit(y).accuracy(SVC(kernel="precomputed"), K[:, :5], K, y)
    # what the direct path does not reproduce goes through SVC itself
    assert not _search._LibsvmFit.supports(SVC(kernel="precomputed", break_ties=True))
    assert not _search._LibsvmFit.supports(SVC(kernel="rbf"))


@pytest.mark.parametrize("n_classes", [2, 4])
def test_search_elm_path_predicts_as_a_fitted_clone(n_classes):
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from skaudio_random.study import _search

    rng = np.random.default_rng(n_classes)
    X = rng.standard_normal((80, 10))
    y = np.array(["w", "x", "y", "z"][:n_classes])[rng.integers(0, n_classes, 80)]
    X[y == "x"] += 0.5
    est = Pipeline([("elm", sr.ELMClassifier(device="cpu", random_state=2))])
    found = _search._ELMFit.supports(est)
    assert found is not None
    direct = _search._ELMFit(*found, y[:50])
    for params in ({"elm__n_hidden": 20}, {"elm__n_hidden": 120, "elm__alpha": 0.5}):
        ref = clone(est).set_params(**params).fit(X[:50], y[:50]).predict(X[50:])
        got = direct.accuracy(params, X[:50], X[50:], y[50:])
        assert got == np.average(ref == y[50:])
    with pytest.raises(ValueError, match="unexpected grid parameter"):
        direct.accuracy({"svm__C": 1}, X[:50], X[50:], y[50:])
    with pytest.raises(ValueError, match="unexpected ELMClassifier parameter"):
        direct.accuracy({"elm__C": 1}, X[:50], X[50:], y[50:])
    # labels fit refuses keep fit's own error
    single = _search._ELMFit(*found, np.zeros(50))
    with pytest.raises(ValueError, match="at least 2 classes"):
        single.accuracy({"elm__n_hidden": 5}, X[:50], X[50:], y[50:])
