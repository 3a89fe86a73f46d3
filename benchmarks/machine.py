"""What machine a benchmark ran on: the CPU's model, its cores and the vector units that
decide TensorFlow's speed (AVX2/FMA, AVX-512, bfloat16 and AMX), and its load.

Every speed figure is printed with `describe()`: these machines differ (some have AVX-512
and bfloat16 units, some only AVX2), and a figure without its machine cannot be compared.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The flags that matter to TensorFlow's convolutions and matrix products on x86.
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16",
                "amx_tile", "amx_int8")


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """One line: model, cores, vector flags, load average, and oneDNN's ISA cap if one is
    set (`ONEDNN_MAX_CPU_ISA=AVX2` runs oneDNN's kernels as on a CPU without AVX-512:
    TensorFlow's own kernels are built for the wheel's baseline, the same on every CPU)."""
    flags = cpu_flags()
    vector = " ".join(flag for flag in VECTOR_FLAGS if flag in flags) or "none of " + ", ".join(VECTOR_FLAGS)
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    held = f"; oneDNN held to {cap} (ONEDNN_MAX_CPU_ISA)" if cap else ""
    return (f"CPU: {cpu_model()}, {os.cpu_count()} cores; vector flags: {vector}{held}; "
            f"load average {load}")


if __name__ == "__main__":
    print(describe())
