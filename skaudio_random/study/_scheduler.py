"""Where a study computes: in this process, or on a Dask cluster (``scheduler=``).

With a scheduler, the features of a study's clips are computed by
:func:`skaudio_random.distributed.transform_distributed` (sharded by clips over
the workers, each rebuilding the network from its int seed, every clip stored
in the study's per-clip cache as soon as it is computed) and the rows (one
classifier's grid search and nested CV on one feature matrix each) run as
joblib tasks under :func:`skaudio_random.distributed.search_backend` (joblib's
dask backend). Both give the numbers of a local run, so the scheduler is no
part of the study's identity.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def study_client(scheduler):
    """The Dask client of ``scheduler`` for the length of a study, or ``None``.

    Parameters
    ----------
    scheduler : None, str, distributed.Client or cluster
        ``None``: everything in this process. Otherwise as
        :func:`skaudio_random.distributed.make_client` takes it (``"tcp://..."``,
        ``"local"``, ``"local:N"``, ``"local-gpu"``, a cluster or a client). A
        client or cluster passed in is left running; one started here is
        closed at the end.
    """
    if scheduler is None:
        yield None
        return
    from ..distributed import dask_client

    with dask_client(scheduler) as client:
        yield client


def featurize(transformer, files, *, client, memory):
    """``transformer.transform(files)``, on ``client``'s workers when given.

    ``memory`` is the study's per-clip cache: on a cluster it must be on
    storage every worker shares (a relative path is made absolute here).
    """
    if client is None:
        return transformer.transform(files)
    from ..distributed import transform_distributed

    return transform_distributed(transformer, files, client=client, memory=memory)


def searches(client):
    """Context in which a study's rows are searched: local, or on ``client``.

    Each row (one classifier's grid search, and its nested CV, on one feature
    matrix) is one joblib task; under the Dask backend the rows run on the
    cluster's workers, each with the numbers of a local run.
    """
    if client is None:
        return contextlib.nullcontext()
    from ..distributed import search_backend

    return search_backend(client)
