"""Orchestration of a study: features per model, width and run, then the protocol."""

from __future__ import annotations

import datetime
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.utils._param_validation import (
    Hidden,
    Interval,
    StrOptions,
    validate_params,
)
from tqdm.auto import tqdm

from .._cache import resolve_memory_location
from .._names import CLASSIFIERS
from .._utils import resolve_device
from ..kernels import clear_kernel_cache
from ..multi import featurize
from . import _identity, _protocol, _report, _scheduler, _store, _trained
from ._checks import (
    check_data,
    check_names,
    check_svm_params,
    check_transformer_params,
    check_widths,
)
from ._models import StudyModel, default_models, study_models

__all__ = ["run_study"]


@validate_params(
    {
        "data": "no_validation",
        "models": [list, tuple, dict, str, None],
        "widths": ["array-like", Interval(Integral, 1, None, closed="left")],
        "classifiers": [list, tuple, str],
        "runs": [Interval(Integral, 1, None, closed="left")],
        "out": [str, os.PathLike],
        "device": [str, torch.device],
        "n_jobs": [Integral, None],
        "search_jobs": [Interval(Integral, 1, None, closed="left"), None],
        "memory": [None, str, os.PathLike, joblib.Memory],
        "nested": ["boolean"],
        "fast_svm": ["boolean"],
        "verbose": ["verbose"],
        "transformer_params": [dict, None],
        "inner_splits": [Interval(Integral, 2, None, closed="left")],
        "restart": ["boolean"],
        "resume": ["boolean", Hidden(StrOptions({"deprecated"}))],
        "figures": ["boolean"],
        "svm_params": [dict, None],
        "trained": ["boolean"],
        "trained_params": [dict, None],
        "scheduler": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def run_study(
    data,
    *,
    models=None,
    widths=(120, 3500),
    classifiers=("svm", "elm"),
    runs=3,
    out="study_results",
    device="auto",
    n_jobs=None,
    search_jobs=None,
    memory=None,
    nested=True,
    fast_svm=True,
    verbose=True,
    transformer_params=None,
    inner_splits=3,
    restart=False,
    figures=True,
    svm_params=None,
    trained=False,
    trained_params=None,
    scheduler=None,
    resume="deprecated",
):
    """Compare architectures on a dataset with the paper's protocol.

    For every model, width and run ``k`` (``random_state=k`` for the CNN and
    the ELM), the features of every clip are computed once (and cached per clip
    in ``memory``; the models of a run share one decode of each file, see
    :func:`~skaudio_random.featurize`), then the paper's SVM and ELM grids are
    searched over a :class:`~sklearn.pipeline.Pipeline` on the feature matrix
    (no scaling, as in the paper) with the selections and scores of
    :class:`~sklearn.model_selection.GridSearchCV` (same folds, candidate
    order, tie-breaking and refits; a plain loop without its per-candidate
    overhead), and the dataset's protocol decides what is reported (SPEC
    section 5.3):

    - ``data.protocol == "validation"`` (GTZAN): select on the validation
      split of ``data.cv``, fit the selected classifier on the training split
      only, report its accuracy on ``data.test_filenames``. The ELM keeps the
      first ``n_hidden`` with the best validation accuracy, as the paper did.
    - ``data.protocol == "cv"`` (Extended Ballroom, UrbanSound8K, folders):
      report the best grid point's mean accuracy over ``data.cv``, the paper's
      (optimistic) number, and with ``nested=True`` also the nested-CV accuracy
      (an inner grid search on the training folds chooses the
      hyper-parameters), the honest figure.

    Each finished row is appended to ``out/results.csv`` at once, so an
    interrupted study resumes where it stopped when run again with the same
    ``out``. A results folder holds one study: ``out/study.json`` records
    digests of the clips (paths and content), the targets and the folds, and
    every setting that changes a number; a run that differs in any of them
    stops with an error that says what changed (``restart=True`` discards the
    old results). Models, widths, classifiers and runs select rows, so a rerun
    may add some. One study at a time writes to ``out`` (a lock,
    ``out/study.lock``, is held for the whole run). At the end ``results.md``
    (tables of mean ± std over runs with the MFCC baseline and, for the
    paper's datasets, the published numbers),
    ``summary.csv``, ``ttests.csv`` (two-sample t-tests between the pairs the
    paper compares) and one bar chart ``figure_width{W}.png`` per width are
    written.

    Parameters
    ----------
    data : sklearn.utils.Bunch
        A dataset from a ``skaudio_random.datasets`` loader: ``filenames``,
        ``target``, ``cv``, ``protocol``, ``name``, ``fix_length`` and, for the
        validation protocol, ``test_filenames`` and ``test_target``. ``groups``
        (if present) is passed to the splitters.
    models : list or dict, default=None
        Keys of :data:`MODELS` (the architecture registry plus ``"mfcc"``),
        import paths ``"package.module:factory"`` (a network factory or a
        transformer class), transformer classes or instances (e.g.
        ``RandomNetworkFeatures(my_net, layers=[...])``) and network factories
        (wrapped in :class:`~skaudio_random.RandomNetworkFeatures`); see
        :func:`~skaudio_random.resolve_model`. Rows are labelled by name, by
        the import path's attribute (``"mypkg.nets:my_net"`` -> ``"my_net"``)
        or by the factory's or class's name; a dict ``{label: model}`` names
        them itself (two models with one label are an error). A user model
        gets ``random_state=run``, the width (as ``nf`` for a factory that
        takes it first, see :func:`~skaudio_random.network.accepts_width`),
        ``fix_length`` and the shared ``transformer_params`` exactly as a
        built-in does; a factory without an ``nf`` argument is built as it is
        and appears once per width with the same features. ``study.json``
        records each user model's spec, parameters and network structure
        digest, so a changed network is never matched with old rows.
        ``None`` uses :func:`default_models` for ``data.name``.
    widths : sequence of int, default=(120, 3500)
        Feature widths of the CNNs (``120`` and ``3500`` are the paper's; see
        the transformers' ``width``). The MFCC baseline (120 features) is
        computed once and appears in every width's table.
    classifiers : sequence of {"svm", "elm"}, default=("svm", "elm")
        The paper's SVM (32-point grid) and ELM (6 hidden-layer sizes).
    runs : int, default=3
        Runs per model; run ``k`` uses ``random_state=k``. The MFCC features do
        not depend on the seed and the SVM is deterministic, so MFCC + SVM is
        computed once and its row repeated for the other runs.
    out : str or os.PathLike, default="study_results"
        Results folder (created).
    device : str or torch.device, default="auto"
        Where the CNNs, the SVM kernels and the ELM run.
    n_jobs : int, default=None
        Threads decoding audio while the networks run.
    search_jobs : int, default=None
        Worker processes (joblib's loky) running the grid searches of different
        rows at once, each with its share of the cores' threads, while this
        process computes the next features; ``1`` runs them in this process.
        When torch and the BLAS libraries are limited to one thread (e.g.
        ``threadpoolctl.threadpool_limits(1)`` and ``torch.set_num_threads(1)``,
        as the command line's ``--threads 1``), the searches run in threads of
        this process instead, which saves the workers' start-up.
        ``None``: one per CPU core with ``device="cpu"``, one with a GPU. Rows
        are written to ``results.csv`` in the same order either way, and the
        numbers do not depend on it.
    memory : str, os.PathLike or joblib.Memory, default=None
        Per-clip feature cache; ``None`` uses ``out/features``. Point several
        studies at one folder to share features.
    nested : bool, default=True
        Also compute the nested-CV accuracy (``"cv"`` protocol only).
    fast_svm : bool, default=True
        Use :func:`~skaudio_random.make_kernel_svc` (kernels computed once per
        grid search and shared across C, gamma and folds; same results as
        ``SVC``) instead of a plain ``SVC``.
    verbose : bool or int, default=True
        Progress bars over models and clips, one line per finished row and the
        final table.
    transformer_params : dict, default=None
        Extra transformer parameters. Plain keys go to every CNN that has the
        parameter and are ignored by the others, e.g. ``{"n_frames": 94,
        "n_samples": 24000}`` for 2 s inputs instead of the paper's 29 s. A
        model name maps to that model's own parameters, e.g.
        ``{"mfcc": {"delta": "savgol"}}``. MFCC uses whole clips unless told
        otherwise here.
    inner_splits : int, default=3
        Folds of the inner search of the nested CV (stratified; grouped by
        ``data.groups`` when the outer folds keep groups apart, as
        UrbanSound8K's do).
    restart : bool, default=False
        Discard the results in ``out`` (``results.csv``, ``results.md``,
        ``summary.csv``, ``ttests.csv``, the figures, ``study.json``) and start
        over; the cached features are kept and reused. By default the finished
        rows of the same study are kept.
    figures : bool, default=True
        Draw the bar charts (needs matplotlib; skipped with a warning without it).
    svm_params : dict, default=None
        Other :class:`~sklearn.svm.SVC` parameters, e.g. ``{"max_iter": 10**6}``:
        libsvm has no iteration cap by default, and the linear kernel at
        ``C=32`` on unscaled features that separate the classes poorly can take
        minutes per fit. ``None`` keeps the paper's defaults.
    trained : bool, default=False
        Also train every CNN architecture end to end for each width and run
        (:class:`~skaudio_random.trained.TrainedNetworkClassifier`: the same
        input preparation, i.e. ``transformer_params``' ``n_frames`` /
        ``n_samples`` and ``data.fix_length``, ``random_state=run``, on
        ``device``) and score it on the same folds and protocol
        (:func:`~skaudio_random.premise.evaluate_trained`). Its rows have
        ``classifier="trained"`` in ``results.csv`` and resume like the others;
        ``results.md`` gains a "Random vs trained" section: per width, random
        against trained accuracy per architecture, the Spearman and Kendall
        rank correlations across architectures with p-values, and a scatter
        plot ``figure_width{W}_random_vs_trained.png``. MFCC has no trained
        counterpart. Training runs in this process, also with ``scheduler``.
    trained_params : dict, default=None
        Training options of the trained networks, a subset of ``max_epochs``,
        ``patience``, ``lr``, ``batch_size``, ``weight_decay``,
        ``validation_fraction``, ``input_scaling`` and ``conv_bias`` (the classifier's
        defaults otherwise). Part of the study's identity.
    scheduler : str, distributed.Client or Dask cluster, default=None
        Compute on a Dask cluster (needs the ``dask`` extra): an address such
        as ``"tcp://host:8786"``, ``"local"`` or ``"local:N"`` (a
        ``LocalCluster`` of N worker processes, closed at the end), a cluster
        or a client (left running); see
        :func:`skaudio_random.distributed.make_client`. The clips' features are
        computed by :func:`~skaudio_random.distributed.transform_distributed`
        (the networks rebuilt on the workers from their int seeds, each clip
        stored in ``memory``, which must be on storage the workers share), and
        the grid searches run through joblib's dask backend
        (:func:`~skaudio_random.distributed.search_backend`). The numbers are
        those of a local run, so the scheduler is not part of the study's
        identity.
    resume : bool
        Deprecated: use ``restart`` (``resume=False`` is ``restart=True``).

    Returns
    -------
    result : StudyResult
        Rows, summary, t-tests, the output folder and the files written.

    Raises
    ------
    ValueError
        For an unknown model or classifier, bad widths, a bunch that lacks what
        its protocol needs, an ``out`` folder that holds another study, or an
        unreadable ``study.json`` beside finished rows.
    BlockingIOError
        If another study is writing to ``out``.

    See Also
    --------
    default_models : The models of the paper's figures for a dataset.
    skaudio_random.paper_svm_grid, skaudio_random.paper_elm_grid : The grids.

    Notes
    -----
    Run ``k`` seeds the ELM with ``k`` both in the search and in the final fit,
    so on the validation protocol the refit ELM is the selected one (the paper's
    unseeded code drew new hidden weights for it). On the ``"cv"`` protocol the
    mean over folds is a plain mean; the paper's scikit-learn <= 0.19 weighted
    the SVM's folds by size (``iid=True``), which matters only for unequal folds
    (UrbanSound8K). The run time is dominated by the CNN features at width
    3500 on long clips; use a GPU (``device="cuda"``) for the paper's datasets.

    References
    ----------
    .. [1] J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio
       classification", ICASSP 2019, arXiv:1805.00237.

    Examples
    --------
    >>> from skaudio_random.datasets import load_spoken_digits
    >>> from skaudio_random.study import run_study
    >>> digits = load_spoken_digits()
    >>> result = run_study(digits, models=["mfcc", "vgg"], widths=[120],
    ...                    runs=2, out="study_digits")          # doctest: +SKIP
    >>> print(result.report)                                       # doctest: +SKIP
    """
    started = time.perf_counter()
    study = _Study.checked(
        data,
        models=models,
        widths=widths,
        classifiers=classifiers,
        runs=runs,
        out=out,
        device=device,
        n_jobs=n_jobs,
        search_jobs=search_jobs,
        memory=memory,
        nested=nested,
        fast_svm=fast_svm,
        verbose=verbose,
        transformer_params=transformer_params,
        inner_splits=inner_splits,
        svm_params=svm_params,
        trained=trained,
        trained_params=trained_params,
    )
    if resume != "deprecated":
        warnings.warn(
            "resume is deprecated; use restart (resume=False is restart=True).",
            FutureWarning,
            stacklevel=3,
        )
        restart = not resume
    with (
        _store.disk_full_is_clear(study.out),
        _store.ResultsFolder(study.out).locked() as folder,
        _scheduler.study_client(scheduler) as client,
    ):
        study.client = client
        return study.run(folder, restart=restart, figures=figures, started=started)


@dataclass
class _Study:
    """A study's checked arguments and its steps, one method each."""

    def __getstate__(self):
        # Rows are searched in worker processes (loky or a Dask cluster): they
        # never need the scheduler's client, which does not pickle.
        return {**self.__dict__, "client": None}

    data: object
    models: list
    widths: list
    classifiers: list
    runs: int
    out: Path
    device: object
    device_name: str
    n_jobs: int | None
    search_jobs: int | None
    memory: object
    nested: bool
    fast_svm: bool
    verbose: bool | int
    transformer_params: dict | None
    tparams: dict
    inner_splits: int
    svm_params: dict
    trained: bool
    trained_params: dict
    client: object = None
    specs: dict[str, StudyModel] = field(default_factory=dict)

    def run(self, folder, *, restart, figures, started) -> _report.StudyResult:
        """Check the folder's identity, compute the missing rows, write the report."""
        clips = _identity.clip_table(self.data, verbose=self.verbose)
        found = folder.open(self.identity(clips), clips, restart=restart)
        done = {tuple(r[k] for k in _store.KEY): r for r in found}
        tasks = self.tasks()
        wanted = [self.key(m, w, c, k) for m, w, k in tasks for c in self.classifiers]
        if self.trained:
            wanted += [
                self.key(m, w, _trained.TRAINED, k)
                for m, w, k in tasks
                if _trained.has_counterpart(m)
            ]
        n_reused = sum(key in done for key in wanted)
        plan = self.plan(tasks, done)
        bar = tqdm(
            total=len(plan),
            desc=f"study {self.data.name}",
            unit="row",
            disable=not self.verbose,
        )
        computed = self.computed_rows(plan)
        try:
            for kind, model, width, run, clf in plan:
                bar.set_postfix_str(f"{model} w={width} run={run} {clf}")
                if kind == "copy":
                    self._copy_seed_independent(model, width, run, done)
                else:
                    self._record(next(computed), done)
                bar.update()
        finally:
            computed.close()  # stops the workers after an error
            bar.close()
        n_computed = len(plan)
        if self.trained:
            for model, width, run in tasks:
                n_computed += _trained.run_trained(self, model, width, run, done)

        rows = [done[key] for key in wanted if key in done]
        result = self.write_report(rows, figures)
        result.n_computed, result.n_reused = n_computed, n_reused
        result.seconds = time.perf_counter() - started
        if self.verbose:
            print(result.report)
            print(
                f"Outputs in {self.out.resolve()}: " + ", ".join(sorted(result.files))
            )
        return result

    @classmethod
    def checked(
        cls,
        data,
        *,
        models,
        widths,
        classifiers,
        out,
        device,
        memory,
        transformer_params,
        svm_params,
        trained_params,
        **settings,
    ):
        """The study of run_study's arguments, checked (ValueError if bad)."""
        check_data(data)
        if models is None:
            models = default_models(data.name)
        specs = study_models(models)
        out = Path(out)
        return cls(
            data=data,
            models=list(specs),
            specs=specs,
            widths=check_widths(widths),
            classifiers=check_names("classifiers", classifiers, CLASSIFIERS),
            out=out,
            device=device,
            device_name=str(resolve_device(device)),
            memory=out / "features" if memory is None else memory,
            transformer_params=transformer_params,
            tparams=check_transformer_params(transformer_params, list(specs)),
            svm_params=check_svm_params(svm_params),
            trained_params=_trained.check_trained_params(
                trained_params, data if settings["trained"] else None
            ),
            **settings,  # runs, n_jobs, nested, fast_svm, verbose, inner_splits
        )

    # ----------------------------------------------------------------------- #
    # what the study reads and asks for
    # ----------------------------------------------------------------------- #
    @property
    def validation(self) -> bool:
        return self.data.protocol == "validation"

    @property
    def y(self) -> np.ndarray:
        return np.asarray(self.data.target)

    @property
    def y_test(self) -> np.ndarray | None:
        return np.asarray(self.data.test_target) if self.validation else None

    @property
    def files(self) -> list:
        """The clips, training clips first, then the test clips (if any)."""
        files = list(self.data.filenames)
        if self.validation:
            files += list(self.data.test_filenames)
        return files

    def identity(self, clips: list[dict]) -> dict:
        """What ``study.json`` records: what the study's numbers depend on."""
        return _identity.study_identity(
            self.data,
            clips,
            transformer_params=self.transformer_params,
            svm_params=self.svm_params,
            fast_svm=self.fast_svm,
            nested=self.nested,
            inner_splits=self.inner_splits,
            trained_params=self.trained_params,
            models=self.model_identities(),
        )

    def model_identities(self) -> dict:
        """Label -> identity of each user model (built-ins have none)."""
        found = {m: self.specs[m].identity(self.widths) for m in self.models}
        return {m: ident for m, ident in found.items() if ident is not None}

    def key(self, model, width, classifier, run) -> tuple:
        """The key of a row in ``results.csv`` (see ``_store.KEY``)."""
        return (self.data.name, model, width, classifier, run)

    def tasks(self) -> list[tuple]:
        """``(model, width, run)``: MFCC first (cheap), then widths x models x runs."""
        runs = range(self.runs)
        tasks = [(m, None, k) for m in self.models if m == "mfcc" for k in runs]
        tasks += [
            (m, w, k)
            for w in self.widths
            for m in self.models
            if m != "mfcc"
            for k in runs
        ]
        return tasks

    # ----------------------------------------------------------------------- #
    # one model, width and run
    # ----------------------------------------------------------------------- #
    def plan(self, tasks, done: dict) -> list[tuple]:
        """The missing rows, in order: ``(kind, model, width, run, classifier)``.

        ``kind`` is ``"copy"`` for a seed-independent model's SVM row of a run
        after 0 (run 0's row repeated; run 0 comes first), else ``"compute"``.
        """
        plan = []
        for model, width, run in tasks:
            seeded = self.specs[model].seeded
            entries = []
            for clf in self.classifiers:
                if self.key(model, width, clf, run) in done:
                    continue
                copy = clf == "svm" and not seeded and run > 0
                entries.append(("copy" if copy else "compute", model, width, run, clf))
            plan += sorted(entries, key=lambda e: e[0] != "copy")  # copies first
        return plan

    def computed_rows(self, plan):
        """The rows of the plan's ``"compute"`` entries, in plan order.

        Features are computed here, a task at a time as the searches ask for
        them; the searches run in ``search_jobs`` worker processes, or threads
        of this process when it computes on one thread per call (or here).
        """
        jobs = self._search_jobs(plan)
        if self.client is not None:  # one task per row on the cluster's workers
            parallel = joblib.Parallel(n_jobs=-1, return_as="generator")
            with _scheduler.searches(self.client):
                yield from parallel(joblib.delayed(_search_row)(*job) for job in jobs)
            return
        n = self.n_search_jobs
        if n == 1:
            for job in jobs:
                yield _search_row(*job)
            return
        if _single_threaded():
            # Every library already runs one thread per call (``--threads 1``,
            # the demo's default): threads of this process give the same numbers
            # without starting and feeding worker interpreters (about 5 s of
            # imports each, and the features pickled to them).
            parallel = joblib.Parallel(
                n_jobs=n, backend="threading", return_as="generator"
            )
            yield from parallel(joblib.delayed(_search_row)(*job) for job in jobs)
            return
        threads = max(1, joblib.cpu_count() // n)
        parallel = joblib.Parallel(n_jobs=n, return_as="generator")
        with joblib.parallel_config("loky", inner_max_num_threads=threads):
            yield from parallel(
                joblib.delayed(_search_row)(*job, threads=threads) for job in jobs
            )

    @property
    def n_search_jobs(self) -> int:
        if self.search_jobs is not None:
            return self.search_jobs
        return joblib.cpu_count() if self.device_name == "cpu" else 1

    def _search_jobs(self, plan):
        """``(study, model, width, run, clf, X, X_test, extra)`` per computed row."""
        current, features, shared = None, None, {}
        for kind, model, width, run, clf in plan:
            if kind != "compute":
                continue
            if current != (model, width, run):
                current = (model, width, run)
                if current not in shared:
                    shared.update(self._featurize_run(run, plan))
                features = self._features(model, width, run, shared.pop(current))
            X, X_test, seconds, used = features
            extra = {
                "feature_seconds": seconds,
                "transformer_params": json.dumps(used, sort_keys=True),
            }
            features = (X, X_test, 0.0, used)  # counted once per feature matrix
            yield self, model, width, run, clf, X, X_test, extra

    def _copy_seed_independent(self, model, width, run, done) -> None:
        """Repeat run 0's SVM row where neither features nor SVM use the seed."""
        first = done[self.key(model, width, "svm", 0)]
        row = {
            **first,
            "run": run,
            "random_state": run,
            "fit_seconds": 0.0,
            "feature_seconds": 0.0,
            "nested_seconds": 0.0,
            "note": "copied from run 0: seed-independent features, deterministic SVM",
        }
        _store.append_row(self.out / "results.csv", row)
        done[self.key(model, width, "svm", run)] = row

    def _transformer(self, model, width, run):
        return _make_transformer(
            self.specs[model],
            width,
            run,
            self.data,
            self.tparams,
            device=self.device,
            n_jobs=self.n_jobs,
            memory=self.memory,
            verbose=self.verbose,
        )

    def _featurize_run(self, run, plan) -> dict:
        """Cache the features of a run's pending models at once; seconds per task.

        :func:`~skaudio_random.featurize` decodes each clip once for all of
        them; the tasks then read their features from the per-clip cache. A
        task's seconds are its own computation plus an equal share of the
        decoding. Without a cache, ``{task: None}``: each task computes its own.
        """
        tasks = list(
            dict.fromkeys(
                (m, w, k) for kind, m, w, k, _ in plan if kind == "compute" and k == run
            )
        )
        local = self.client is None  # on a cluster the workers featurize
        if not local or resolve_memory_location(self.memory) is None or len(tasks) < 2:
            return dict.fromkeys(tasks)
        transformers = [self._transformer(*task) for task in tasks]
        _, seconds = featurize(
            transformers, self.files, n_jobs=self.n_jobs, return_seconds=True
        )
        share = seconds["decode"] / len(tasks)
        return {
            task: s + share
            for task, s in zip(tasks, seconds["transformers"], strict=True)
        }

    def _features(self, model, width, run, seconds=None):
        """``(X, X_test, seconds, length params used)`` of one model, width and run.

        ``seconds``: the time :meth:`_featurize_run` spent on it (the features
        are then in the cache), or ``None`` to time the ``transform`` here.
        """
        transformer = self._transformer(model, width, run)
        t0 = time.perf_counter()
        X_all = _scheduler.featurize(
            transformer, self.files, client=self.client, memory=self.memory
        ).astype(np.float64)
        if seconds is None:
            seconds = time.perf_counter() - t0
        used = {
            k: v
            for k, v in transformer.get_params().items()
            if k in ("n_frames", "n_samples", "fix_length", "backend_averaging")
        }
        n = len(self.y)
        return X_all[:n], X_all[n:], seconds, used

    def _score(self, model, width, run, clf, X, X_test) -> dict:
        """The row of one classifier on one feature matrix."""
        from .. import __version__

        est, grid = _protocol.classifier(
            clf, run, self.fast_svm, self.device, self.svm_params
        )
        clear_kernel_cache()  # the same kernel bank in any process
        with warnings.catch_warnings():
            # tiny folds: "The least populated class in y has only n members"
            warnings.filterwarnings("ignore", message="The least populated class")
            # data.groups goes to every splitter; most ignore it, as intended
            warnings.filterwarnings("ignore", message="The groups parameter is ignored")
            res = _protocol.evaluate(
                X,
                self.y,
                X_test,
                self.y_test,
                self.data,
                est,
                grid,
                nested=self.nested,
                inner_splits=self.inner_splits,
            )
        clear_kernel_cache()
        return {
            "dataset": self.data.name,
            "model": model,
            "width": width,
            "n_features": X.shape[1],
            "classifier": clf,
            "run": run,
            "random_state": run,
            "protocol": self.data.protocol,
            **res,
            "best_params": json.dumps(res["best_params"]),
            "device": self.device_name,
            "version": __version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "note": "",
        }

    def _record(self, row: dict, done: dict) -> None:
        """Append a finished row to results.csv (at once) and say so."""
        _store.append_row(self.out / "results.csv", row)
        key = self.key(row["model"], row["width"], row["classifier"], row["run"])
        done[key] = row
        if self.verbose:
            nested_txt = (
                f", nested {100 * row['nested_score']:.2f}%"
                if math.isfinite(row["nested_score"])
                else ""
            )
            tqdm.write(
                f"{row['model']} width={row['width']} run={row['run']} "
                f"{row['classifier']}: {100 * row['score']:.2f}% "
                f"({row['score_kind']}{nested_txt}) {row['best_params']}"
            )

    # ----------------------------------------------------------------------- #
    # the report
    # ----------------------------------------------------------------------- #
    def write_report(self, rows, figures: bool) -> _report.StudyResult:
        from .. import __version__

        result = _report.write_report(
            rows,
            self.data,
            self.models,
            self.widths,
            self.classifiers,
            self.out,
            runs=self.runs,
            device=self.device_name,
            version=__version__,
            make_figures=figures,
            input_text=_report.input_desc(self.data, self.tparams),
            classifier_text=_report.classifier_desc(
                self.classifiers, self.fast_svm, self.svm_params
            ),
        )
        if self.trained:
            _trained.add_section(result, self, figures=figures)
        return result


def _single_threaded() -> bool:
    """Whether torch and every BLAS/OpenMP pool of this process use one thread."""
    from threadpoolctl import threadpool_info

    return torch.get_num_threads() == 1 and all(
        pool.get("num_threads", 1) == 1 for pool in threadpool_info()
    )


def _search_row(study, model, width, run, clf, X, X_test, extra, threads=None):
    """One row: the searches of one classifier on one feature matrix (a job)."""
    if threads is not None:  # a worker process: its share of the cores
        torch.set_num_threads(threads)
    row = study._score(model, width, run, clf, X, X_test)
    row.update(extra)
    return row


def _make_transformer(
    model: StudyModel, width, run, data, tparams, *, device, n_jobs, memory, verbose
):
    if model.label == "mfcc":
        # the paper's MFCC reads whole clips; "crop" would need a length (SPEC 4)
        kw = {"fix_length": "none" if data.fix_length == "crop" else data.fix_length}
    else:
        kw = {
            "width": width,
            "random_state": run,
            "fix_length": data.fix_length,
            "device": device,
            **tparams["shared"],
        }
    kw.update(n_jobs=n_jobs, memory=memory, verbose=bool(verbose))
    # the model gets what it has; its own settings must all be its parameters
    return model.make(**kw).set_params(**tparams["per_model"].get(model.label, {}))
