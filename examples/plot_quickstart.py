"""
Quickstart: random CNN features and an ELM in a pipeline
========================================================

A randomly weighted CNN is a fit-less scikit-learn transformer: its weights are
drawn once from ``random_state`` and never trained (Pons & Serra, "Randomly
weighted CNNs for (music) audio classification", ICASSP 2019). Put it in a
:class:`~sklearn.pipeline.Pipeline` in front of a classifier, here the paper's
Extreme Learning Machine, and train the whole thing with ``fit``, like any
scikit-learn model.

The data are the spoken digits that ship with the package (300 short
recordings, ten classes), so this runs offline in a few seconds. The paper feeds
29 s of music to its networks; spoken digits last under 1.2 s, so each clip is
repeated to 47 log-mel frames (1 s at 12 kHz) instead of the paper's 1376.
"""

# %%
# Load the shipped data: file paths and labels.
import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skaudio_random import ELMClassifier, Vertical7x96, load_spoken_digits

digits = load_spoken_digits()
X_train, X_test, y_train, y_test = train_test_split(
    digits.filenames,
    digits.target,
    test_size=0.3,
    stratify=digits.target,
    random_state=0,
)
print(f"{len(X_train)} training and {len(X_test)} test clips")

# %%
# The pipeline: one layer of 7x96 random filters spanning all mel bands (160
# features, the paper's small width) followed by an ELM with 1200 random hidden
# units. ``fit`` decodes the files, computes the features and solves the ELM's
# output layer; the CNN itself learns nothing.
#
# The ELM fits its output layer with a pseudo-inverse and no regularisation,
# as in the paper, so it does worst when ``n_hidden`` is close to the number of
# training clips (here 210), where it interpolates the training labels; the
# paper picks ``n_hidden`` with a grid search (see the grid-search example).
model = make_pipeline(
    Vertical7x96(width=120, n_frames=47, fix_length="repeat", random_state=0),
    ELMClassifier(n_hidden=1200, random_state=0),
)
model.fit(X_train, y_train)
print(f"test accuracy: {model.score(X_test, y_test):.1%}")

# %%
# Which digits get confused?
disp = ConfusionMatrixDisplay.from_estimator(
    model, X_test, y_test, display_labels=digits.target_names, colorbar=False
)
disp.ax_.set_title("Random 7x96 CNN + ELM on spoken digits")
plt.tight_layout()

if plt.get_backend().lower() == "agg":  # run as a script without a display
    plt.savefig("quickstart.png")
else:
    plt.show()
