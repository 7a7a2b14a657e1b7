"""Cheap predictors of trained accuracy (issue 20, section 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from skaudio_random import cheap_predictors as cp
from skaudio_random.architectures import ARCHITECTURES, count_macs
from skaudio_random.cheap_predictors import (
    cheap_scores,
    flops_per_clip,
    naswot_score,
    parameter_count,
)
from skaudio_random.trained import build_network, prepare_inputs

SR = 12000
N_FRAMES = 40
N_SAMPLES = {"sample_level": 729, "frame_level": 1024, "frame_level_many_shapes": 1024}


def _identity_relu():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
    return net


def _kernel(codes):
    c = np.asarray(codes, dtype=float)
    return c @ c.T + (1 - c) @ (1 - c).T


def test_naswot_hand_computed():
    X = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])
    # codes [1, 0], [1, 1], [0, 0]: K = [[2, 1, 1], [1, 2, 0], [1, 0, 2]], det 4
    assert naswot_score(_identity_relu(), X) == pytest.approx(math.log(4))
    # two layers: codes of both are concatenated (second: relu(-relu(x)) = 0,
    # and relu(x1 + x2))
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 2))
    net.append(nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[2].weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 1.0]]))
        net[2].bias.copy_(torch.tensor([0.0, -1.5]))
    codes = [[1, 0, 0, 0], [1, 1, 0, 1], [0, 0, 0, 0]]
    expected = np.linalg.slogdet(_kernel(codes))[1]
    assert naswot_score(net, X) == pytest.approx(expected)
    assert np.isfinite(expected) and expected != pytest.approx(math.log(4))


class _Functional(nn.Module):
    """The same network, its ReLU called the three functional ways."""

    def __init__(self, how):
        super().__init__()
        self.how = how
        self.conv = nn.Conv1d(1, 3, 5, bias=False)
        self.back = nn.Conv1d(3, 2, 3, bias=False)

    def forward(self, x):
        h = self.conv(x.unsqueeze(1))
        if self.how == "module":
            h = nn.ReLU()(h)
        elif self.how == "relu_":
            h = F.relu_(h)
        else:
            h = h.relu_()
        return torch.relu(self.back(h)).mean(2)


def test_naswot_sees_every_kind_of_relu():
    X = torch.randn(6, 40, generator=torch.Generator().manual_seed(0))
    scores = []
    for how in ("module", "relu_", "method"):
        torch.manual_seed(1)
        scores.append(naswot_score(_Functional(how), X))
    assert scores[0] == scores[1] == scores[2] and np.isfinite(scores[0])


def test_naswot_identical_inputs_is_minus_inf():
    X = torch.tensor([[1.0, -1.0], [1.0, -1.0], [-1.0, -1.0]])
    assert naswot_score(_identity_relu(), X) == -math.inf
    # equal codes from different inputs too
    X = torch.tensor([[1.0, -1.0], [2.0, -3.0], [-1.0, 1.0]])
    assert naswot_score(_identity_relu(), X) == -math.inf


def test_naswot_invariant_to_positive_rescaling():
    X = torch.randn(8, 40, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    net = _Functional("module")
    before = naswot_score(net, X)
    with torch.no_grad():
        net.conv.weight.mul_(7.3)
        net.back.weight.mul_(0.01)
    assert naswot_score(net, X) == before
    with torch.no_grad():
        net.conv.weight.neg_()  # a sign flip changes the codes
    assert naswot_score(net, X) != before


def test_naswot_chunks_give_the_same_kernel(monkeypatch):
    X = torch.randn(5, 60, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    net = _Functional("module")
    whole = naswot_score(net, X)
    monkeypatch.setattr(cp, "_CHUNK_ELEMENTS", 7)  # a chunk of 1 unit
    assert naswot_score(net, X) == whole


def test_naswot_keeps_training_mode():
    net = _identity_relu().train()
    naswot_score(net, torch.randn(3, 2))
    assert net.training


def test_naswot_bad_input():
    net = _identity_relu()
    with pytest.raises(ValueError, match="X must hold at least 2 inputs.*got 1"):
        naswot_score(net, torch.ones(1, 2))
    with pytest.raises(ValueError, match="X holds NaN"):
        naswot_score(net, torch.tensor([[1.0, np.nan], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="applied no rectifier"):
        naswot_score(nn.Linear(2, 2), torch.ones(3, 2))
    flat = nn.Sequential(nn.Flatten(0), nn.ReLU())
    with pytest.raises(ValueError, match=r"to a tensor of shape \(6,\), not to a"):
        naswot_score(flat, torch.ones(3, 2))
    vgg = build_network("vgg", width=8)
    with pytest.raises(
        ValueError, match=r"X must be a batch of mel inputs of shape \(n_clips, 96"
    ):
        naswot_score(vgg, torch.zeros(4, 40))
    wave = build_network("frame_level", width=8)
    with pytest.raises(ValueError, match="X must be a batch of waveform inputs"):
        naswot_score(wave, torch.zeros(4, 96, 1024))
    with pytest.raises(ValueError, match="needs at least 704"):
        naswot_score(wave, torch.zeros(4, 100))


def _tiny_conv_net():
    return nn.Sequential(
        nn.Unflatten(1, (1, -1)),
        nn.Conv1d(1, 6, 4, stride=2),  # (100 - 4) // 2 + 1 = 49 outputs
        nn.ReLU(),
        nn.Conv1d(6, 6, 3, groups=3),  # 47 outputs
        nn.Flatten(),
        nn.Linear(6 * 47, 5),
    )


def test_parameter_count_and_flops_by_hand():
    net = _tiny_conv_net()
    assert parameter_count(net) == (6 * 4 + 6) + (6 * 2 * 3 + 6) + (282 * 5 + 5)
    macs = 6 * 49 * 4 + 6 * 47 * (6 // 3) * 3 + 282 * 5
    assert flops_per_clip(net, "waveform", 100) == 2 * macs
    mel = nn.Sequential(nn.Unflatten(1, (1, 96)), nn.Conv2d(1, 4, (3, 5), (2, 1)))
    assert flops_per_clip(mel, "mel", 12) == 2 * 4 * 47 * 8 * 3 * 5
    # no arithmetic on the network itself: its weights stay on the CPU
    assert next(net.parameters()).device.type == "cpu"


def test_flops_bad_input():
    with pytest.raises(ValueError, match="input_kind must be 'mel' or 'waveform'"):
        flops_per_clip(_tiny_conv_net(), "spectrogram", 100)
    with pytest.raises(ValueError, match="length must be a positive int; got 0"):
        flops_per_clip(_tiny_conv_net(), "waveform", 0)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_builtin_flops_match_the_analytic_count(name):
    spec = ARCHITECTURES[name]
    net = build_network(name, width=40)
    length = N_SAMPLES.get(name, 2048) if spec.input_kind == "waveform" else 64
    shape = (1, length) if spec.input_kind == "waveform" else (1, 96, length)
    assert flops_per_clip(net, spec.input_kind, length) == 2 * sum(
        count_macs(net, shape).values()
    )


def _clips(n=6, seconds=1.0):
    rng = np.random.default_rng(0)
    t = np.arange(int(SR * seconds)) / SR
    return [
        np.sin(2 * np.pi * 200 * (k + 1) * t) + 0.1 * rng.standard_normal(t.size)
        for k in range(n)
    ]


def test_builtin_vgg_scores_real_inputs():
    # VGG's units are ELUs, coded by the sign of their input as ReLUs
    x = prepare_inputs(_clips(), "mel", length=N_FRAMES, sr=SR)
    net = build_network("vgg", width=8, random_state=0)
    score = naswot_score(net, x)
    assert np.isfinite(score)
    assert naswot_score(build_network("vgg", width=8, random_state=0), x) == score


@pytest.mark.parametrize("name", ["sample_level", "timbral_temporal", "cnn14"])
def test_cheap_scores(name):
    n_samples = N_SAMPLES.get(name, 2048)
    s = cheap_scores(name, _clips(), width=8, n_frames=N_FRAMES, n_samples=n_samples)
    net = build_network(name, width=8)
    kind = ARCHITECTURES[name].input_kind
    length = N_FRAMES if kind == "mel" else n_samples
    assert s["parameters"] == parameter_count(net)
    assert s["flops"] == flops_per_clip(net, kind, length)
    assert (s["input_kind"], s["length"], s["n_clips"]) == (kind, length, 6)
    assert np.isfinite(s["naswot"])
