"""Slurm HDF5 profile -> Arrow tables. Nothing else (see docs/architecture.md, reader contract)."""

from analysis_module.processing.errors import (
    EmptyProfileError,
    NotHDF5Error,
    ProfileError,
    ProfileTooLargeError,
    TruncatedProfileError,
    UnsafeProfileError,
    UnsupportedLayoutError,
)
from analysis_module.processing.hdf5_guard import ReadLimits
from analysis_module.processing.hdf5_profile import (
    NodeStep,
    SlurmProfile,
    open_profile,
    read_energy,
    read_filesystem,
    read_network,
    read_profile_tables,
    read_tasks,
)

__all__ = [
    "EmptyProfileError",
    "NodeStep",
    "NotHDF5Error",
    "ProfileError",
    "ProfileTooLargeError",
    "ReadLimits",
    "SlurmProfile",
    "TruncatedProfileError",
    "UnsafeProfileError",
    "UnsupportedLayoutError",
    "open_profile",
    "read_energy",
    "read_filesystem",
    "read_network",
    "read_profile_tables",
    "read_tasks",
]
