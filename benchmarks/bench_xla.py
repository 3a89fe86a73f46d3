"""Would XLA make a float32 step faster on the CPU? The same step with and without it.

    python benchmarks/bench_xla.py                   # mixed4c, 512 px
    python benchmarks/bench_xla.py mixed3b 256
    XLA_FLAGS=--xla_cpu_use_onednn=true python benchmarks/bench_xla.py

Outside its convolutions a float32 step is many memory-bound passes (LRN, pooling
gradients, ReLU gradients, concatenations) that TensorFlow runs one by one; XLA could fuse
them. Two obstacles kept it from the engine's graph (README, "Speed"): XLA has no CPU
kernel for the resource reads that hold the weights, and with the weights as constants it
spent minutes folding them. So this builds the step from the published GraphDef with
plain TensorFlow ops and passes the weights in as *arguments*, which XLA compiles without
either problem. (Imported with `import_graph_def` instead, XLA took every argument for a
compile-time constant: it compiled anew, for minutes, for every new picture.)

Both variants are the same `tf.function` (forward to the layer, mean of its squares, the
gradient to the picture), one with `jit_compile=True`; they are timed alternately on new
pictures, and each XLA result is checked against the plain one.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework import tensor_util  # noqa: E402

from bench_engine import ensure_model  # noqa: E402
from machine import describe  # noqa: E402

from dream.model import IMAGENET_MEAN, _parse_graph, _prune  # noqa: E402
from dream.synthetic_model import GRAPH_FILE  # noqa: E402

ROUNDS = 6


def network(graph_def, target: str):
    """`run(pixels, weights)`: the graph up to `target` as TensorFlow ops, and the weights'
    values in the order `run` takes them (every constant of more than 16 elements)."""
    nodes = list(_prune(graph_def, [target]).node)
    constants = {node.name: tensor_util.MakeNdarray(node.attr["value"].tensor)
                 for node in nodes if node.op == "Const"}
    weight_names = [name for name, value in constants.items() if value.size > 16]

    def run(pixels, weights):
        values = dict(zip(weight_names, weights), input=pixels - IMAGENET_MEAN)

        def read(name: str):
            return values[name.split(":")[0]]

        for node in nodes:
            if node.name in values:
                continue
            attr, inputs = node.attr, node.input
            if node.op == "Const":
                out = tf.constant(constants[node.name])
            elif node.op == "Conv2D":
                out = tf.nn.conv2d(read(inputs[0]), read(inputs[1]), list(attr["strides"].list.i),
                                   attr["padding"].s.decode())
            elif node.op == "BiasAdd":
                out = tf.nn.bias_add(read(inputs[0]), read(inputs[1]))
            elif node.op == "Relu":
                out = tf.nn.relu(read(inputs[0]))
            elif node.op == "MaxPool":
                out = tf.nn.max_pool2d(read(inputs[0]), list(attr["ksize"].list.i),
                                       list(attr["strides"].list.i), attr["padding"].s.decode())
            elif node.op == "LRN":
                out = tf.nn.local_response_normalization(
                    read(inputs[0]), attr["depth_radius"].i, attr["bias"].f, attr["alpha"].f,
                    attr["beta"].f)
            elif node.op == "Concat":  # the old op: axis first
                out = tf.concat([read(name) for name in inputs[1:]], axis=int(constants[inputs[0]]))
            elif node.op == "ConcatV2":
                out = tf.concat([read(name) for name in inputs[:-1]], axis=int(constants[inputs[-1]]))
            elif node.op == "Identity":
                out = read(inputs[0])
            else:
                raise NotImplementedError(f"{node.name}: {node.op}")
            values[node.name] = out
        return values[target]

    return run, [tf.constant(constants[name]) for name in weight_names]


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "mixed4c"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    run, weights = network(_parse_graph(ensure_model() / GRAPH_FILE), target)

    def gradient(pixels, *weights):
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            loss = tf.reduce_mean(tf.square(run(pixels[None], weights)))
        return tape.gradient(loss, pixels)

    spec = [tf.TensorSpec([size, size, 3], tf.float32)] + [tf.TensorSpec(w.shape, w.dtype) for w in weights]
    steps = {"plain": tf.function(gradient, input_signature=spec),
             "xla": tf.function(gradient, input_signature=spec, jit_compile=True)}

    print(describe())
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; {target}, {size} px, float32, "
          "forward and gradient to the picture")
    rng = np.random.default_rng(0)
    pictures = [tf.constant(rng.uniform(0, 255, (size, size, 3)).astype(np.float32))
                for _ in range(ROUNDS + 1)]
    for name, step in steps.items():
        start = time.perf_counter()
        step(pictures[0], *weights).numpy()
        print(f"  {name}: first call (trace and compile) {time.perf_counter() - start:.1f} s")
    times, errors = {name: [] for name in steps}, []
    for round_, picture in enumerate(pictures[1:]):
        results = {}
        for name in (list(steps) if round_ % 2 == 0 else list(steps)[::-1]):
            start = time.perf_counter()
            results[name] = steps[name](picture, *weights).numpy()
            times[name].append(time.perf_counter() - start)
        plain = results["plain"]
        errors.append(float(np.abs(results["xla"] - plain).max() / np.abs(plain).max()))
    plain, xla = (statistics.median(times[name]) * 1000 for name in ("plain", "xla"))
    print(f"  plain {plain:.1f} ms, XLA {xla:.1f} ms a step (medians of {ROUNDS}, alternating); "
          f"XLA is {plain / xla:.2f}x the plain step's speed; "
          f"largest difference {max(errors):.1e} of the gradient's largest value")


if __name__ == "__main__":
    main()
