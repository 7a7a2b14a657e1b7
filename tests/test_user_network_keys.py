"""User networks: the caller's data, cache keys that follow the math, determinism,
widths a factory can reach, memory estimates and what is a network factory."""

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from skaudio_random import RandomNetworkFeatures, resolve_model
from skaudio_random.architectures import closest_nf
from skaudio_random.architectures._network import NondeterministicNetworkError
from tests import _user_nets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(5)
    return [(0.1 * rng.standard_normal(6000)).astype(np.float32) for _ in range(3)]


def features(network, clips, **params):
    params = {"n_frames": 16, "device": "cpu", "random_state": 0, **params}
    return RandomNetworkFeatures(network, **params).transform(clips)


# ----------------------------------------------------------------- item 3
class MutatesInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 9)

    def forward(self, x):
        x.mul_(2.0)  # in place: must not reach the caller's arrays
        return self.conv(x.unsqueeze(1))


@pytest.mark.parametrize("as_array", [False, True])
def test_a_network_writing_into_its_input_leaves_the_callers_data(clips, as_array):
    X = np.stack(clips) if as_array else [c.copy() for c in clips]
    before = [np.array(c, copy=True) for c in X]
    est = RandomNetworkFeatures(
        MutatesInput, input="waveform", n_samples=6000, layers=[""], device="cpu"
    )
    est.transform(X)
    est.transform_frames(X, window=0.1, hop=0.1)
    for got, want in zip(X, before, strict=True):
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------- item 4
class Scale(nn.Module):
    """A constructor argument that repr() does not show."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor
        self.conv = nn.Conv1d(96, 4, 3)

    def forward(self, x):
        return torch.relu(self.conv(x)) * self.factor


class Apply(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.conv = nn.Conv1d(96, 4, 3)

    def forward(self, x):
        return self.fn(self.conv(x))


def assert_cache_follows(first, second, clips, tmp_path):
    """``second`` run after ``first`` on the same cache gives its own features."""
    cached_first = features(first, clips, memory=tmp_path)
    cached_second = features(second, clips, memory=tmp_path)
    fresh_second = features(second, clips)
    assert not np.allclose(cached_first, fresh_second)
    np.testing.assert_array_equal(cached_second, fresh_second)


def test_cache_key_sees_two_lambdas_with_other_math(clips, tmp_path):
    assert_cache_follows(
        lambda: Apply(torch.relu), lambda: Apply(torch.tanh), clips, tmp_path
    )


def test_cache_key_sees_a_constructor_argument_repr_hides(clips, tmp_path):
    assert_cache_follows(
        lambda: Scale(2.0),
        lambda: Scale(3.0),
        clips,
        tmp_path,
    )


def test_cache_key_sees_an_edited_module_level_helper(clips, tmp_path, monkeypatch):
    cached = features(_user_nets.UsesHelper, clips, memory=tmp_path)
    monkeypatch.setattr(_user_nets, "activation", torch.tanh)
    fresh = features(_user_nets.UsesHelper, clips)
    assert not np.allclose(cached, fresh)
    np.testing.assert_array_equal(
        features(_user_nets.UsesHelper, clips, memory=tmp_path), fresh
    )


def test_the_same_network_keeps_its_key(clips, tmp_path):
    first = features(lambda: Scale(2.0), clips, memory=tmp_path)
    root = tmp_path / "skaudio_random_features"
    folders = set(root.iterdir())
    np.testing.assert_array_equal(
        features(lambda: Scale(2.0), clips, memory=tmp_path), first
    )
    assert set(root.iterdir()) == folders


class FunctionalDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(96, 4, 3)

    def forward(self, x):
        return nn.functional.dropout(self.conv(x), 0.5)  # training=True


class PythonRandom(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(96, 4, 3)

    def forward(self, x):
        return self.conv(x) * random.random()


class EditsItsWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(96, 4, 3)

    def forward(self, x):
        self.conv.weight.mul_(1.5)
        return self.conv(x)


@pytest.mark.parametrize(
    ("network", "match"),
    [
        (FunctionalDropout, "two forward passes on the same input gave different"),
        (PythonRandom, "two forward passes on the same input gave different"),
        (EditsItsWeights, r"changed .*conv\.weight"),
    ],
)
@pytest.mark.parametrize("method", ["fit", "transform"])
def test_non_deterministic_networks_are_refused(clips, network, match, method):
    est = RandomNetworkFeatures(network, n_frames=16, layers=[""], device="cpu")
    with pytest.raises(NondeterministicNetworkError, match=match):
        getattr(est, method)(clips)
    assert issubclass(NondeterministicNetworkError, ValueError)


# ----------------------------------------------------------------- item 6
def run_python(code: str, timeout: float = 120):
    """``code`` in a fresh interpreter, killed after ``timeout`` (a hang fails)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_capped_factory_says_which_widths_it_reaches():
    code = (
        "from skaudio_random import RandomNetworkFeatures\n"
        "from tests._user_nets import capped\n"
        "try:\n"
        "    RandomNetworkFeatures(capped, width=120).get_feature_names_out()\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert "tests._user_nets.capped" in out.stdout
    assert "width=120" in out.stdout
    assert "64" in out.stdout  # the largest count it reaches
    # below the cap it is an ordinary factory
    assert (
        len(RandomNetworkFeatures(_user_nets.capped, width=40).get_feature_names_out())
        == 40
    )


def test_closest_nf_is_bounded_and_checks_monotonicity():
    code = (
        "from skaudio_random.architectures import closest_nf\n"
        "for f in (lambda nf: min(nf, 64), lambda nf: 7):\n"
        "    try:\n"
        "        closest_nf(f, 1000)\n"
        "    except ValueError as exc:\n"
        "        print('refused:', exc)\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("refused:") == 2
    with pytest.raises(ValueError, match=r"falls|does not grow"):
        closest_nf(lambda nf: max(1, 1000 // nf), 16)
    assert closest_nf(lambda nf: 5 * nf, 121) == 24


def test_a_shrinking_factory_is_refused_with_width():
    with pytest.raises(ValueError, match=r"tests\._user_nets\.shrinking.*width=16"):
        RandomNetworkFeatures(_user_nets.shrinking, width=16).get_feature_names_out()


# ----------------------------------------------------------------- memory
def huge(nf=4):
    return nn.Sequential(nn.Conv1d(96, 1 << 20, 1 << 12), nn.ReLU())  # 1.6 TB


def test_a_network_too_large_fails_with_the_estimate(clips):
    with pytest.raises(MemoryError, match=r"huge.* needs about 1\.[0-9]+ TB"):
        features(huge, clips)


def wide_maps():
    return nn.Sequential(nn.Conv1d(96, 1 << 16, 1), nn.ReLU())


def test_a_network_whose_maps_are_too_large_fails_with_the_estimate(clips):
    match = r"wide_maps, n_frames=100000000\) needs about [0-9.]+ TB"
    with pytest.raises(MemoryError, match=match):
        features(wide_maps, clips, n_frames=10**8, fix_length="repeat")


# ----------------------------------------------------------------- factories
@pytest.mark.parametrize(
    "spec", ["os:system", "collections:OrderedDict", "tests._user_nets:NOT_A_FACTORY"]
)
def test_not_a_network_factory(spec):
    with pytest.raises(ValueError, match=r"is not a network factory \(a callable"):
        resolve_model(spec)


def test_not_a_network_factory_through_hear():
    from skaudio_random.hear import load_model

    with pytest.raises(ValueError, match=r"is not a network factory"):
        load_model(model="os:system")


def test_a_module_instance_is_not_a_factory():
    with pytest.raises(ValueError, match=r"is not a network factory"):
        resolve_model(nn.Conv1d(96, 4, 3))


def test_a_factory_returning_no_module_or_failing(clips):
    def returns_a_string():
        return "a string"

    def raises():
        raise RuntimeError("boom")

    for factory in (returns_a_string, raises):
        with pytest.raises(ValueError, match=r"is not a network factory"):
            features(factory, clips)
    with pytest.raises(ValueError, match=r"is not a network factory"):
        RandomNetworkFeatures(print).fit(clips)  # never called
