"""Command-line options shared by ``study`` and ``extract``: trained networks
(``--trained``, ``--trained-epochs``, ...) and a Dask cluster (``--scheduler``).
"""

from __future__ import annotations

#: ``--trained-*`` option -> ``trained_params`` key of ``run_study``.
_TRAINED_OPTIONS = {
    "epochs": ("max_epochs", int, "most epochs per fit (default: 30)"),
    "patience": (
        "patience",
        int,
        "epochs without a lower held-out loss before stopping (default: 5)",
    ),
    "lr": ("lr", float, "Adam's learning rate (default: 1e-3)"),
    "batch_size": ("batch_size", int, "clips per mini-batch (default: 32)"),
}


def add_trained_options(p) -> None:
    """``--trained`` and its training options (for ``study``)."""
    p.add_argument(
        "--trained",
        action="store_true",
        help="also train every CNN end to end (same input, seed and folds) and "
        "report random vs trained accuracy with their rank correlation "
        "(Spearman, Kendall) and a scatter plot; MFCC has no trained counterpart",
    )
    for name, (_, kind, text) in _TRAINED_OPTIONS.items():
        p.add_argument(
            f"--trained-{name.replace('_', '-')}",
            type=kind,
            dest=f"trained_{name}",
            help=f"with --trained: {text}",
        )


def trained_kwargs(args) -> dict:
    """``trained=`` and ``trained_params=`` of ``run_study`` from the options."""
    params = {
        key: getattr(args, f"trained_{name}")
        for name, (key, _, _) in _TRAINED_OPTIONS.items()
        if getattr(args, f"trained_{name}") is not None
    }
    if params and not args.trained:
        options = ", ".join(
            f"--trained-{n.replace('_', '-')}"
            for n in _TRAINED_OPTIONS
            if getattr(args, f"trained_{n}") is not None
        )
        raise ValueError(f"{options} needs --trained.")
    return {"trained": args.trained, "trained_params": params or None}


def add_scheduler_option(p, *, what: str) -> None:
    """``--scheduler`` (a Dask scheduler address, ``local`` or ``local:N``)."""
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help=f"compute {what} on a Dask cluster: an address such as "
        "tcp://host:8786, 'local' or 'local:N' (N worker processes on this "
        "machine); the feature cache must be on storage every worker shares "
        "(needs the dask extra)",
    )
