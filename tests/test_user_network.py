"""A user's own network judged the paper's way: RandomNetworkFeatures end to end.

The networks are defined here, at module level, so that a fresh process can
import them (``tests.test_user_network:...``) when it unpickles a transformer.
"""

import functools
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from torch import nn

import skaudio_random as sr
from skaudio_random import RandomNetworkFeatures, resolve_model
from skaudio_random.architectures import ARCHITECTURES
from skaudio_random.architectures._blocks import TRUNCATED_STD_RATIO
from skaudio_random.architectures._network import default_layers

ROOT = Path(__file__).resolve().parents[1]


class ConvBlock(nn.Module):
    """Two 3x3 convolutions, ReLU, 2x2 average pooling (a PANNs-style block)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return nn.functional.avg_pool2d(x, 2)


class TinyNet(nn.Module):
    """Three blocks on the log-mel image and a classifier head that is never used."""

    def __init__(self, channels=4, kernel=3):
        super().__init__()
        self.block1 = ConvBlock(1, channels)
        self.block2 = ConvBlock(channels, 2 * channels)
        self.time = nn.Sequential(nn.Conv1d(96, channels, kernel), nn.ReLU())
        self.head = nn.Linear(2 * channels, 10)

    def forward(self, x):  # (batch, 96, n_frames)
        t = self.time(x)
        h = self.block2(self.block1(x.unsqueeze(1)))  # (batch, 2c, 24, n_frames // 4)
        return self.head(h.mean((2, 3)) + 0 * t.mean())


def tiny_net(nf=4):
    return TinyNet(channels=nf)


def wave_net():
    return nn.Sequential(
        nn.Conv1d(1, 6, 9, stride=3),
        nn.ReLU(),
        nn.MaxPool1d(3),
        nn.Conv1d(6, 6, 9),
        nn.ReLU(),
    )


class Unsqueeze(nn.Module):
    def forward(self, x):
        return x.unsqueeze(1)  # (batch, 1, n_samples)


def waveform_net():
    return nn.Sequential(Unsqueeze(), wave_net())


def vertical_user():
    return nn.Sequential(nn.Conv1d(96, 160, 7, bias=False), nn.ReLU())


def not_a_module():
    return "a string"


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(96 * 40, 5))


class Explodes(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(96, 3, 3)

    def forward(self, x):
        return self.conv(x) / 0.0


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(3)
    return (0.1 * rng.standard_normal((6, 12000))).astype(np.float32)


def make(**params):
    return RandomNetworkFeatures(
        **{
            "network": tiny_net,
            "n_frames": 40,
            "device": "cpu",
            "random_state": 0,
            **params,
        }
    )


# ----------------------------------------------------------------------- transform
def test_transform_features_and_names(clips):
    est = make()
    feats = est.transform(clips)
    names = est.get_feature_names_out()
    # default blocks: block1, block2 (convs as direct children), time.1 (the
    # ReLU after the Sequential's conv); the head is no block
    assert [n.rsplit("_", 1)[0] for n in names[::4]] == [
        "block1",
        "block2",
        "block2",
        "time.1",
    ]
    assert feats.shape == (6, 4 + 8 + 4) == (6, len(names))
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    assert np.array_equal(feats, make().transform(clips))  # deterministic
    assert np.array_equal(feats[2:4], make().transform(clips[2:4]))  # batch-independent
    assert not np.array_equal(feats, make(random_state=1).transform(clips))


def test_features_are_the_channel_means_of_the_named_maps(clips):
    est = make(layers=["block2"])
    feats = est.transform(clips[:2])
    x = torch.stack([est._prepare_mel(y, "y") for y in clips[:2]])
    net = est._network.net
    h = net.block2(net.block1(x.unsqueeze(1)))
    assert np.allclose(feats, h.mean((2, 3)).numpy(), rtol=1e-5, atol=1e-7)


def test_paper_initialisation():
    est = make(network_params={"nf": 64}).fit([np.zeros(12000, np.float32)])
    net = est._network.net
    for m in (net.block2.conv2, net.time[0], net.head):
        w = m.weight
        sigma = math.sqrt(2.6 / w[0].numel())
        assert abs(w.std().item() / (TRUNCATED_STD_RATIO * sigma) - 1) < 0.05
        assert w.abs().max().item() <= 2 * sigma
        assert torch.count_nonzero(m.bias) == 0
    own = make(network_params={"nf": 64}, init="network").fit(
        [np.zeros(12000, np.float32)]
    )
    assert torch.count_nonzero(own._network.net.head.bias) > 0
    again = make(network_params={"nf": 64}, init="network").fit(
        [np.zeros(12000, np.float32)]
    )
    assert torch.equal(own._network.net.head.bias, again._network.net.head.bias)


def test_a_user_network_equal_to_a_builtin_gives_its_features(clips):
    """Vertical 7x96 rewritten by a user: same draw, same averages, same numbers."""
    user = RandomNetworkFeatures(
        functools.partial(nn.Conv1d, 96, 160, 7, bias=False),
        layers=[""],
        n_frames=40,
        device="cpu",
        random_state=5,
    )
    builtin = sr.Vertical7x96(n_frames=40, device="cpu", random_state=5)
    relu = RandomNetworkFeatures(
        vertical_user, n_frames=40, device="cpu", random_state=5
    )
    ref = builtin.transform(clips)
    assert np.allclose(relu.transform(clips), ref, rtol=1e-4, atol=1e-6)
    assert not np.allclose(user.transform(clips), ref)  # before the ReLU


def test_waveform_input_and_width(clips):
    est = RandomNetworkFeatures(
        waveform_net, input="waveform", n_samples=12000, device="cpu", random_state=0
    )
    assert est.transform(clips).shape == (6, 12)
    # width: nf chosen on the meta device (TinyNet gives 4 * nf features)
    assert len(make(width=40).get_feature_names_out()) == 40
    assert len(make(width=42).get_feature_names_out()) == 40


def test_default_layers_rule():
    seq = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2, 2, 3),
        nn.ELU(),
        nn.Flatten(),
        nn.Linear(2, 2),
    )
    assert default_layers(seq) == ["2", "6"]

    class Listed(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList([nn.Conv1d(1, 1, 3)])

    assert default_layers(Listed()) == [""]
    assert default_layers(TinyNet()) == ["block1", "block2", "time.1"]
    assert default_layers(nn.Linear(2, 2)) == []


# ----------------------------------------------------------------------- sklearn
def test_clone_pipeline_and_grid_search(clips):
    y = np.repeat([0, 1], 3)
    est = make(network_params={"nf": 2})
    assert clone(est).get_params() == est.get_params()
    assert "tiny_net" in repr(est)
    pipe = make_pipeline(est, SVC())
    grid = GridSearchCV(
        pipe,
        {
            "randomnetworkfeatures__network_params": [{"nf": 2}, {"nf": 3}],
            "svc__C": [1, 10],
        },
        cv=StratifiedKFold(3),
    )
    grid.fit(list(clips), y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.predict(list(clips)).shape == (6,)


def test_pickle_in_a_fresh_process(clips, tmp_path):
    est = make()
    expected = est.transform(clips)
    (tmp_path / "est.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "clips.npy", clips)
    code = (
        "import pickle, sys, numpy as np\n"
        "est = pickle.load(open(sys.argv[1] + '/est.pkl', 'rb'))\n"
        "X = np.load(sys.argv[1] + '/clips.npy')\n"
        "np.save(sys.argv[1] + '/out.npy', est.transform(X))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        check=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert np.array_equal(np.load(tmp_path / "out.npy"), expected)


def test_cache_key_follows_the_structure(clips, tmp_path):
    def folders():
        root = tmp_path / "skaudio_random_features"
        return {p.name for p in root.iterdir()} if root.exists() else set()

    first = make(memory=tmp_path).transform(clips)
    assert len(folders()) == 1
    assert np.array_equal(make(memory=tmp_path).transform(clips), first)
    assert len(folders()) == 1  # same network: same key, features read back
    before = folders()
    # same factory, another structure: a new key, new features
    other = make(
        memory=tmp_path,
        network_params={
            "nf": 4,
        },
        layers=["block1"],
    )
    assert other.transform(clips).shape == (6, 4)
    assert len(folders()) == 2
    make(memory=tmp_path, network=functools.partial(tiny_net, 3)).transform(clips)
    assert len(folders()) == 3

    # a local factory (not hashable by pickle) still gets a key
    def local():
        return TinyNet(kernel=5)

    make(memory=tmp_path, network=local).transform(clips)
    assert len(folders()) == 4 and before < folders()


def test_structure_digest_changes_with_the_structure():
    keys = [
        make(network=f).fit([np.zeros(12000, np.float32)])._cache_key()
        for f in (tiny_net, functools.partial(TinyNet, kernel=5))
    ]
    assert keys[0]["structure"] != keys[1]["structure"]


# ----------------------------------------------------------------------- errors
def test_factory_returning_no_module(clips):
    with pytest.raises(
        TypeError, match=r"network .*not_a_module must return a torch.nn.Module"
    ):
        make(network=not_a_module).transform(clips)


def test_unknown_layer_lists_the_valid_names(clips):
    with pytest.raises(
        ValueError, match=r"tiny_net has no layer 'block9'; valid names: .*'block1'"
    ):
        make(layers=["block9"]).transform(clips)


def test_no_layer_to_average(clips):
    with pytest.raises(
        ValueError, match=r"network .*mlp has no convolution block to average"
    ):
        make(network=mlp).transform(clips)
    with pytest.raises(ValueError, match="no layer to average"):
        make(layers=[]).transform(clips)


def test_input_too_short_states_the_minimum(clips):
    # two 2x2 pools: 4 frames at least; the 3-frame time conv needs 3
    with pytest.raises(
        ValueError,
        match=r"n_frames=3 is too short for network .*tiny_net, "
        r"which needs at least 4",
    ):
        make(n_frames=3).transform(clips)
    est = RandomNetworkFeatures(
        waveform_net, input="waveform", n_samples=50, device="cpu"
    )
    # conv 9 stride 3, pool 3, conv 9: (L - 9) // 3 + 1 >= 3 * 9 samples
    with pytest.raises(
        ValueError, match=r"n_samples=50 is too short .*needs at least 87\b"
    ):
        est.transform(clips)


def test_non_finite_outputs_name_the_layer(clips):
    with pytest.raises(
        ValueError, match=r"layer '' of network .*Explodes gives non-finite"
    ):
        make(network=Explodes, layers=[""]).transform(clips)


def lazy():
    return nn.Sequential(nn.LazyConv1d(2, 3), nn.ReLU())


def test_lazy_modules_are_rejected(clips):
    with pytest.raises(ValueError, match=r"network .*lazy has lazy .*parameters"):
        make(network=lazy).transform(clips)


def test_network_must_be_callable(clips):
    with pytest.raises(ValueError, match="network"):
        make(network="tiny_net").transform(clips)


# ----------------------------------------------------------------------- resolve
def test_resolve_model():
    for spec in ARCHITECTURES.values():
        assert resolve_model(spec.name) is getattr(sr, spec.class_name)
        assert resolve_model(spec.class_name) is getattr(sr, spec.class_name)
    assert resolve_model("mfcc") is sr.MFCC
    factory = resolve_model("tests.test_user_network:tiny_net")
    est = factory(n_frames=40, random_state=0)
    assert isinstance(est, RandomNetworkFeatures) and est.network is tiny_net
    assert resolve_model("skaudio_random:VGG") is sr.VGG
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        resolve_model("nope")
    with pytest.raises(ValueError, match="cannot import module"):
        resolve_model("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="has no attribute"):
        resolve_model("tests.test_user_network:missing")


# ----------------------------------------------------------------------- README
def readme_snippet():
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    section = text.split("Evaluate your own architecture\n---")[1]
    block = section.split(".. code-block:: python\n\n")[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


def test_readme_snippet_runs(capsys):
    code = readme_snippet()
    assert "RandomNetworkFeatures(" in code
    exec(compile(code, "README.rst", "exec"), {"__name__": "readme"})
    names, score = capsys.readouterr().out.strip().splitlines()
    assert names == "['3_000' '6_031']"
    assert 0.3 < float(score) <= 1.0  # chance is 0.1


# ----------------------------------------------------------------------- study
def write_tones(root, n_per_class=4):
    """``root/<class>/clip<k>.wav``: 0.5 s tones at 12 kHz, one pitch per class."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(6000) / 12000
    for name, f in (("low", 220.0), ("high", 2500.0)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(n_per_class):
            y = 0.3 * np.sin(2 * np.pi * f * (1 + 0.05 * k) * t)
            y += 0.05 * rng.standard_normal(t.size)
            sf.write(root / name / f"clip{k}.wav", y.astype(np.float32), 12000)
    return sr.load_audio_folder(root, n_splits=2)


def no_width_net():
    return nn.Sequential(nn.Conv1d(96, 5, 3), nn.ReLU())


def test_run_study_with_a_user_network(tmp_path, monkeypatch):
    from skaudio_random.study import run_study

    data = write_tones(tmp_path / "tones", n_per_class=3)
    kw = dict(
        widths=[8, 16],
        runs=1,
        classifiers=["svm"],
        nested=False,
        figures=False,
        device="cpu",
        verbose=False,
        transformer_params={"n_frames": 24, "n_samples": 6000},
    )
    instance = RandomNetworkFeatures(tiny_net, layers=["block1", "block2"])
    models = ["vgg", "mfcc", "tests.test_user_network:tiny_net", instance]
    with pytest.raises(ValueError, match="duplicates: two models labelled 'tiny_net'"):
        run_study(data, models=models, out=tmp_path / "dup", **kw)

    seen = []  # (network, width, random_state, n_frames, fix_length) per transform
    original = RandomNetworkFeatures.transform

    def spy(self, X):
        p = self.get_params()
        seen.append(
            (
                p["network"],
                p["width"],
                p["random_state"],
                p["n_frames"],
                p["fix_length"],
            )
        )
        return original(self, X)

    monkeypatch.setattr(RandomNetworkFeatures, "transform", spy)
    models = {"vgg": "vgg", "mfcc": "mfcc", "tiny": tiny_net, "blocks": instance}
    models["flat"] = no_width_net
    result = run_study(data, models=models, out=tmp_path / "out", **kw)

    rows = {(r["model"], r["width"], r["run"]): r for r in result.rows}
    for label in ("tiny", "blocks", "flat", "vgg"):
        assert {(label, w, 0) for w in (8, 16)} <= set(rows)
    # the width, the run's seed and the shared settings reach the user networks
    assert (tiny_net, 8, 0, 24, "repeat") in seen
    assert (tiny_net, 16, 0, 24, "repeat") in seen
    assert (no_width_net, None, 0, 24, "repeat") in seen  # no nf: no width
    for width in (8, 16):
        want = RandomNetworkFeatures(tiny_net, width=width, n_frames=24)
        assert rows[("tiny", width, 0)]["n_features"] == len(
            want.get_feature_names_out()
        )
        blocks = clone(instance).set_params(width=width, n_frames=24)
        assert rows[("blocks", width, 0)]["n_features"] == len(
            blocks.get_feature_names_out()
        )
    # no nf argument: built as it is, the same features at every width
    assert (
        rows[("flat", 8, 0)]["n_features"] == rows[("flat", 16, 0)]["n_features"] == 5
    )
    assert rows[("flat", 8, 0)]["score"] == rows[("flat", 16, 0)]["score"]
    report = (tmp_path / "out" / "results.md").read_text()
    assert all(label in report for label in ("tiny", "blocks", "flat"))

    # study.json identifies the user networks; a rerun may add runs of one
    identity = json.loads((tmp_path / "out" / "study.json").read_text())
    assert set(identity["models"]) == {"tiny", "blocks", "flat"}
    assert set(identity["models"]["tiny"]["structure"]) == {"8", "16"}
    seen.clear()
    again = run_study(
        data, models={"tiny": tiny_net}, out=tmp_path / "out", **{**kw, "runs": 2}
    )
    assert again.n_reused == 2 and again.n_computed == 2
    assert {(s[1], s[2]) for s in seen} == {(8, 1), (16, 1)}
    # another network under a known label is another study
    with pytest.raises(ValueError, match=r"model 'tiny' is .*no_width_net, was"):
        run_study(data, models={"tiny": no_width_net}, out=tmp_path / "out", **kw)
    # the same factory with another structure: the digest tells
    monkeypatch.setattr(nn.Conv1d, "__repr__", lambda self: "Conv1d(changed)")
    with pytest.raises(ValueError, match=r"model 'flat': the network's structure"):
        run_study(data, models={"flat": no_width_net}, out=tmp_path / "out", **kw)


# ----------------------------------------------------------------------- frames
def test_frame_level_features_of_a_user_network(clips):
    """The time grid comes from the network's map shapes on the meta device."""
    from skaudio_random.architectures._network import time_grids

    relu = RandomNetworkFeatures(
        vertical_user, n_frames=40, device="cpu", random_state=5
    )
    builtin = sr.Vertical7x96(n_frames=40, device="cpu", random_state=5)
    mine = relu.transform_frames(clips[:2], window=0.2, hop=0.1)
    ref = builtin.transform_frames(clips[:2], window=0.2, hop=0.1)
    np.testing.assert_allclose(mine.times, ref.times)
    np.testing.assert_allclose(mine.features, ref.features, rtol=1e-4, atol=1e-6)
    # 2-D maps with time on the last axis, pooled: frame j spans [2j, 2j + 1]
    est = make(width=None)
    meta, layout = est._describe(())
    grids = time_grids(meta, layout.layers, "mel", 41, "tiny")
    assert grids["block1"] == (3, 0.5, 2.0) and grids["block2"] == (3, 1.5, 4.0)
    assert grids["time.1"] == (2, 1.0, 1.0)  # a valid 3-frame convolution
    # a window over the whole input gives the clip's features
    whole = est.transform_frames(clips[:2], window=10.0, hop=10.0)
    np.testing.assert_allclose(
        whole.features[:, 0], est.transform(clips[:2]), atol=1e-5
    )
