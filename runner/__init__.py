"""Cogmill's Cog runtime: builds model environments and drives Cog servers.

No Django here: the worker calls these with plain paths and dicts.
"""

from .build import BuildResult, BuildSpec, build, ensure_venv, generate_schema, parse_cog_yaml, spec_hash
from .errors import BootTimeout, BuildError, InstanceDied, InstanceError, NoDevice, PoolTimeout, SetupFailed
from .instance import CogInstance
from .pool import InstancePool, Lease

__all__ = [
    "BootTimeout",
    "BuildError",
    "BuildResult",
    "BuildSpec",
    "CogInstance",
    "InstanceDied",
    "InstanceError",
    "InstancePool",
    "Lease",
    "NoDevice",
    "PoolTimeout",
    "SetupFailed",
    "build",
    "ensure_venv",
    "generate_schema",
    "parse_cog_yaml",
    "spec_hash",
]
