"""
Grid search with the paper's grids and the fast SVM path
========================================================

Pons & Serra tune their classifiers with scikit-learn's
:class:`~sklearn.model_selection.GridSearchCV`: 32 SVM settings (RBF kernel with
7 gammas x 4 Cs, then a linear kernel with the same Cs) and 6 ELM hidden-layer
sizes. :func:`~skaudio_random.paper_svm_grid` and
:func:`~skaudio_random.paper_elm_grid` return those grids in the paper's order
(ties go to the first best point, as in the paper).

This example shows three things on the shipped spoken digits:

1. a CNN transformer inside the searched pipeline, with a feature cache
   (``memory``) so that each clip goes through the network once, not once per
   grid point and fold;
2. the fast SVM path, :func:`~skaudio_random.make_kernel_svc`, which computes the
   kernel once and shares it across C, gamma and folds, against a plain
   ``SVC`` grid: same selection, same scores;
3. a heat map of the SVM grid.
"""

# %%
# 1. The ELM grid over a pipeline that starts with the CNN. The cache folder
# makes the features of every clip a one-off computation.
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from skaudio_random import (
    ELMClassifier,
    Vertical7x86,
    load_spoken_digits,
    make_kernel_svc,
    paper_elm_grid,
    paper_svm_grid,
)

digits = load_spoken_digits()
cache = tempfile.TemporaryDirectory()
cnn = Vertical7x86(
    width=120, n_frames=47, fix_length="repeat", random_state=0, memory=cache.name
)
pipe = make_pipeline(cnn, ELMClassifier(random_state=0))
search = GridSearchCV(pipe, paper_elm_grid("elmclassifier__"), cv=digits.cv)
t0 = time.perf_counter()
search.fit(digits.filenames, digits.target)
print(
    f"ELM grid over the pipeline: {time.perf_counter() - t0:.1f} s, "
    f"best {search.best_params_} -> {search.best_score_:.1%}"
)

# %%
# 2. The SVM grid on the feature matrix (read back from the cache): the plain
# ``SVC`` grid and the fast path.
X = cnn.transform(digits.filenames).astype(np.float64)
y = digits.target

t0 = time.perf_counter()
plain = GridSearchCV(SVC(), paper_svm_grid(), cv=digits.cv).fit(X, y)
t_plain = time.perf_counter() - t0

t0 = time.perf_counter()
fast = GridSearchCV(
    make_kernel_svc(device="cpu"), paper_svm_grid(precomputed=True), cv=digits.cv
).fit(X, y)
t_fast = time.perf_counter() - t0

print(
    f"plain SVC grid: {t_plain:.1f} s, best {plain.best_params_} -> "
    f"{plain.best_score_:.1%}"
)
print(
    f"fast kernel grid: {t_fast:.1f} s, best {fast.best_params_} -> "
    f"{fast.best_score_:.1%}"
)
same = np.allclose(
    plain.cv_results_["mean_test_score"], fast.cv_results_["mean_test_score"]
)
print(f"same score at every grid point: {same}")

# %%
# 3. The mean CV accuracy at every RBF point (C x gamma), and the linear kernel.
res = fast.cv_results_
C = [0.1, 2.0, 8.0, 32.0]
gammas = paper_svm_grid()[0]["gamma"]
acc = np.full((len(C), len(gammas)), np.nan)
linear = []
for params, score in zip(res["params"], res["mean_test_score"], strict=True):
    i = C.index(params["svc__C"])
    if params["kernel__kernel"] == "rbf":
        acc[i, gammas.index(params["kernel__gamma"])] = 100 * score
    else:
        linear.append(100 * score)

fig, ax = plt.subplots(figsize=(6.5, 3.2))
im = ax.imshow(acc, cmap="viridis", vmin=0, vmax=100)
ax.set_xticks(
    range(len(gammas)),
    [g if isinstance(g, str) else f"2^{int(np.log2(g))}" for g in gammas],
)
ax.set_yticks(range(len(C)), [str(c) for c in C])
ax.set_xlabel("RBF gamma")
ax.set_ylabel("C")
for i in range(len(C)):
    for j in range(len(gammas)):
        ax.text(
            j, i, f"{acc[i, j]:.0f}", ha="center", va="center", color="w", fontsize=8
        )
ax.set_title(
    "SVM grid, mean CV accuracy (%); linear kernel: "
    + ", ".join(f"{a:.0f}" for a in linear),
    fontsize=9,
)
fig.colorbar(im, ax=ax, shrink=0.8)
fig.tight_layout()
cache.cleanup()

if plt.get_backend().lower() == "agg":  # run as a script without a display
    fig.savefig("grid_search.png")
else:
    plt.show()
