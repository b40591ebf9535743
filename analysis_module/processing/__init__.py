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
    read_profile_tables,
)
from analysis_module.processing.job_profile import (
    JobMember,
    JobProfile,
    MemberReadError,
    confirm_node_step,
)

__all__ = [
    "EmptyProfileError",
    "JobMember",
    "JobProfile",
    "MemberReadError",
    "NodeStep",
    "NotHDF5Error",
    "ProfileError",
    "ProfileTooLargeError",
    "ReadLimits",
    "SlurmProfile",
    "TruncatedProfileError",
    "UnsafeProfileError",
    "UnsupportedLayoutError",
    "confirm_node_step",
    "open_profile",
    "read_profile_tables",
]
