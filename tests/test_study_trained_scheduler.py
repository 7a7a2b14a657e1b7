"""run_study(trained=True) (random vs trained) and run_study(scheduler=...) (Dask)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from skaudio_random import premise
from skaudio_random.cli import main
from skaudio_random.datasets import load_spoken_digits
from skaudio_random.study import _identity, _trained, run_study

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed.*")

PARAMS = {"n_frames": 24, "n_samples": 6000}
ARCHS = ["vgg", "timbral", "sample_level"]
STUDY = {
    "models": ["mfcc", *ARCHS],
    "widths": [8],
    "classifiers": ["svm"],
    "runs": 1,
    "device": "cpu",
    "transformer_params": PARAMS,
    "nested": False,
    "verbose": False,
    # searches in this process: worker processes take seconds to start per
    # study, and test_study covers them (cv_study, search_jobs=2)
    "search_jobs": 1,
}


def digits(per_class=4, classes=3):
    """The first clips of the first digits of the shipped set, 2-fold CV."""
    data = load_spoken_digits()
    keep = np.concatenate(
        [np.flatnonzero(data.target == k)[:per_class] for k in range(classes)]
    )
    for key in ("filenames", "target", "groups"):
        data[key] = data[key][keep]
    data.cv = StratifiedKFold(2, shuffle=True, random_state=0)
    return data


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained_study")
    result = run_study(
        digits(), out=out, trained=True, trained_params={"max_epochs": 1}, **STUDY
    )
    return out, result


def test_trained_rows_written(trained_study):
    out, result = trained_study
    rows = read_rows(out / "results.csv")
    trained = [r for r in rows if r["classifier"] == "trained"]
    assert sorted(r["model"] for r in trained) == sorted(ARCHS)  # no MFCC
    for r in trained:
        assert r["width"] == "8" and r["run"] == "0" and r["random_state"] == "0"
        assert r["score_kind"] == "cv_mean" and 0 <= float(r["score"]) <= 1
        assert json.loads(r["best_params"])["epochs"] == [1, 1]  # one per fold
        used = json.loads(r["transformer_params"])
        assert used["fix_length"] == "repeat"
        assert (
            used["n_frames" if r["model"] != "sample_level" else "n_samples"]
            == (PARAMS["n_frames" if r["model"] != "sample_level" else "n_samples"])
        )
    assert result.n_computed == len(rows) == 4 + 3  # 4 SVM rows, 3 trained
    identity = json.loads((out / "study.json").read_text())
    assert identity["trained_params"]["max_epochs"] == 1
    assert identity["trained_params"]["patience"] == 5  # defaults recorded


def test_trained_section_matches_the_rows(trained_study):
    out, result = trained_study
    text = (out / "results.md").read_text()
    assert "## Random vs trained" in text and "MFCC has no trained counterpart" in text
    assert "![random vs trained at width 8](figure_width8_random_vs_trained.png)" in (
        text
    )
    assert (out / "figure_width8_random_vs_trained.png").stat().st_size > 0
    rows = read_rows(out / "results.csv")
    score = {(r["model"], r["classifier"]): float(r["score"]) for r in rows}
    corr = premise.rank_correlation(
        {m: score[m, "svm"] for m in ARCHS}, {m: score[m, "trained"] for m in ARCHS}
    )
    section = text.split("## Random vs trained")[1].splitlines()
    line = next(x for x in section if x.startswith("- random SVM"))
    assert "3 architectures" in line
    if np.isnan(corr.spearman):
        assert "n/a" in line
    else:
        assert f"Spearman ρ = {corr.spearman:+.3f}" in line
        assert f"(p = {corr.spearman_pvalue:.3g})" in line
        assert f"Kendall τ-b = {corr.kendall:+.3f}" in line
    vgg = next(x for x in section if x.startswith("| VGG |"))
    assert vgg == (
        f"| VGG | {100 * score['vgg', 'svm']:.2f} | "
        f"{100 * score['vgg', 'trained']:.2f} |"
    )


def test_trained_rows_are_reused(trained_study, monkeypatch):
    out, _ = trained_study

    def no_training(*args, **kwargs):
        raise AssertionError("a finished trained row was computed again")

    monkeypatch.setattr(_trained, "evaluate_trained", no_training)
    result = run_study(
        digits(), out=out, trained=True, trained_params={"max_epochs": 1}, **STUDY
    )
    assert result.n_computed == 0 and result.n_reused == 7
    assert "## Random vs trained" in result.report

    # other training options would report another study's numbers
    with pytest.raises(ValueError, match="trained_params"):
        run_study(
            digits(), out=out, trained=True, trained_params={"max_epochs": 2}, **STUDY
        )


def test_fewer_than_three_architectures_say_so(tmp_path):
    study = dict(STUDY, models=["timbral"])
    result = run_study(
        digits(),
        out=tmp_path,
        trained=True,
        trained_params={"max_epochs": 1},
        figures=False,
        **study,
    )
    assert "needs at least 3 architectures; got 1" in result.report
    assert not list(tmp_path.glob("*random_vs_trained*"))


def test_trained_params_checked(tmp_path):
    with pytest.raises(ValueError, match=r"trained_params \['width'\] cannot be set"):
        run_study(digits(), out=tmp_path, trained=True, trained_params={"width": 3})
    with pytest.raises(ValueError, match="trained_params: .*max_epochs"):
        run_study(
            digits(), out=tmp_path, trained=True, trained_params={"max_epochs": 0}
        )
    data = digits()
    data.fix_length = "none"
    with pytest.raises(ValueError, match="data.fix_length must be one of"):
        run_study(data, out=tmp_path, trained=True)


def test_older_study_json_without_trained_params_is_accepted():
    """A study.json from before trained rows lacks the key: no row depends on it."""
    new = {"nested": False, "trained_params": {"max_epochs": 3}}
    keys = _identity._COMPARED
    same = {k: new.get(k) for k in keys}
    older = {k: v for k, v in same.items() if k != "trained_params"}
    assert _identity.describe_changes(same, {**same, **new}, [], []) == []
    assert _identity.describe_changes(older, {**same, **new}, [], []) == []
    other = {**same, "trained_params": {"max_epochs": 4}}
    assert _identity.describe_changes(other, {**same, **new}, [], []) == [
        "trained_params: {'max_epochs': 4} -> {'max_epochs': 3}"
    ]


def test_cli_trained_options(monkeypatch):
    from skaudio_random import study

    seen = {}

    def fake_run_study(data, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr(study, "run_study", fake_run_study)
    argv = ["study", "spoken_digits", "--trained", "--trained-epochs", "2"]
    argv += ["--trained-lr", "0.01", "--scheduler", "tcp://host:8786"]
    assert main(argv) == 1
    assert seen["trained"] is True
    assert seen["trained_params"] == {"max_epochs": 2, "lr": 0.01}
    assert seen["scheduler"] == "tcp://host:8786"
    seen.clear()
    assert main(["study", "spoken_digits", "--trained-epochs", "2"]) == 1
    assert seen == {}  # refused before the study: --trained-epochs needs --trained


# --------------------------------------------------------------------------- #
# scheduler
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def thread_client():
    distributed = pytest.importorskip("distributed")
    with distributed.Client(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    ) as client:
        yield client


def test_study_on_a_cluster_gives_the_local_scores(tmp_path, thread_client):
    from skaudio_random import distributed as sk_distributed

    calls = {"transform": 0, "search": 0}
    transform, backend = (
        sk_distributed.transform_distributed,
        sk_distributed.search_backend,
    )

    def counting_transform(*args, **kwargs):
        calls["transform"] += 1
        return transform(*args, **kwargs)

    def counting_backend(*args, **kwargs):
        calls["search"] += 1
        return backend(*args, **kwargs)

    study = dict(STUDY, models=["mfcc", "timbral"], classifiers=["svm", "elm"])
    study["nested"] = True
    study["inner_splits"] = 2
    local = run_study(digits(), out=tmp_path / "local", **study)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sk_distributed, "transform_distributed", counting_transform)
        mp.setattr(sk_distributed, "search_backend", counting_backend)
        remote = run_study(
            digits(), out=tmp_path / "remote", scheduler=thread_client, **study
        )
    # 2 feature matrices; the 4 rows run as joblib tasks under one dask backend
    assert calls == {"transform": 2, "search": 1}
    assert thread_client.status == "running"  # a client passed in stays open
    cache = list((tmp_path / "remote" / "features").rglob("*.f32"))
    assert len(cache) == 2 * 12  # every clip of both models in the study's cache

    def scores(result):
        keys = ("score", "nested_score", "selection_score", "best_params")
        return {
            (r["model"], r["classifier"]): tuple(r[k] for k in keys)
            for r in result.rows
        }

    assert scores(remote) == scores(local)
    assert (
        read_rows(tmp_path / "remote" / "results.csv")[0]["score"]
        == (read_rows(tmp_path / "local" / "results.csv")[0]["score"])
    )


def test_bad_scheduler_is_named(tmp_path):
    with pytest.raises(ValueError, match="scheduler='nowhere' is not understood"):
        run_study(digits(), out=tmp_path, scheduler="nowhere", **STUDY)


def test_extract_on_a_cluster(tmp_path, monkeypatch, thread_client):
    from skaudio_random.study import _scheduler

    monkeypatch.setattr(
        _scheduler, "study_client", lambda scheduler: _given(thread_client)
    )
    files = list(digits(per_class=2).filenames)
    local, remote = tmp_path / "local", tmp_path / "remote"
    base = ["extract", *files, "--models", "timbral", "mfcc", "--width", "8"]
    base += ["--fix-length", "repeat", "--n-frames", "24", "--quiet"]
    assert main([*base, "--out", str(local)]) == 0
    assert main([*base, "--out", str(remote), "--scheduler", "local:1"]) == 0
    for model in ("timbral", "mfcc"):
        a, b = np.load(local / f"{model}.npy"), np.load(remote / f"{model}.npy")
        # thread workers share this process's BLAS; the package's shared thread
        # limits keep MFCC's mel projection on one BLAS thread (tests/test_threads.py)
        np.testing.assert_array_equal(b, a)
    assert main([*base, "--out", str(remote), "--scheduler", "x", "--window", "1"]) == 1


class _given:
    """A context manager yielding a client it does not own."""

    def __init__(self, client):
        self.client = client

    def __enter__(self):
        return self.client

    def __exit__(self, *exc):
        return False
