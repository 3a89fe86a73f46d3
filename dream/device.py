"""Where the dreaming runs: the device a request's network runs on, in words a person
reads ("NVIDIA L4", "2 CPU cores").

TensorFlow places every op on the first GPU it finds and on the CPU otherwise
(tf.config.list_physical_devices, "soft placement"); nothing in `dream` pins a device. The
plain `tensorflow` wheel for Linux brings no CUDA libraries, so on a GPU machine it finds
no GPU and dreams on the CPU — which this line makes visible instead of silent
(requirements-gpu.txt installs `tensorflow[and-cuda]`, README "Running on a GPU").
"""

from __future__ import annotations

import functools
import os

import tensorflow as tf


@functools.lru_cache(maxsize=1)
def gpu_names() -> tuple[str, ...]:
    """The GPUs TensorFlow sees, by model name (tf.config.experimental.get_device_details:
    'device_name' is given for GPUs only, so a GPU without one is "a GPU")."""
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except (ValueError, RuntimeError):  # a device TensorFlow cannot describe
            details = {}
        names.append(details.get("device_name") or "a GPU")
    return tuple(names)


def cpu_cores() -> int:
    """The cores this process dreams on: its affinity (a container's share, not the host's),
    or fewer when TensorFlow's threads were set lower (a pool's worker of one core)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    threads = tf.config.threading.get_intra_op_parallelism_threads()  # 0: TensorFlow's choice
    return min(cores, threads) if threads > 0 else cores


def where() -> str:
    """"NVIDIA L4" or "2 CPU cores": the device the network runs on."""
    gpus = gpu_names()
    if gpus:
        return gpus[0] if len(gpus) == 1 else f"{gpus[0]} (the first of {len(gpus)} GPUs)"
    cores = cpu_cores()
    return f"{cores} CPU core{'s' * (cores != 1)}"


def describe(precision: str) -> str:
    """"NVIDIA L4, float32" or "2 CPU cores, float32": where and in what arithmetic a
    request's network ran."""
    return f"{where()}, {precision}"


def status_line(model_precision: str) -> str:
    """The page's "Dreaming on …" for a model whose fastest precision is `model_precision`
    (the techniques whose pictures are as good in bfloat16 use it; the others float32)."""
    arithmetic = ("float32" if model_precision == "float32" else
                  f"float32, and {model_precision} where its pictures are as good")
    return f"Dreaming on {where()} ({arithmetic})."


__all__ = ["cpu_cores", "describe", "gpu_names", "status_line", "where"]
