"""The trust model of a ``memory=`` folder (skaudio_random._cache).

A cache folder is trusted like the code: whoever can write it chooses the
features it returns (checksums detect damage, not forgery). So the cache warns
when others can write its folders, never writes through a symbolic link, and
never blocks on an entry that is not a regular file. Tests run as root here,
so "writable by others" is tested by mode bits, not by access().
"""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pytest

from skaudio_random._cache import FeatureCache
from skaudio_random._input import AudioInput
from skaudio_random.mfcc import MFCC

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and links")


def _param_folder(cache):
    (folder,) = (cache / "skaudio_random_features").iterdir()
    return folder


def _entries(cache):
    return sorted((cache / "skaudio_random_features").rglob("*.f32"))


def _quiet(func, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return func(*args)


@pytest.fixture
def filled(wav_files, tmp_path):
    """A cache holding the entries of ``wav_files``, in folders only root can write."""
    cache = tmp_path / "cache"
    ref = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    for folder in [cache, *cache.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o755)
    return cache, ref


def test_a_forged_entry_in_a_world_writable_folder_is_warned_about(filled, wav_files):
    cache, ref = filled
    model = MFCC(fix_length="zero", memory=cache)
    forged = np.full(ref.shape[1], 7.0, dtype=np.float32)
    # what another local user can do: a valid entry, checksum and all
    key = model._cache_key()
    FeatureCache(cache, key, ref.shape[1]).put(
        AudioInput(wav_files).fingerprint(0), forged
    )
    folder = _param_folder(cache)
    folder.chmod(0o777)
    with pytest.warns(UserWarning, match=r"writable by all users.*choose the feat"):
        out = model.transform(wav_files)
    # served, as documented: the warning is the defence; once per folder
    np.testing.assert_array_equal(out[0], forged)
    _quiet(model.transform, wav_files)


@pytest.mark.parametrize(
    "which,mode,warns",
    [
        ("location", 0o777, True),
        ("location", 0o1777, False),  # sticky like /tmp: our folders stay ours
        ("location", 0o775, False),  # root's private group (as on Debian)
        ("features", 0o1777, True),  # others could add entries: sticky or not
        ("features", 0o757, True),
        ("subfolder", 0o777, True),
    ],
)
def test_folders_writable_by_others_warn(filled, wav_files, which, mode, warns):
    cache, ref = filled
    folder = {
        "location": cache,
        "features": cache / "skaudio_random_features",
        "subfolder": next(p for p in _param_folder(cache).iterdir() if p.is_dir()),
    }[which]
    folder.chmod(mode)
    model = MFCC(fix_length="zero", memory=cache)
    if warns:
        with pytest.warns(UserWarning, match=rf"{folder.name}.* is writable by"):
            out = model.transform(wav_files)
    else:
        out = _quiet(model.transform, wav_files)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="root")
def test_a_folder_owned_by_another_user_warns(filled, wav_files):
    cache, _ = filled
    os.chown(_param_folder(cache), 54321, -1)
    with pytest.warns(UserWarning, match="owned by user id 54321"):
        MFCC(fix_length="zero", memory=cache).transform(wav_files)


def test_params_txt_is_not_written_through_a_planted_symlink(wav_files, tmp_path):
    cache = tmp_path / "cache"
    MFCC(fix_length="zero", memory=cache).transform(wav_files[:1])
    readme = _param_folder(cache) / "params.txt"
    readme.unlink()
    victim = tmp_path / "victim.txt"
    readme.symlink_to(victim)  # dangling: exists() is False
    with pytest.warns(UserWarning, match="params.txt is a symbolic link"):
        MFCC(fix_length="zero", memory=cache).transform(wav_files)
    assert not victim.exists()
    assert readme.is_symlink()


def test_entries_are_not_written_through_a_symlinked_folder(wav_files, tmp_path):
    cache = tmp_path / "cache"
    ref = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for entry in _entries(cache):
        sub = entry.parent
        if not sub.is_symlink():
            for f in sub.iterdir():
                f.unlink()
            sub.rmdir()
            sub.symlink_to(elsewhere, target_is_directory=True)
    with pytest.warns(UserWarning, match="symbolic link"):
        out = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    np.testing.assert_array_equal(out, ref)
    assert list(elsewhere.iterdir()) == []


def test_an_entry_that_is_a_fifo_is_recomputed_without_blocking(wav_files, tmp_path):
    cache = tmp_path / "cache"
    ref = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    entry = _entries(cache)[0]
    entry.unlink()
    os.mkfifo(entry)
    result = {}

    def run():
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            result["out"] = MFCC(fix_length="zero", memory=cache).transform(wav_files)
        result["warnings"] = [str(w.message) for w in record]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    if thread.is_alive():
        pytest.fail("reading a FIFO planted as a cache entry hung")
    np.testing.assert_array_equal(result["out"], ref)
    assert any("is not a regular file" in w for w in result["warnings"])
    assert entry.is_file()  # overwritten with a good entry
