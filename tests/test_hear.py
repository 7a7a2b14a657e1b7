"""The HEAR API (skaudio_random.hear), with the official validator's checks.

hear-validator does not install on this Python; the checks below reproduce
those of ``hearvalidator/validate.py``: a torch module with an allowed
``sample_rate`` and int embedding sizes; timestamp embeddings for 2 sounds of
1.07 and 1.98 s (3-D float32, timestamps 2-D matching, regular spacing within
1 ms, at most 50 ms, ending within two hops of the end and never past it);
scene embeddings float32 (n_sounds, scene_embedding_size).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skaudio_random import hear
from skaudio_random._resolve import model_names

VALIDATOR_RATES = (16000, 22050, 44100, 48000)


def _validate_timestamps(model, n_sounds, length):
    audio = torch.rand((n_sounds, int(length * model.sample_rate))) * 2 - 1
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert isinstance(emb, torch.Tensor) and emb.dtype == torch.float32
    emb, ts = emb.numpy(), ts.numpy()
    assert emb.ndim == 3 and ts.ndim == 2
    assert emb.shape[0] == n_sounds and emb.shape[:2] == ts.shape
    assert emb.shape[2] == model.timestamp_embedding_size
    assert ts.shape[1] > 1
    diff = np.diff(ts)
    avg = diff.mean()
    assert diff.max() <= 50.0
    assert np.abs(diff - avg).max() <= 1
    assert ts.min() <= avg
    assert ts.max() >= 1000 * length - 2 * avg
    assert ts.max() <= 1000 * length
    assert np.isfinite(emb).all()
    return audio, emb


@pytest.mark.parametrize("name", model_names())
def test_validator_checks(name):
    # the checks are on shapes, types, timestamps and batches: any width will
    # do, and 8 keeps CNN14 quick
    model = hear.load_model(model=name, width=8, sample_rate=16000)
    assert isinstance(model, torch.nn.Module)
    model.to("cpu")
    assert model.sample_rate in VALIDATOR_RATES
    assert isinstance(model.scene_embedding_size, int)
    assert isinstance(model.timestamp_embedding_size, int)
    for length in (1.07, 1.98):
        audio, emb = _validate_timestamps(model, 2, length)
    scene = hear.get_scene_embeddings(audio, model)
    assert isinstance(scene, torch.Tensor) and scene.dtype == torch.float32
    assert scene.shape == (2, model.scene_embedding_size)
    # batch consistency: a sound alone gives what it gives in a batch
    alone_emb, _ = hear.get_timestamp_embeddings(audio[1:], model)
    np.testing.assert_allclose(alone_emb[0].numpy(), emb[1], rtol=1e-5, atol=1e-5)
    alone = hear.get_scene_embeddings(audio[1:], model)
    np.testing.assert_allclose(alone[0].numpy(), scene[1].numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rate", hear.SAMPLE_RATES)
def test_every_hear_rate_and_short_sounds(rate):
    model = hear.load_model(model="vertical_7x86", width=40, sample_rate=rate)
    audio = torch.rand((1, int(0.04 * rate))) * 2 - 1  # shorter than 7 frames
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert ts.numpy().max() <= 40.0 and emb.shape[1] == ts.shape[1] == 1
    assert hear.get_scene_embeddings(audio, model).shape == (1, 40)


def test_resampled_scene_embeddings_match_the_transformer():
    model = hear.load_model(model="timbral", width=40, sample_rate=48000)
    t = np.arange(48000) / 48000
    audio = torch.tensor(0.5 * np.sin(2 * np.pi * 440 * t), dtype=torch.float32)[None]
    y12 = 0.5 * np.sin(2 * np.pi * 440 * np.arange(12000) / 12000)
    expected = model.transformer.transform([y12.astype(np.float32)])
    got = hear.get_scene_embeddings(audio, model).numpy()
    np.testing.assert_allclose(got, expected, rtol=0.02, atol=0.02 * expected.max())


def test_model_file_from_train(tmp_path):
    from sklearn.pipeline import Pipeline

    from skaudio_random._cli_model import save_model_file
    from skaudio_random.features import Vertical7x86

    est = Vertical7x86(width=40, random_state=3)
    save_model_file(tmp_path / "m.joblib", {"pipeline": Pipeline([("features", est)])})
    model = hear.load_model(str(tmp_path / "m.joblib"))
    assert model.transformer.random_state == 3
    assert model.scene_embedding_size == 40


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_rate": 8000}, "sample_rate must be one of"),
        ({"hop": 0.1}, "hop must be in"),
        ({"model": "nope"}, "unknown model 'nope'"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hear.load_model(**{"width": 40, **kwargs})


@pytest.mark.parametrize(
    ("audio", "match"),
    [
        (np.zeros((1, 16000), np.float32), "must be a torch.Tensor"),
        (torch.zeros(16000), "must be a torch.Tensor of shape"),
        (torch.zeros((1, 16000), dtype=torch.int16), "floating-point"),
        (torch.full((1, 16000), float("nan")), "NaN"),
    ],
)
def test_bad_audio(audio, match):
    model = hear.load_model(model="vertical_7x86", width=40)
    with pytest.raises(ValueError, match=match):
        hear.get_scene_embeddings(audio, model)


def test_a_user_network_by_import_path():
    """HEAR's model option takes a module:factory path (it crashed before)."""
    from skaudio_random import RandomNetworkFeatures
    from tests._user_nets import small_net

    model = hear.load_model(model="tests._user_nets:small_net", width=8)
    assert model.scene_embedding_size == model.timestamp_embedding_size == 8
    audio = torch.zeros(2, 16000).uniform_(-0.1, 0.1)
    scene = hear.get_scene_embeddings(audio, model)
    want = RandomNetworkFeatures(small_net, width=8, fix_length="none", random_state=0)
    y, _ = model.resample(audio)
    np.testing.assert_allclose(scene.numpy(), want.transform(y), rtol=1e-5, atol=1e-6)
    emb, times = hear.get_timestamp_embeddings(audio, model)
    assert emb.shape[:2] == times.shape and emb.shape[2] == 8
