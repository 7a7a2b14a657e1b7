"""The CNN transformers: paper widths, determinism, input rules, caching, real audio."""

import inspect
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

import skaudio_random as sr
from skaudio_random.features import __all__ as CNN_NAMES

from .conftest import fsdd_files, requires_fsdd

CLASSES = [getattr(sr, name) for name in CNN_NAMES]
WAVEFORM = [c for c in CLASSES if "n_samples" in c().get_params()]
MEL = [c for c in CLASSES if c not in WAVEFORM]

PAPER_LENGTHS = {  # SPEC section 3.3: (width 120, width 3500)
    "SampleLevel": (161, 3584),
    "FrameLevel": (160, 3584),
    "FrameLevelManyShapes": (160, 3584),
    "Vertical7x96": (160, 3585),
    "Vertical7x86": (160, 3585),
    "Timbral": (112, 3584),
    "Temporal": (112, 3584),
    "TimbralTemporal": (112, 3584),
    "Time": (112, 3584),
    "TimbralTime": (112, 3584),
    "VGG": (160, 3585),
}

# Files are ordered by speaker: shuffle so that folds mix speakers (speaker-dependent).
SHUFFLED = StratifiedKFold(3, shuffle=True, random_state=0)


def short(cls, **params):
    """An instance on short inputs: 2 s of audio, or 94 frames."""
    length = dict(n_samples=24000) if cls in WAVEFORM else dict(n_frames=94)
    return cls(**{**length, "fix_length": "zero", "device": "cpu", **params})


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(1)
    return [
        (0.1 * rng.standard_normal(n)).astype(np.float32)
        for n in (24000, 30000, 9000, 24000)
    ]


@pytest.mark.parametrize(
    "cls", [c for c in CLASSES if c.__name__ in PAPER_LENGTHS], ids=lambda c: c.__name__
)
@pytest.mark.parametrize("width_index,width", [(0, 120), (1, 3500)])
def test_paper_feature_lengths(cls, width_index, width):
    names = cls(width=width, random_state=0).get_feature_names_out()
    assert len(names) == PAPER_LENGTHS[cls.__name__][width_index]
    assert len(set(names)) == len(names)


def test_classes_come_from_the_registry():
    from skaudio_random.architectures import ARCHITECTURES
    from skaudio_random.features import TRANSFORMERS

    assert CNN_NAMES == [spec.class_name for spec in ARCHITECTURES.values()]
    for spec in ARCHITECTURES.values():
        cls = getattr(sr, spec.class_name)
        assert cls is TRANSFORMERS[spec.class_name] and cls._architecture == spec.name
        assert cls.__module__ == "skaudio_random.features"
        assert pickle.loads(pickle.dumps(cls)) is cls
        length = "n_frames" if spec.input_kind == "mel" else "n_samples"
        names = list(inspect.signature(cls).parameters)
        assert names[:2] == ["width", length] and names[-1] == "random_state"
        assert {opt.name for opt in spec.options} <= set(names)
        with pytest.raises(TypeError):
            cls(120)  # keyword-only, as every scikit-learn estimator here
        with pytest.raises(TypeError):
            cls(no_such_param=1)
    est = sr.VGG(width=300, batchnorm="batch", batch_size=4)
    assert repr(est) == "VGG(batch_size=4, batchnorm='batch', width=300)"
    assert sr.VGG.__init__.__qualname__ == "VGG.__init__"


def test_readme_table_is_the_registry():
    from pathlib import Path

    from skaudio_random.features import architecture_table

    readme = (Path(__file__).resolve().parents[1] / "README.rst").read_text()
    assert architecture_table() in readme, "regenerate README's table"


