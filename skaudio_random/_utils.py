"""Shared helpers: device resolution and seeding.

The whole package follows one ``device`` convention: ``"auto"`` (CUDA when it is
available, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, or a
:class:`torch.device`.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["resolve_device", "seed_from_random_state", "make_generator"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn the package's ``device`` argument into a :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or str or torch.device, default="auto"
        ``"auto"`` picks ``"cuda"`` when a CUDA device is available and ``"cpu"``
        otherwise. ``"cuda:1"`` selects the second GPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the string is not a device name, if it names a device that holds no
        data (``"meta"``), if CUDA is requested but unavailable, or if the CUDA
        index does not exist.
    """
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(
                f"device={device!r} is not a device name; expected 'auto', 'cpu', "
                "'cuda' or 'cuda:N'."
            ) from exc
    else:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device; "
            f"got {device!r}."
        )
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={str(device)!r} was requested but no CUDA device is "
                "available; use device='cpu' (or 'auto')."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={str(device)!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist."
            )
    elif dev.type not in ("cpu", "mps"):
        # "meta" and the like hold no data: features cannot be computed there.
        raise ValueError(
            f"device={str(device)!r} is not supported; use 'auto', 'cpu' or 'cuda'."
        )
    return dev


def seed_from_random_state(random_state) -> int:
    """Draw a 63-bit integer seed from a scikit-learn ``random_state``.

    An int maps to itself (so ``random_state=0`` always builds the same network);
    ``None`` or a :class:`numpy.random.RandomState` draws a fresh seed.
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        return int(random_state)
    rng = check_random_state(random_state)
    return int(rng.randint(0, np.iinfo(np.int32).max))


def make_generator(seed: int) -> torch.Generator:
    """A CPU :class:`torch.Generator` seeded with ``seed``.

    Weights are always drawn on the CPU so that a seed gives the same network on
    every machine and device.
    """
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    return gen
