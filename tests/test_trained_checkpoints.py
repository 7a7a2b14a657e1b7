"""TrainedNetworkClassifier's checkpoints (what may resume, what is refused) and
training that diverges."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from tests.test_trained import _clf, _clips

# --------------------------------------------------------------------------- #
# a user network that can be "edited" between two fits: same name, same
# parameters, other math (ACTIVATION) or other shapes (N_FILTERS)
# --------------------------------------------------------------------------- #
ACTIVATION = torch.relu
N_FILTERS = 4


class EditableNet(nn.Module):
    input_kind = "waveform"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, N_FILTERS, 9, stride=3)

    def forward(self, x):
        return ACTIVATION(self.conv(x[:, None])).mean(dim=2)


def editable_net():
    return EditableNet()


class NoisyNet(EditableNet):
    def forward(self, x):
        return super().forward(x) + torch.rand(1)  # random even in eval mode


def _tiny(**kw):
    params = dict(network=editable_net, n_samples=300, max_epochs=2, patience=5)
    params.update(kw)
    return _clf(**params)


def test_resume_after_the_network_was_edited_is_refused(tmp_path, monkeypatch):
    X, y = _clips()
    _tiny(checkpoint_dir=tmp_path).fit(X, y)
    monkeypatch.setattr(sys.modules[__name__], "ACTIVATION", torch.tanh)
    with pytest.raises(
        ValueError, match=r"checkpoint of another fit.*network computes something"
    ) as err:
        _tiny(max_epochs=4, checkpoint_dir=tmp_path).fit(X, y)
    assert "checkpoint.pt" in str(err.value)
    # the checkpoint is left as it was: the unedited network still resumes
    monkeypatch.undo()
    assert _tiny(max_epochs=3, checkpoint_dir=tmp_path).fit(X, y).n_epochs_ == 3


def test_resume_after_a_shape_change_is_a_clear_error(tmp_path, monkeypatch):
    X, y = _clips()
    _tiny(checkpoint_dir=tmp_path).fit(X, y)
    monkeypatch.setattr(sys.modules[__name__], "N_FILTERS", 5)
    with pytest.raises(ValueError, match=r"checkpoint\.pt.*delete it"):
        _tiny(max_epochs=4, checkpoint_dir=tmp_path).fit(X, y)


def test_a_nondeterministic_network_cannot_checkpoint(tmp_path):
    X, y = _clips()
    with pytest.raises(ValueError, match=r"checkpoint_dir.*not deterministic"):
        _tiny(network=NoisyNet, checkpoint_dir=tmp_path).fit(X, y)
    assert not (tmp_path / "checkpoint.pt").exists()
    _tiny(network=NoisyNet).fit(X, y)  # without checkpoints it trains


def _write_marker(path):
    with open(path, "w") as f:
        f.write("code ran")
    return "fingerprint"


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return _write_marker, (str(self.marker),)


def test_a_crafted_checkpoint_runs_no_code(tmp_path):
    X, y = _clips()
    marker = tmp_path / "marker"
    torch.save(
        {"format": 2, "fingerprint": _Payload(marker)}, tmp_path / "checkpoint.pt"
    )
    with pytest.raises(ValueError, match=r"checkpoint\.pt.*not loaded.*delete it"):
        _tiny(checkpoint_dir=tmp_path).fit(X, y)
    assert not marker.exists()


def test_a_checkpoint_loads_as_weights_only(tmp_path):
    X, y = _clips()
    _tiny(checkpoint_dir=tmp_path).fit(X, y)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["state"]["epoch"] == 2


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path):
    X, y = _clips()
    _tiny(checkpoint_dir=tmp_path).fit(X, y)
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cannot read .*checkpoint\.pt.*delete it"):
        _tiny(max_epochs=4, checkpoint_dir=tmp_path).fit(X, y)


def test_a_checkpoint_of_another_format_is_a_clear_error(tmp_path):
    X, y = _clips()
    torch.save({"format": 99}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"checkpoint\.pt.*format 99.*delete it"):
        _tiny(checkpoint_dir=tmp_path).fit(X, y)


def test_max_epochs_below_the_epochs_done_is_refused(tmp_path):
    X, y = _clips()
    _tiny(max_epochs=3, validation_fraction=0, checkpoint_dir=tmp_path).fit(X, y)
    with pytest.raises(ValueError, match=r"checkpoint\.pt.*3 epochs.*max_epochs=2"):
        _tiny(max_epochs=2, validation_fraction=0, checkpoint_dir=tmp_path).fit(X, y)
    # as many epochs as done: the fit as it is
    again = _tiny(max_epochs=3, validation_fraction=0, checkpoint_dir=tmp_path)
    assert again.fit(X, y).n_epochs_ == 3


_FACTORY = """
import functools
from torch import nn

def net(nf=4):
    return nn.Sequential(nn.Conv1d(96, nf, 3), nn.ReLU(), nn.Conv1d(nf, nf, 3))

half = functools.partial(net, nf=2)
"""

_FIT = """
import sys
sys.path.insert(0, sys.argv[1])
import mynets
from tests.test_trained import _clf, _clips

X, y = _clips(n_per_class=2)
for name in ("net", "half"):
    clf = _clf(getattr(mynets, name), width=8, max_epochs=int(sys.argv[2]),
               validation_fraction=0, checkpoint_dir=f"{sys.argv[1]}/{name}")
    print(name, clf.fit(X, y).n_epochs_)
"""


def test_a_factory_resumes_in_a_new_process(tmp_path):
    (tmp_path / "mynets.py").write_text(_FACTORY)

    def fit(max_epochs):
        run = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_FIT), str(tmp_path), max_epochs],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        return run.stdout.split()

    assert fit("2") == ["net", "2", "half", "2"]
    assert fit("4") == ["net", "4", "half", "4"]


# --------------------------------------------------------------------------- #
# divergence
# --------------------------------------------------------------------------- #
def test_diverging_training_is_an_error():
    X, y = _clips()
    with pytest.raises(ValueError, match=r"epoch 1.*not finite.*lower lr"):
        _clf(lr=1e6, max_epochs=3).fit(X, y)


def test_diverging_training_saves_no_checkpoint_of_it(tmp_path):
    X, y = _clips()
    with pytest.raises(ValueError, match=r"epoch 1.*not finite"):
        _clf(lr=1e6, max_epochs=3, checkpoint_dir=tmp_path).fit(X, y)
    assert not (tmp_path / "checkpoint.pt").exists()  # no epoch ended finite


def test_finite_training_is_not_flagged():
    X, y = _clips()
    clf = _clf(max_epochs=2).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()
    assert all(np.isfinite(h["train_loss"]) for h in clf.history_)