def test_other_widths_pick_the_closest_length():
    assert len(sr.VGG(width=1000).get_feature_names_out()) == 1000  # 5 * 200
    assert len(sr.SampleLevel(width=1000).get_feature_names_out()) == 1001  # 7 * 143
    assert sr.VGG(width=300).get_feature_names_out()[-1] == "vgg_block5_059"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_determinism_batch_and_jobs_independence(cls, clips):
    ref = short(cls, random_state=3).transform(clips)
    assert ref.shape[0] == 4 and ref.dtype == np.float32 and np.isfinite(ref).all()
    one_by_one = np.concatenate(
        [short(cls, random_state=3, batch_size=1).transform([c]) for c in clips]
    )
    np.testing.assert_array_equal(ref, one_by_one)
    np.testing.assert_array_equal(
        ref, short(cls, random_state=3, batch_size=3, n_jobs=2).transform(clips)
    )
    other_seed = short(cls, random_state=4).transform(clips)
    assert not np.allclose(ref, other_seed)


def test_same_features_in_another_process(clips):
    est = short(sr.TimbralTemporal, random_state=7)
    ref = est.transform(clips[:1])
    code = (
        "import numpy as np, pickle, sys; import skaudio_random as sr;"
        "est, x = pickle.loads(sys.stdin.buffer.read());"
        "sys.stdout.buffer.write(pickle.dumps(est.transform(x)))"
    )
    payload = pickle.dumps((sr.TimbralTemporal(**est.get_params()), clips[:1]))
    out = subprocess.run(
        [sys.executable, "-c", code], input=payload, capture_output=True, check=True
    )
    np.testing.assert_array_equal(pickle.loads(out.stdout), ref)


def test_random_state_none_draws_once_and_keeps_it(clips):
    est = short(sr.Temporal)
    a, b = est.transform(clips[:2]), est.transform(clips[:2])
    np.testing.assert_array_equal(a, b)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.transform(clips[:2]), a)
    assert not np.allclose(short(sr.Temporal).transform(clips[:2]), a)


def test_fit_is_a_no_op_and_transform_needs_no_fit(clips):
    est = short(sr.VGG, random_state=0)
    np.testing.assert_array_equal(
        est.fit(clips).transform(clips), short(sr.VGG, random_state=0).transform(clips)
    )
    assert est.__sklearn_tags__().requires_fit is False


@pytest.mark.parametrize("cls", [sr.SampleLevel, sr.Timbral], ids=lambda c: c.__name__)
def test_length_rules(cls, clips):
    long_clip = clips[1]
    crop = short(cls, random_state=0, fix_length="crop").transform([long_clip])
    with pytest.raises(ValueError, match=r"X\[0\] .*(fewer than|cannot be cropped)"):
        short(cls, random_state=0, fix_length="crop").transform([clips[2]])
    rep = short(cls, random_state=0, fix_length="repeat").transform([clips[2]])
    none = short(cls, random_state=0, fix_length="none").transform([clips[2]])
    assert (
        np.isfinite(crop).all() and np.isfinite(rep).all() and np.isfinite(none).all()
    )
    assert not np.allclose(rep, none)


def test_mel_repeat_tiles_log_mel_frames(clips):
    """SPEC section 1: spectrogram models repeat frames of the whole clip's log-mel."""
    est = short(sr.Temporal, random_state=0, fix_length="repeat")
    est._prepare()
    y = clips[2]  # 9000 samples -> 36 frames, tiled to 94
    mel = est._prepare_mel(y, "y")
    whole = sr.log_mel_spectrogram(y)
    np.testing.assert_allclose(mel.numpy(), np.tile(whole, 3)[:, :94], atol=1e-5)


def test_silence_gives_finite_features():
    silence = [np.zeros(24000, np.float32)]
    for cls in CLASSES:
        assert np.isfinite(short(cls, random_state=0).transform(silence)).all(), cls


def test_too_short_clips_are_rejected_by_name():
    with pytest.raises(
        ValueError, match=r"X\[0\] has 300 samples, shorter than one STFT window"
    ):
        short(sr.VGG, fix_length="none").transform([np.zeros(300, np.float32)])
    with pytest.raises(
        ValueError, match=r"X\[0\] has 100 samples; FrameLevel needs at least \d+"
    ):
        short(sr.FrameLevel, fix_length="none").transform([np.zeros(100, np.float32)])
    with pytest.raises(ValueError, match="n_samples=100 is too short for FrameLevel"):
        sr.FrameLevel(n_samples=100, fix_length="zero").transform(
            [np.zeros(100, np.float32)]
        )


