"""
Judging your own architecture before training it
================================================

Pons and Serra's point is that an architecture can be judged before it is
trained: give it random weights, average its feature maps, and see how well a
simple classifier does with them. :class:`~skaudio_random.RandomNetworkFeatures`
applies that rule to any PyTorch network. Here a small network of our own (two
blocks of 3x3 convolutions with average pooling and a 1-D convolution over the
whole spectrum, about fifteen lines) is compared with the paper's VGG and the
MFCC baseline on the 300 spoken digits that ship with the package, each with
the paper's SVM grid on the dataset's five folds.

The network gets the same input as the built-in models (the paper's 96-band
log-mel, 1 s here), the paper's random weights (truncated normal, sigma =
sqrt(2.6 / fan_in), zero biases) drawn from ``random_state``, and its features
are the averages of every convolution block's output, named by
``get_feature_names_out()``.
"""

# %%
# The network: a plain ``nn.Module`` factory. It receives log-mel batches of
# shape (batch, 96, n_frames); its convolution blocks are found automatically.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV
from torch import nn

from skaudio_random import (
    MFCC,
    VGG,
    RandomNetworkFeatures,
    load_audio,
    load_spoken_digits,
    make_kernel_svc,
    paper_svm_grid,
)


class Block(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x):
        return nn.functional.avg_pool2d(torch.relu(self.conv(x)), 2)


class MyNet(nn.Module):
    def __init__(self, nf=16):
        super().__init__()
        self.block1, self.block2 = Block(1, nf), Block(nf, 2 * nf)
        self.spectral = nn.Sequential(nn.Conv1d(96, 2 * nf, 5), nn.ReLU())

    def forward(self, x):  # (batch, 96, n_frames)
        h = self.block2(self.block1(x.unsqueeze(1)))  # (batch, 2nf, 24, n_frames // 4)
        return torch.cat([h.mean((2, 3)), self.spectral(x).mean(2)], dim=1)


# %%
# Three transformers on the same 1 s inputs (short clips are repeated, the
# paper's rule for short sounds).
digits = load_spoken_digits()
clips = [load_audio(f, sr=12000) for f in digits.filenames]
y = digits.target
short = dict(n_frames=47, fix_length="repeat", random_state=0)
models = {
    "my network": RandomNetworkFeatures(MyNet, **short),
    "VGG": VGG(width=120, **short),
    "MFCC": MFCC(fix_length="repeat"),
}
mine = models["my network"]
names = mine.get_feature_names_out()
print(f"my network: {len(names)} features, from {names[0]} to {names[-1]}")

# %%
# Features, then the paper's SVM grid (the kernel is computed once and shared
# by the grid points and the folds).
scores = {}
for name, transformer in models.items():
    X = transformer.transform(clips).astype(np.float64)
    svm = GridSearchCV(
        make_kernel_svc(device="cpu"),
        paper_svm_grid(precomputed=True),
        cv=digits.cv,
        refit=False,
    ).fit(X, y)
    scores[name] = svm.best_score_
    print(f"{name:>12s}: {X.shape[1]:4d} features, SVM accuracy {svm.best_score_:.3f}")

# %%
# The comparison.
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(list(scores), list(scores.values()), color=["C2", "C0", "C7"])
ax.axhline(0.1, color="k", lw=0.8, ls=":", label="chance")
ax.set_ylabel("5-fold accuracy (SVM, paper grid)")
ax.set_ylim(0, 1)
ax.set_title("Random-weight features of the spoken digits")
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig("your_own_architecture.png", dpi=100)
