"""Slurm HDF5 profile -> Arrow tables. Nothing else (see docs/architecture.md, reader contract)."""

from analysis_module.processing.errors import (
    EmptyProfileError,
    NotHDF5Error,
    ProfileError,
    TruncatedProfileError,
    UnsupportedLayoutError,
)
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
    "SlurmProfile",
    "TruncatedProfileError",
    "UnsupportedLayoutError",
    "open_profile",
    "read_energy",
    "read_filesystem",
    "read_network",
    "read_profile_tables",
    "read_tasks",
]
