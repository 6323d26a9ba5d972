"""HDF5 file locking, told apart from damage.

A file another process holds open for writing is "locked by another process", not "truncated or corrupt"; a file
system without locks gets the HDF5_USE_FILE_LOCKING hint.
"""
from __future__ import annotations

import errno
import os
import re

# HDF5 quotes the OS error of its flock() call: "unable to lock file, errno = 11, error message = '...'"
_LOCK = re.compile(r"unable to lock file, errno = (\d+)")
HELD = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)  # another process holds a conflicting lock
UNSUPPORTED = (errno.ENOSYS, errno.ENOLCK, errno.EROFS, errno.EOPNOTSUPP)  # no locks on this file system


def lock_problem(path: str | os.PathLike, err: OSError) -> str | None:
    """One line for an h5py open that failed on HDF5's file lock, naming `path` and what to do.

    None when `err` is something else: a missing, damaged or non-HDF5 file.
    """
    match = _LOCK.search(str(err))
    if match is None:
        return None
    code = int(match[1])
    if code in UNSUPPORTED:
        return (f"{path}: cannot be opened because its file system does not support file locks "
                f"({os.strerror(code)}; e.g. a read-only or network mount); to read it there without a lock, set "
                f"HDF5_USE_FILE_LOCKING=FALSE in the environment")
    return (f"{path}: is locked by another process (HDF5 file locking: a program has it open for writing, e.g. a "
            f"conversion still running); wait for that program to finish or stop it, then try again")
