"""The trained counterparts (TrainedNetworkClassifier) and the premise report."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.model_selection import PredefinedSplit, StratifiedKFold
from sklearn.utils import Bunch
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

import skaudio_random as sr
from skaudio_random import TrainedNetworkClassifier
from skaudio_random.architectures import ARCHITECTURES
from skaudio_random.premise import (
    evaluate_trained,
    plot_random_vs_trained,
    rank_correlation,
)
from skaudio_random.trained import build_network, prepare_inputs

SR = 12000
# short inputs every architecture accepts: 2048 samples = 9 frames
N_SAMPLES = {"sample_level": 729, "frame_level": 1024, "frame_level_many_shapes": 1024}
N_FRAMES = 9


def _clips(n_per_class=4, n_classes=2, seconds=0.2, seed=0):
    """Noisy tones, one pitch per class."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    X, y = [], []
    for c in range(n_classes):
        for _ in range(n_per_class):
            tone = np.sin(2 * np.pi * (300 + 500 * c) * t)
            X.append((tone + 0.1 * rng.standard_normal(len(t))).astype(np.float32))
            y.append(f"class{c}")
    return np.stack(X), np.array(y)


def _clf(architecture="vgg", **kw):
    params = dict(
        width=16,
        n_frames=N_FRAMES,
        n_samples=N_SAMPLES.get(architecture, 1024),
        max_epochs=2,
        batch_size=4,
        device="cpu",
        random_state=0,
        validation_fraction=0.25,
    )
    params.update(kw)
    return TrainedNetworkClassifier(architecture, **params)


# --------------------------------------------------------------------------- #
# the network is the random-feature network, and all of it trains
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "architecture, transformer",
    [("vgg", sr.VGG), ("sample_level", sr.SampleLevel), ("timbral", sr.Timbral)],
)
def test_untrained_network_and_input_match_the_transformer(architecture, transformer):
    X, _ = _clips(n_per_class=2)
    spec = ARCHITECTURES[architecture]
    length = N_FRAMES if spec.input_kind == "mel" else N_SAMPLES.get(architecture, 1024)
    net = build_network(architecture, width=16, random_state=3)
    x = prepare_inputs(X, spec.input_kind, length=length, fix_length_mode="crop")
    with torch.no_grad():
        ours = net(x, reference=True).numpy()
    key = "n_frames" if spec.input_kind == "mel" else "n_samples"
    theirs = transformer(
        width=16, random_state=3, device="cpu", fix_length="crop", **{key: length}
    ).transform(X)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_every_weight_of_every_architecture_trains(architecture):
    X, y = _clips(n_per_class=2)
    # width 120: at nf=1 a branch can be a dead ReLU (no gradient, legitimately)
    # CNN14 needs 32 frames: the 0.2 s clips (10 frames) are repeated
    longer = {"n_frames": 32, "fix_length": "repeat"} if architecture == "cnn14" else {}
    clf = _clf(architecture, width=120, max_epochs=1, validation_fraction=0, **longer)
    clf.fit(X, y)
    before = build_network(architecture, width=120, random_state=0)
    after = clf.network_.features
    for (name, w0), (_, w1) in zip(
        before.named_parameters(), after.named_parameters(), strict=True
    ):
        assert w1.requires_grad
        assert not torch.equal(w0, w1), f"{architecture}: {name} did not train"


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_convs_have_zero_biases_that_the_forward_uses(architecture):
    """The paper's TensorFlow layers have zero-initialised biases: the trained
    counterpart has them (so step 0 is the random network) and uses them."""
    spec = ARCHITECTURES[architecture]
    length = 32 if spec.input_kind == "mel" else N_SAMPLES.get(architecture, 1024)
    shape = (2, 96, length) if spec.input_kind == "mel" else (2, length)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    net = build_network(architecture, width=16, random_state=0)
    bare = build_network(architecture, width=16, random_state=0, conv_bias=False)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv1d | nn.Conv2d)]
    assert convs and all(c.bias is not None and c.bias.requires_grad for c in convs)
    assert all(torch.all(c.bias == 0) for c in convs)
    assert all(m.bias is None for m in bare.modules() if isinstance(m, type(convs[0])))
    with torch.no_grad():
        torch.testing.assert_close(net(x, reference=True), bare(x, reference=True))
        for conv in convs:
            conv.bias.fill_(1.0)
        assert not torch.allclose(net(x, reference=True), bare(x, reference=True))


