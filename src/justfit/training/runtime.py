"""The training runtime: accelerator creation, precision choice, process coordination.

For now it holds the precision choice: what ``bf16: auto`` means on this machine.
"""

from __future__ import annotations

from pathlib import Path


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
