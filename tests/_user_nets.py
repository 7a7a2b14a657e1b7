"""Networks of "a user's own package", for ``module:factory`` paths in CLI tests."""

from torch import nn


def small_net(nf=4):
    """Two 1-D convolutions over the log-mel bands; ``nf`` filters each."""
    return nn.Sequential(
        nn.Conv1d(96, nf, 3), nn.ReLU(), nn.Conv1d(nf, nf, 3), nn.ReLU()
    )


NOT_A_FACTORY = 3


def capped(nf=4):
    """A factory whose feature count stops growing at 64 (``min(nf, 64)``)."""
    return nn.Sequential(nn.Conv1d(96, min(nf, 64), 3), nn.ReLU())


def shrinking(nf=4):
    """A factory whose feature count falls as ``nf`` grows."""
    return nn.Sequential(nn.Conv1d(96, max(1, 1000 // nf), 3), nn.ReLU())


def activation(x):
    """A module-level helper that :class:`UsesHelper` calls (tests edit it)."""
    return x.relu()


class UsesHelper(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(96, 4, 3)

    def forward(self, x):
        return activation(self.conv(x))