# --------------------------------------------------------------------------- #
# the classifier
# --------------------------------------------------------------------------- #
def test_fit_predict_proba_and_attributes():
    X, y = _clips()
    clf = _clf(max_epochs=3).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(clf.classes_) == ["class0", "class1"]
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.n_features_ == ARCHITECTURES["vgg"].n_features(3) == 15  # nf=3
    assert [h["epoch"] for h in clf.history_] == list(range(1, clf.n_epochs_ + 1))
    assert 1 <= clf.best_epoch_ <= clf.n_epochs_
    assert all(math.isfinite(h["val_accuracy"]) for h in clf.history_)


@pytest.mark.parametrize("input_scaling", ["none", "scalar", "per_band"])
def test_inputs_and_pooled_features_are_standardised_on_the_training_clips(
    input_scaling,
):
    X, y = _clips()
    clf = _clf(max_epochs=1, validation_fraction=0, input_scaling=input_scaling)
    net = clf.fit(X, y).network_
    x = prepare_inputs(X, "mel", length=N_FRAMES).double()
    if input_scaling == "none":
        assert torch.all(net.input_mean == 0) and torch.all(net.input_scale == 1)
    else:  # per mel band, or one pair, over clips and frames
        dims = (0, 2) if input_scaling == "per_band" else (0, 1, 2)
        std, mean = torch.std_mean(x, dim=dims, correction=0, keepdim=True)
        torch.testing.assert_close(net.input_mean, mean[0].float().expand(96, 1))
        torch.testing.assert_close(net.input_scale, std[0].float().expand(96, 1))
        x = (x - mean) / std
    with torch.no_grad():
        untrained = build_network("vgg", width=16, random_state=0)
        feats = untrained(x.float(), reference=True).double()
    std, mean = torch.std_mean(feats, dim=0, correction=0)
    torch.testing.assert_close(net.feature_mean, mean.float(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(net.feature_scale, std.float(), rtol=1e-4, atol=1e-4)


def test_scalar_input_scaling_is_absorbed_by_the_first_layer():
    """One mean and std: the untrained network on the scaled input is the
    random network on the raw input with its first conv's weights divided by
    the std and the mean folded into its bias (vertical: no zero padding)."""
    X, y = _clips()
    clf = _clf("vertical_7x86", max_epochs=1, validation_fraction=0)
    model = clf.fit(X, y).network_  # default input_scaling="scalar"
    m, s = float(model.input_mean[0, 0]), float(model.input_scale[0, 0])
    x = prepare_inputs(X, "mel", length=N_FRAMES)
    net = build_network("vertical_7x86", width=16, random_state=0)
    folded = build_network("vertical_7x86", width=16, random_state=0)
    with torch.no_grad():
        conv = folded.conv
        conv.weight.div_(s)
        conv.bias.sub_(m * conv.weight.sum(dim=(1, 2, 3)))
        torch.testing.assert_close(
            net((x - m) / s, reference=True),
            folded(x, reference=True),
            rtol=1e-4,
            atol=1e-4,
        )


def test_per_band_scaling_changes_the_temporal_architecture():
    """Per-band standardisation is not a map the first layer can absorb: the
    band average of Temporal becomes a weighted one."""
    X, y = _clips()
    x = prepare_inputs(X, "mel", length=N_FRAMES).double()
    std, mean = torch.std_mean(x, dim=(0, 2), correction=0, keepdim=True)
    per_band = ((x - mean) / std).mean(dim=1)  # what Temporal's input averages
    scalar_std, scalar_mean = torch.std_mean(x, correction=0)
    scalar = ((x - scalar_mean) / scalar_std).mean(dim=1)
    raw = x.mean(dim=1)
    corr = lambda a, b: float(torch.corrcoef(torch.stack([a.ravel(), b.ravel()]))[0, 1])  # noqa: E731
    assert corr(raw, scalar) == pytest.approx(1.0)
    assert corr(raw, per_band) < 0.999


def test_standard_input_scaling_is_a_deprecated_alias_of_per_band():
    X, y = _clips()
    with pytest.warns(FutureWarning, match="'standard' is deprecated"):
        old = _clf(max_epochs=1, input_scaling="standard").fit(X, y)
    new = _clf(max_epochs=1, input_scaling="per_band").fit(X, y)
    np.testing.assert_array_equal(old.predict_proba(X), new.predict_proba(X))


def test_same_seed_same_predictions_new_seed_differs():
    X, y = _clips()
    a = _clf(max_epochs=2).fit(X, y).predict_proba(X)
    b = _clf(max_epochs=2).fit(X, y).predict_proba(X)
    c = _clf(max_epochs=2, random_state=1).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_learns_an_easy_task():
    X, y = _clips(n_per_class=6)
    clf = _clf("timbral", max_epochs=3, lr=0.01, validation_fraction=0).fit(X, y)
    assert clf.score(X, y) == 1.0
    losses = [h["train_loss"] for h in clf.history_]
    assert losses[-1] < losses[0]


def test_early_stopping_keeps_the_best_epoch(monkeypatch):
    X, y = _clips()
    losses = iter([0.5, 0.6, 0.7, 0.8])
    monkeypatch.setattr(
        TrainedNetworkClassifier, "_evaluate", lambda *a: (next(losses), 0.5)
    )
    clf = _clf(max_epochs=4, patience=2).fit(X, y)
    assert clf.stop_reason_ == "early_stopping"
    assert clf.n_epochs_ == 3 and clf.best_epoch_ == 1
    monkeypatch.undo()
    one = _clf(max_epochs=1).fit(X, y)  # same split, same first epoch
    np.testing.assert_array_equal(clf.predict_proba(X), one.predict_proba(X))


def test_validation_data_replaces_the_held_out_split():
    X, y = _clips()
    Xv, yv = _clips(n_per_class=1, seed=1)
    clf = _clf(max_epochs=1).fit(X, y, X_val=Xv, y_val=yv)
    assert clf.history_[0]["val_accuracy"] in (0.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="pass both X_val and y_val"):
        _clf().fit(X, y, X_val=Xv)
    with pytest.raises(ValueError, match="y_val holds classes absent from y"):
        _clf().fit(X, y, X_val=Xv, y_val=["class0", "other"])


def test_checkpoint_resume_equals_an_uninterrupted_fit(tmp_path):
    X, y = _clips()
    full = _clf(max_epochs=3, patience=5).fit(X, y)
    _clf(max_epochs=1, patience=5, checkpoint_dir=tmp_path).fit(X, y)
    assert (tmp_path / "checkpoint.pt").exists()
    resumed = _clf(max_epochs=3, patience=5, checkpoint_dir=tmp_path).fit(X, y)
    assert resumed.history_ == full.history_
    np.testing.assert_array_equal(resumed.predict_proba(X), full.predict_proba(X))


def test_interrupted_fit_resumes(tmp_path, monkeypatch):
    X, y = _clips()
    full = _clf(max_epochs=3, patience=5).fit(X, y)
    real_epoch = TrainedNetworkClassifier._epoch
    calls = []

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(self, *args)

    monkeypatch.setattr(TrainedNetworkClassifier, "_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _clf(max_epochs=3, patience=5, checkpoint_dir=tmp_path).fit(X, y)
    monkeypatch.undo()
    resumed = _clf(max_epochs=3, patience=5, checkpoint_dir=tmp_path).fit(X, y)
    np.testing.assert_array_equal(resumed.predict_proba(X), full.predict_proba(X))


def test_checkpoint_of_another_fit_is_an_error(tmp_path):
    X, y = _clips()
    _clf(max_epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    with pytest.raises(ValueError, match="checkpoint of another fit"):
        _clf(max_epochs=1, lr=0.1, checkpoint_dir=tmp_path).fit(X, y)
    with pytest.raises(ValueError, match="checkpoint of another fit"):
        _clf(max_epochs=1, checkpoint_dir=tmp_path).fit(X[::-1], y)


def test_file_paths(wav_files):
    y = ["a", "b", "a"]
    clf = _clf(max_epochs=1, validation_fraction=0, fix_length="zero").fit(wav_files, y)
    assert clf.predict(wav_files).shape == (3,)


def test_progress_bar(capsys):
    X, y = _clips()
    _clf(max_epochs=1, verbose=True).fit(X, y)
    assert "TrainedNetworkClassifier" in capsys.readouterr().err


def test_pickle_round_trip():
    import pickle

    X, y = _clips()
    clf = _clf(max_epochs=1).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


# --------------------------------------------------------------------------- #
# user networks
# --------------------------------------------------------------------------- #
class TinyWaveNet(nn.Module):
    input_kind = "waveform"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 6, 9, stride=3)

    def forward(self, x):
        return torch.relu(self.conv(x[:, None])).mean(dim=2)  # (batch, 6)


def tiny_wave_net():
    return TinyWaveNet()


def test_user_network():
    X, y = _clips()
    clf = _clf(network=tiny_wave_net, n_samples=900).fit(X, y)
    assert clf.input_kind_ == "waveform" and clf.n_features_ == 6
    assert clf.predict_proba(X).shape == (len(X), 2)
    paper = build_network(network=tiny_wave_net, random_state=0).conv
    own = build_network(network=tiny_wave_net, random_state=0, init="network").conv
    assert torch.all(paper.bias == 0) and not torch.all(own.bias == 0)
    assert paper.weight.abs().max() <= 2 * math.sqrt(2.6 / 9) + 1e-6
    same = build_network(network=tiny_wave_net, random_state=0, init="network").conv
    assert torch.equal(own.weight, same.weight)  # the factory is seeded


def test_user_network_errors():
    X, y = _clips()
    with pytest.raises(TypeError, match="returned int"):
        _clf(network=lambda: 3).fit(X, y)
    with pytest.raises(ValueError, match="input_kind attribute"):
        _clf(network=lambda: nn.Conv1d(1, 2, 3)).fit(X, y)
    with pytest.raises(ValueError, match=r"\(batch, n_features\)"):
        _clf(network=lambda: nn.Conv1d(1, 2, 3), input_kind="waveform").fit(X, y)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
def test_one_class_is_an_error():
    X, _ = _clips()
    with pytest.raises(ValueError, match="y holds one class .'a'.; a classifier needs"):
        _clf().fit(X, ["a"] * len(X))


def test_class_with_a_single_clip():
    X, y = _clips()
    y = y.copy()
    y[0] = "lonely"
    with pytest.raises(
        ValueError, match="'lonely' of y hold a single clip.*validation_fraction=0"
    ):
        _clf().fit(X, y)
    clf = _clf(validation_fraction=0).fit(X, y)  # the documented way out
    assert "lonely" in clf.classes_ and math.isnan(clf.history_[0]["val_loss"])
    assert clf.stop_reason_ == "max_epochs" and clf.best_epoch_ == clf.n_epochs_


def test_validation_split_smaller_than_the_classes():
    X, y = _clips(n_per_class=3, n_classes=3)
    with pytest.warns(UserWarning, match="holds out 1 of 9 clips, fewer than the 3"):
        clf = _clf(validation_fraction=0.05, max_epochs=1).fit(X, y)
    assert np.isfinite(clf.history_[0]["val_loss"])
    X, y = _clips(n_per_class=2, n_classes=3)
    with pytest.raises(ValueError, match="leaves 2 training clips for 3 classes"):
        _clf(validation_fraction=0.6).fit(X, y)


def test_clips_too_short_for_the_network():
    X, y = _clips(seconds=0.05)  # 600 samples
    with pytest.raises(
        ValueError,
        match=r"X\[0\] has 600 samples, fewer than "
        "n_samples=729",
    ):
        _clf("sample_level").fit(X, y)
    with pytest.raises(ValueError, match="shorter than one STFT window"):
        _clf("vgg", n_frames=2).fit(X[:, :300], y)
    with pytest.raises(
        ValueError,
        match="n_frames=5 is too short for network "
        "'vertical_7x96', which needs at least 7",
    ):
        _clf("vertical_7x96", n_frames=5).fit(X, y)
    with pytest.raises(ValueError, match="n_samples=700 is too short"):
        _clf("frame_level", n_samples=700).fit(X, y)
    _clf("sample_level", fix_length="zero", max_epochs=1).fit(X, y)  # padded


def test_fix_length_none_is_rejected():
    X, y = _clips()
    with pytest.raises(ValueError, match="'fix_length' parameter"):
        _clf(fix_length="none").fit(X, y)


# --------------------------------------------------------------------------- #
# scikit-learn's common checks
# --------------------------------------------------------------------------- #
_COMMON = TrainedNetworkClassifier(
    "sample_level",
    width=8,
    n_samples=27,
    fix_length="zero",
    max_epochs=1,
    batch_size=64,
    lr=0.01,
    validation_fraction=0,
    device="cpu",
    random_state=0,
)
_NOT_APPLICABLE = {
    "check_dtype_object": "object arrays are read as lists of file paths, not numbers",
    "check_estimators_dtypes": "integer arrays are not audio; they are rejected with a "
    "clear error asking for float samples",
    "check_classifier_data_not_an_array": "the check's _NotAnArray wrapper is "
    "neither a list of clips nor an array",
    "check_n_features_in": "a clip has no fixed number of features: any length is "
    "audio",
    "check_n_features_in_after_fitting": "clips of any length are valid input, there "
    "is no n_features_in_",
    "check_classifiers_train": "a waveform CNN trained for 1 epoch on 2-sample "
    "'clips' does not reach the check's 83% on its blobs",
}


@parametrize_with_checks([_COMMON], expected_failed_checks=lambda e: _NOT_APPLICABLE)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- #
# the premise: correlation, plot, folds
# --------------------------------------------------------------------------- #
def test_rank_correlation_values():
    rnd = {"a": 0.5, "b": 0.6, "c": 0.7, "d": 0.8, "e": 0.9}
    r = rank_correlation(rnd, {"a": 0.6, "b": 0.62, "c": 0.8, "d": 0.85, "e": 0.99})
    assert r.spearman == pytest.approx(1.0) and r.kendall == pytest.approx(1.0)
    assert r.kendall_pvalue == pytest.approx(2 / 120)  # exact: 1 of 5! orders
    assert r.n == 5 and r.notes == []
    rev = rank_correlation(rnd, {k: 1 - v for k, v in rnd.items()})
    assert rev.spearman == pytest.approx(-1.0) and rev.kendall == pytest.approx(-1.0)
    one = rank_correlation(
        rnd,
        {"a": 0.6, "b": 0.62, "c": 0.8, "d": 0.85, "e": 0.99},
        alternative="greater",
    )
    assert one.kendall_pvalue == pytest.approx(1 / 120)
    assert "Spearman rho = +1.000" in str(r)


def test_rank_correlation_few_architectures_and_ties():
    two = rank_correlation({"a": 0.5, "b": 0.6}, {"a": 0.7, "b": 0.8})
    assert math.isnan(two.spearman) and math.isnan(two.kendall_pvalue)
    assert "at least 3 architectures; got 2" in two.notes[0]
    assert "n/a" in str(two)
    flat = rank_correlation({"a": 0.5, "b": 0.6, "c": 0.7}, dict.fromkeys("abc", 0.9))
    assert math.isnan(flat.spearman)
    assert "all trained accuracies are equal" in flat.notes[0]
    tied = rank_correlation(
        {"a": 0.5, "b": 0.5, "c": 0.7, "d": 0.8},
        {"a": 0.6, "b": 0.7, "c": 0.8, "d": 0.9},
    )
    assert (
        np.isfinite(tied.spearman)
        and "2 of 4 random accuracies are tied" in (tied.notes[0])
    )


def test_rank_correlation_bad_input():
    with pytest.raises(
        ValueError, match=r"only random: \['c'\], only trained: \['d'\]"
    ):
        rank_correlation({"a": 0.1, "b": 0.2, "c": 0.3}, {"a": 0.1, "b": 0.2, "d": 0})
    with pytest.raises(ValueError, match="trained_accuracy must hold accuracies in"):
        rank_correlation({"a": 0.1, "b": 0.2, "c": 0.3}, {"a": 0.1, "b": 20, "c": 0.3})
    with pytest.raises(ValueError, match="accuracies in"):
        rank_correlation(
            {"a": math.nan, "b": 0.2, "c": 0.3}, {"a": 0.1, "b": 0.2, "c": 0.3}
        )


def test_plot_random_vs_trained():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    rnd = {"vgg": 0.7, "timbral": 0.6, "sample_level": 0.5}
    ax = plot_random_vs_trained(
        rnd, {"vgg": 0.9, "timbral": 0.65, "sample_level": 0.8}, title="digits"
    )
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == sorted(rnd)
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "y = x"]
    np.testing.assert_array_equal(line.get_xdata(), line.get_ydata())
    assert ax.get_xlabel().startswith("random") and ax.get_ylabel().startswith(
        "trained"
    )
    assert "digits" in ax.get_title() and "Spearman" in ax.get_title()
    points = ax.collections[0].get_offsets()
    np.testing.assert_allclose(sorted(points[:, 0]), [50, 60, 70])


def test_evaluate_trained_cv_and_validation_protocols():
    X, y = _clips(n_per_class=4)
    est = _clf(max_epochs=1, validation_fraction=0.5)
    cv = Bunch(
        filenames=list(X),
        target=y,
        protocol="cv",
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    )
    res = evaluate_trained(cv, est)
    assert len(res["scores"]) == 2 and res["score_kind"] == "cv_mean"
    assert res["score"] == pytest.approx(np.mean(res["scores"]))
    assert all(s in (0.0, 0.25, 0.5, 0.75, 1.0) for s in res["scores"])
    # validation: train on fold -1, early stopping on fold 0, score on the test set
    Xt, yt = _clips(n_per_class=2, seed=5)
    fold = np.where(np.arange(len(y)) % 4 == 0, 0, -1)
    val = Bunch(
        filenames=list(X),
        target=y,
        protocol="validation",
        cv=PredefinedSplit(fold),
        test_filenames=list(Xt),
        test_target=yt,
    )
    res = evaluate_trained(val, est)
    assert len(res["scores"]) == 1 and res["score_kind"] == "test"
    assert res["n_train"] == 6 and res["n_test"] == 4
    del val["test_target"]
    with pytest.raises(ValueError, match="needs data.test_target"):
        evaluate_trained(val, est)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_fit_predict_and_resume_on_cpu(tmp_path):
    X, y = _clips()
    gpu = _clf(device="cuda", max_epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    assert next(gpu.network_.parameters()).device.type == "cpu"  # kept on the CPU
    proba = gpu.predict_proba(X)  # GPU kernels are not bitwise reproducible
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # a checkpoint written on the GPU resumes on the CPU (device may change)
    resumed = _clf(device="cpu", max_epochs=2, checkpoint_dir=tmp_path).fit(X, y)
    assert resumed.n_epochs_ == 2


# --------------------------------------------------------------------------- #
# plain forwards are differentiable; user networks through the one resolver
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_plain_forward_backpropagates_without_copies(architecture):
    """No in-place op of a built-in's plain forward breaks autograd (the
    classifier's copy-saved-tensors retry is for user networks only)."""
    net = build_network(architecture, width=120, random_state=0)
    kind = ARCHITECTURES[architecture].input_kind
    n = N_SAMPLES.get(architecture, 2048) if kind == "waveform" else N_FRAMES
    n = max(n, getattr(net, "min_length", 0))
    x = torch.randn(2, n) if kind == "waveform" else torch.randn(2, 96, n)
    net(x, reference=True).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


class _InPlaceResidual(nn.Module):
    input_kind = "waveform"

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = (
            nn.Conv1d(1, 4, 9, stride=3),
            nn.Conv1d(4, 4, 3, padding=1),
        )

    def forward(self, x):
        h = torch.relu(self.conv1(x.unsqueeze(1)))
        return torch.relu_(self.conv2(h)).add_(h).mean(2)  # in place on a saved tensor


def test_a_user_network_with_in_place_ops_still_trains():
    X, y = _clips()
    clf = _clf(network=_InPlaceResidual, n_samples=900, max_epochs=1).fit(X, y)
    assert clf.n_features_ == 4


@pytest.mark.parametrize(
    "spec",
    [
        "tests._user_nets:small_net",
        "user_factory",
        "random_network_features",
    ],
)
def test_user_networks_by_any_model_spec(spec):
    from skaudio_random import RandomNetworkFeatures
    from tests._user_nets import small_net

    layers = ["3"] if spec == "random_network_features" else None
    spec = {
        "user_factory": small_net,
        "random_network_features": RandomNetworkFeatures(small_net, layers=layers),
    }.get(spec, spec)
    X, y = _clips(n_per_class=2)
    clf = _clf(spec, width=8, max_epochs=1, validation_fraction=0).fit(X, y)
    assert clf.input_kind_ == "mel" and clf.n_features_ == 8
    # the random features' network (same layers, same width), all of it trained
    features = RandomNetworkFeatures(small_net, width=8, layers=layers)
    before = build_network(spec, width=8, random_state=0)
    assert before.feature_names() == features.get_feature_names_out().tolist()
    for (name, w0), (_, w1) in zip(
        before.named_parameters(), clf.network_.features.named_parameters(), strict=True
    ):
        assert not torch.equal(w0, w1), f"{name} did not train"


def test_model_specs_that_are_no_network():
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; expected one of"):
        build_network("resnet")
    with pytest.raises(ValueError, match="gives a MFCC, not a network"):
        build_network("mfcc")
    with pytest.raises(ValueError, match="has no attribute"):
        build_network("tests._user_nets:missing")
