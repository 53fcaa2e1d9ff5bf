"""The training runtime: the precision choice (what ``bf16: auto`` means on this machine) and process
coordination (which process of a multi-process launch this is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resolve_bf16(setting: bool | str) -> bool:
    """Turn ``bf16: auto`` into a decision for this machine."""
    if isinstance(setting, bool):
        return setting
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    # AMX (and AVX512-BF16) run bf16 matmuls several times faster than fp32.
    return "amx_bf16" in flags or "avx512_bf16" in flags


def distributed_state() -> Any:
    """accelerate's ``PartialState`` when this process is one of several (launched by ``torchrun`` or
    ``accelerate launch``: ``WORLD_SIZE`` > 1), else None. The first call joins the process group (gloo
    on CPUs, NCCL on GPUs)."""
    if not multi_process():
        return None
    from accelerate import PartialState

    return PartialState(**process_kwargs())


def multi_process() -> bool:
    """Was this process launched as one of several (``WORLD_SIZE`` > 1)?"""
    import os

    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def process_kwargs() -> dict[str, Any]:
    """What accelerate's state needs for this launch: ``cpu=True`` for several processes on a machine
    without CUDA (accelerate then runs DDP over gloo; without it, each CPU process would train alone)."""
    import torch

    return {"cpu": True} if multi_process() and not torch.cuda.is_available() else {}


def is_main_process() -> bool:
    """Is this the process that writes files (the only one, or rank 0 of several)?"""
    state = distributed_state()
    return state is None or state.is_main_process
