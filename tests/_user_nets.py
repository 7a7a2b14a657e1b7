"""Networks of "a user's own package", for ``module:factory`` paths in CLI tests."""

from torch import nn


def small_net(nf=4):
    """Two 1-D convolutions over the log-mel bands; ``nf`` filters each."""
    return nn.Sequential(
        nn.Conv1d(96, nf, 3), nn.ReLU(), nn.Conv1d(nf, nf, 3), nn.ReLU()
    )


NOT_A_FACTORY = 3
