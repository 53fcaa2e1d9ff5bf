"""Shared by the benchmarks: run one measurement in its own subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_job(cmd: list[str], label: str, env: dict[str, str] | None = None) -> dict:
    """Run ``cmd`` (a worker that prints one ``RESULT {json}`` line); return that result with ``load``,
    the machine's mean 1-minute load average while it ran (sampled every 5 s). ``env``: the
    subprocess's environment (default: this one's)."""
    loads = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=5)
                break
            except subprocess.TimeoutExpired:
                loads.append(os.getloadavg()[0])
    line = next((x for x in stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"{label} failed:\n{stderr[-3000:]}")
    res = json.loads(line[7:])
    res["load"] = sum(loads) / len(loads) if loads else os.getloadavg()[0]
    return res


def machine() -> str:
    """The machine a figure came from: processor, cores and whether it has bf16 instructions."""
    import platform
    from pathlib import Path

    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                 platform.processor() or platform.machine())
    bf16 = "AMX" if "amx_bf16" in text else ("AVX512-BF16" if "avx512_bf16" in text else "no bf16 instructions")
    return f"{model}, {os.cpu_count()} cores, {bf16}"


def report(result: dict) -> None:
    """Print a worker's result as the ``RESULT {json}`` line ``run_job`` reads, with the worker's peak
    resident memory (``peak_rss_mb``)."""
    import resource

    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))
