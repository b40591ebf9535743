"""Errors raised while reading a Slurm HDF5 profile.

Every error carries a one-line, human-readable ``reason`` that names the file (and, where it
applies, the HDF5 object) and what is wrong with it, so callers can store it as an ingest status
or show it to a user without a traceback. The subclasses say *why* a file cannot be read, which
decides what a caller does next: a truncated upload may be retried, a legacy layout never will be.
"""

from __future__ import annotations


class ProfileError(Exception):
    """A file cannot be read as a Slurm HDF5 profile; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        # one line only: reasons end up in status columns and log lines
        self.reason = " ".join(reason.split())
        super().__init__(self.reason)

    def __str__(self) -> str:
        return self.reason


class NotHDF5Error(ProfileError):
    """The file exists but is not HDF5 at all (no HDF5 signature; an empty file included)."""


class TruncatedProfileError(ProfileError):
    """The file starts like HDF5 but is cut short or otherwise unreadable by the HDF5 library."""


class UnsupportedLayoutError(ProfileError):
    """HDF5, but not a layout this reader handles.

    Covers the legacy pre-15.08 layout (``/Node_<x>``, ``/Step_<n>`` groups), Slurm 15.08.0's
    swapped ``ElapsedTime``/``EpochTime``, series datasets without those two fields, and HDF5
    files that have no Slurm structure at all ("not a Slurm profile: ...").
    """


class EmptyProfileError(ProfileError):
    """A valid Slurm layout that holds no step, node or series data at all."""


class UnsafeProfileError(ProfileError):
    """The file uses an HDF5 feature Slurm never writes and that could make the reader touch
    data outside the file or run foreign code: external raw storage, virtual datasets, external
    or soft links, filters other than deflate/shuffle, objects reachable by two links, names
    that are not UTF-8. Refused before any dataset is read; never worth a retry."""


class ProfileTooLargeError(ProfileError):
    """Reading the file would exceed a limit: decoded bytes, HDF5 objects, or time; or a dataset
    declares more rows than the file stores (a decompression bomb, unallocated chunks)."""