@pytest.mark.parametrize(
    "params,match",
    [
        (dict(width=0), "'width' parameter of VGG must be an int in the range"),
        (dict(fix_length="pad"), "'fix_length' parameter"),
        (dict(batch_size=0), "'batch_size' parameter"),
        (dict(device="tpu"), "device='tpu' is not a device name"),
    ],
)
def test_parameter_errors(params, match):
    with pytest.raises(ValueError, match=match):
        sr.VGG(**params).transform([np.zeros(12000, np.float32)])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_requested_without_cuda():
    with pytest.raises(
        ValueError, match="device='cuda' was requested but no CUDA device"
    ):
        sr.Temporal(device="cuda").fit([np.zeros(12000, np.float32)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_cuda_matches_cpu(cls, clips):
    cpu = short(cls, random_state=0).transform(clips)
    gpu = short(cls, random_state=0, device="cuda").transform(clips)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-4)


def test_frame_level_collapsed_backend_reproduces_the_authors_code(clips):
    est = short(sr.FrameLevel, random_state=0, backend_averaging="collapsed")
    out = est.transform(clips)
    nf = 40
    assert out.shape == (4, 4 * nf)
    for layer in (1, 2, 3):  # one value, then nf - 1 zeros
        block = out[:, layer * nf : (layer + 1) * nf]
        assert np.all(block[:, 1:] == 0) and np.all(block[:, 0] > 0)
    per_filter = short(sr.FrameLevel, random_state=0).transform(clips)
    np.testing.assert_array_equal(out[:, :nf], per_filter[:, :nf])  # same front end


def test_vgg_batchnorm_depends_on_the_batch(clips):
    with pytest.raises(ValueError, match="needs an explicit int batch_size"):
        short(sr.VGG, batchnorm="batch").transform(clips)
    with pytest.raises(ValueError, match="memory cannot be used"):
        short(sr.VGG, batchnorm="batch", batch_size=2, memory="unused").transform(clips)
    together = short(sr.VGG, random_state=0, batchnorm="batch", batch_size=4).transform(
        clips
    )
    pairs = short(sr.VGG, random_state=0, batchnorm="batch", batch_size=2).transform(
        clips
    )
    assert np.isfinite(together).all() and not np.allclose(together, pairs)


def test_memory_cache_returns_identical_features(clips, tmp_path):
    ref = short(sr.Timbral, random_state=0).transform(clips)
    cached = short(sr.Timbral, random_state=0, memory=tmp_path).transform(clips)
    again = short(sr.Timbral, random_state=0, memory=tmp_path).transform(clips)
    np.testing.assert_array_equal(ref, cached)
    np.testing.assert_array_equal(ref, again)
    # another seed is another network: its own entries
    other = short(sr.Timbral, random_state=1, memory=tmp_path).transform(clips)
    assert not np.allclose(other, ref)
    assert len(list((tmp_path / "skaudio_random_features").iterdir())) == 2


# Cross-validated accuracy of a linear SVM on width-120 features of 180 spoken digits
# (chance 0.10). Measured: 0.78-0.84 for the vertical filters, 0.63-0.74 for timbral
# models, 0.28-0.48 for waveform models and VGG at these short inputs, 0.21-0.30 for
# the temporal-envelope models (an energy envelope says little about which digit).
MIN_ACCURACY = {
    "Vertical7x96": 0.6,
    "Vertical7x86": 0.6,
    "Timbral": 0.5,
    "TimbralTemporal": 0.45,
    "TimbralTime": 0.45,
}


@requires_fsdd
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_spoken_digits_beat_chance(cls):
    # takes 10-12 of every speaker and digit: folds mix speakers (speaker-dependent)
    files, y = fsdd_files(takes=(10, 11, 12))
    est = cls(
        fix_length="repeat",
        random_state=0,
        n_jobs=2,
        **(dict(n_samples=24000) if cls in WAVEFORM else dict(n_frames=94)),
    )
    X = est.transform(files)
    assert X.shape == (180, len(est.get_feature_names_out())) and np.isfinite(X).all()
    model = make_pipeline(StandardScaler(), LinearSVC(C=0.1, max_iter=20000))
    acc = cross_val_score(model, X, y, cv=SHUFFLED).mean()
    assert acc > MIN_ACCURACY.get(cls.__name__, 0.2), acc


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(width=True), "'width' parameter of Timbral must not be a bool"),
        (dict(random_state=False), "'random_state' parameter of Timbral must not"),
        (dict(n_jobs=0), r"'n_jobs' parameter of Timbral must be an int in the range"),
        (dict(device="meta"), "device='meta' is not supported"),
    ],
)
def test_bad_parameters_fail_up_front(clips, params, match, monkeypatch):
    from skaudio_random._cnn_base import RandomCNNBase

    def never(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(RandomCNNBase, "_build", never)
    for call in ("fit", "transform"):
        with pytest.raises(ValueError, match=match):
            getattr(short(sr.Timbral, **params), call)(clips)


@pytest.mark.parametrize(
    "cls, params, match",
    [
        (sr.VGG, dict(width=10**6), r"VGG\(width=1000000\) needs about 5.76 TB"),
        (sr.VGG, dict(n_frames=10**9), r"VGG\(n_frames=1000000000\) needs about"),
        (sr.SampleLevel, dict(n_samples=10**12), r"\(n_samples=1000000000000\)"),
    ],
)
def test_sizes_that_cannot_fit_fail_before_allocating(
    clips, cls, params, match, monkeypatch
):
    from skaudio_random._cnn_base import RandomCNNBase

    def never(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(RandomCNNBase, "_build", never)
    with pytest.raises(MemoryError, match=match + ".* of memory available on cpu"):
        cls(**params, device="cpu").fit(clips)


def test_memory_estimate_is_exact_for_a_built_network():
    from skaudio_random._memory import estimate_activation_bytes, estimate_weight_bytes

    est = short(sr.VGG, width=3500, random_state=0)
    est.fit([np.zeros(24000, np.float32)])
    options = {"batchnorm": None}
    weights = sum(4 * p.numel() for p in est._network.parameters())
    assert estimate_weight_bytes(est._spec, est._nf, options) == weights
    shape = (96, est.n_frames)
    assert estimate_activation_bytes(est._spec, est._nf, options, shape) == (
        est._per_clip_bytes(shape)
    )


def test_grid_search_with_int_seed_computes_each_clip_once(tmp_path, monkeypatch):
    from sklearn.model_selection import GridSearchCV

    from skaudio_random._cnn_base import RandomCNNBase

    rng = np.random.default_rng(0)
    X = [(0.1 * rng.standard_normal(12000)).astype(np.float32) for _ in range(12)]
    y = np.arange(12) % 2
    computed = []
    original = RandomCNNBase._transform_clips

    def counting(self, clips, names):
        computed.extend(names)
        return original(self, clips, names)

    monkeypatch.setattr(RandomCNNBase, "_transform_clips", counting)
    pipe = make_pipeline(
        short(sr.Temporal, n_frames=47, random_state=0, memory=tmp_path), LinearSVC()
    )
    grid = {"linearsvc__C": [0.1, 1.0, 10.0]}
    GridSearchCV(pipe, grid, cv=StratifiedKFold(3)).fit(X, y)
    entries = list((tmp_path / "skaudio_random_features").rglob("*.f32"))
    assert len(entries) == len(X) == len(computed)


def test_memory_without_int_seed_warns(tmp_path, clips):
    for rs in (None, np.random.RandomState(0)):
        with pytest.warns(UserWarning, match="Pass an int random_state"):
            short(sr.Temporal, random_state=rs, memory=tmp_path).transform(clips[:1])
