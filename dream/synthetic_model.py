"""A stand-in for Google's inception5h graph, for tests and benchmarks.

The real `tensorflow_inception_graph.pb` cannot be downloaded on machines without
internet, and its weights must not be committed. This module writes a frozen GraphDef
with the *same* node names, op types, device pins, input contract and zip layout as the
real one, filled with seeded random weights. At `width=1.0` every tensor has the real
shape, so a step costs exactly what it costs on the real model; tests use a small
width so they stay fast.

The architecture is GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions")
as exported by Mordvintsev's DeepDream notebook: a stem, nine inception blocks, two
auxiliary heads and the main classifier with 1008 logits.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from dream.graphdefs import make_const, make_node

GRAPH_FILE = "tensorflow_inception_graph.pb"
LABELS_FILE = "imagenet_comp_graph_label_strings.txt"
NUM_LOGITS = 1008

# (block, 1x1, 3x3 bottleneck, 3x3, 5x5 bottleneck, 5x5, pool reduce) as in the real graph.
INCEPTION_BLOCKS = (
    ("mixed3a", 64, 96, 128, 16, 32, 32),
    ("mixed3b", 128, 128, 192, 32, 96, 64),
    ("mixed4a", 192, 96, 204, 16, 48, 64),
    ("mixed4b", 160, 112, 224, 24, 64, 64),
    ("mixed4c", 128, 128, 256, 24, 64, 64),
    ("mixed4d", 112, 144, 288, 32, 64, 64),
    ("mixed4e", 256, 160, 320, 32, 128, 128),
    ("mixed5a", 256, 160, 320, 48, 128, 128),
    ("mixed5b", 384, 192, 384, 48, 128, 128),
)
# Max-pooling layers that follow a block (the real graph's names).
POOL_AFTER = {"mixed3b": "maxpool4", "mixed4e": "maxpool10"}
# Auxiliary classifier heads hang off these blocks.
HEAD_AFTER = {"mixed4a": 0, "mixed4d": 1}

# Real class names at the start of the label file, so look-up by name is exercised;
# the remaining lines are filled with numbered names.
KNOWN_LABELS = (
    "jellyfish", "goldfish", "great white shark", "tree frog", "tabby", "tiger",
    "golden retriever", "volcano", "coral reef", "daisy", "banana", "castle",
    "sea anemone", "starfish", "snail", "peacock", "flamingo", "ostrich",
    "monarch", "ladybug", "bell pepper", "pizza", "lighthouse", "cliff",
    "valley", "alp", "geyser", "seashore", "mushroom", "hen-of-the-woods",
)


class _GraphWriter:
    """Appends NodeDefs the way the 2015 exporter wrote them (with `/cpu:0` pins)."""

    def __init__(self, seed: int) -> None:
        self.graph_def = tf.compat.v1.GraphDef()
        self.rng = np.random.default_rng(seed)

    def node(self, name: str, op: str, inputs=(), **attrs) -> str:
        self.graph_def.node.append(make_node(name, op, inputs, device="/cpu:0", **attrs))
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        self.graph_def.node.append(make_const(name, value, device="/cpu:0"))
        return name

    def conv(self, name: str, x: str, in_ch: int, out_ch: int, size: int, stride: int = 1) -> str:
        """`<name>_pre_relu/conv` → `<name>_pre_relu` (BiasAdd) → `<name>` (Relu)."""
        fan_in = size * size * in_ch
        # He initialisation keeps activations at a stable scale through the ReLUs, so a
        # random network still has informative gradients at every depth.
        weights = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (size, size, in_ch, out_ch))
        bias = self.rng.uniform(0.0, 0.1, out_ch)
        w = self.const(f"{name}_w", weights.astype(np.float32))
        b = self.const(f"{name}_b", bias.astype(np.float32))
        conv = self.node(f"{name}_pre_relu/conv", "Conv2D", [x, w], T=tf.float32,
                         strides=[1, stride, stride, 1], padding=b"SAME", use_cudnn_on_gpu=True)
        pre = self.node(f"{name}_pre_relu", "BiasAdd", [conv, b], T=tf.float32)
        return self.node(name, "Relu", [pre], T=tf.float32)

    def pool(self, name: str, x: str, op: str, size: int, stride: int, padding: bytes) -> str:
        return self.node(name, op, [x], T=tf.float32, ksize=[1, size, size, 1],
                         strides=[1, stride, stride, 1], padding=padding)

    def lrn(self, name: str, x: str) -> str:
        return self.node(name, "LRN", [x], T=tf.float32, depth_radius=2, bias=2.0,
                         alpha=2e-05, beta=0.75)

    def dense(self, name: str, x: str, in_features: int, out_features: int) -> str:
        """`<name>/reshape` → `<name>/matmul` → `<name>` (BiasAdd)."""
        shape = self.const(f"{name}/reshape/shape", np.array([-1, in_features], np.int32))
        flat = self.node(f"{name}/reshape", "Reshape", [x, shape], T=tf.float32,
                         Tshape=tf.int32)
        weights = self.rng.normal(0.0, np.sqrt(1.0 / in_features), (in_features, out_features))
        w = self.const(f"{name}_w", weights.astype(np.float32))
        b = self.const(f"{name}_b", np.zeros(out_features, np.float32))
        matmul = self.node(f"{name}/matmul", "MatMul", [flat, w], T=tf.float32,
                           transpose_a=False, transpose_b=False)
        return self.node(name, "BiasAdd", [matmul, b], T=tf.float32)


def _scaled(channels: int, width: float) -> int:
    return max(2, int(round(channels * width)))


def build_graph_def(width: float = 1.0, seed: int = 0):
    """GoogLeNet as a frozen GraphDef with random weights; `width` scales every layer."""
    if width <= 0:
        raise ValueError("width must be positive")
    g = _GraphWriter(seed)

    g.node("input", "Placeholder", dtype=tf.float32)

    ch = lambda c: _scaled(c, width)  # noqa: E731 - a one-word local alias
    x = g.conv("conv2d0", "input", 3, ch(64), 7, stride=2)
    x = g.pool("maxpool0", x, "MaxPool", 3, 2, b"SAME")
    x = g.lrn("localresponsenorm0", x)
    x = g.conv("conv2d1", x, ch(64), ch(64), 1)
    x = g.conv("conv2d2", x, ch(64), ch(192), 3)
    x = g.lrn("localresponsenorm1", x)
    x = g.pool("maxpool1", x, "MaxPool", 3, 2, b"SAME")
    in_ch = ch(192)

    for block, c1, c3r, c3, c5r, c5, cp in INCEPTION_BLOCKS:
        b1 = g.conv(f"{block}_1x1", x, in_ch, ch(c1), 1)
        b3 = g.conv(f"{block}_3x3_bottleneck", x, in_ch, ch(c3r), 1)
        b3 = g.conv(f"{block}_3x3", b3, ch(c3r), ch(c3), 3)
        b5 = g.conv(f"{block}_5x5_bottleneck", x, in_ch, ch(c5r), 1)
        b5 = g.conv(f"{block}_5x5", b5, ch(c5r), ch(c5), 5)
        bp = g.pool(f"{block}_pool", x, "MaxPool", 3, 1, b"SAME")
        bp = g.conv(f"{block}_pool_reduce", bp, in_ch, ch(cp), 1)
        axis = g.const(f"{block}/concat_dim", np.array(3, np.int32))
        x = g.node(block, "Concat", [axis, b1, b3, b5, bp], T=tf.float32, N=4)
        in_ch = ch(c1) + ch(c3) + ch(c5) + ch(cp)

        if block in HEAD_AFTER:
            _auxiliary_head(g, HEAD_AFTER[block], x, in_ch, ch)
        if block in POOL_AFTER:
            x = g.pool(POOL_AFTER[block], x, "MaxPool", 3, 2, b"SAME")

    # The main classifier only sees a 7x7 map at 224x224 input; larger inputs give
    # several rows of logits (one per 7x7 window), smaller ones fail.
    x = g.pool("avgpool0", x, "AvgPool", 7, 1, b"VALID")
    logits = g.dense("softmax2_pre_activation", x, in_ch, NUM_LOGITS)
    g.node("softmax2", "Softmax", [logits], T=tf.float32)
    g.node("output2", "Identity", ["softmax2"], T=tf.float32)
    return g.graph_def


def _auxiliary_head(g: _GraphWriter, index: int, x: str, in_ch: int, ch) -> None:

    pooled = g.pool(f"head{index}_pool", x, "AvgPool", 5, 3, b"VALID")
    bottleneck = g.conv(f"head{index}_bottleneck", pooled, in_ch, ch(128), 1)
    hidden = g.dense(f"nn{index}_pre_relu", bottleneck, 16 * ch(128), ch(1024))
    hidden = g.node(f"nn{index}", "Relu", [hidden], T=tf.float32)
    logits = g.dense(f"softmax{index}_pre_activation", hidden, ch(1024), NUM_LOGITS)
    g.node(f"softmax{index}", "Softmax", [logits], T=tf.float32)
    g.node(f"output{index or ''}", "Identity", [f"softmax{index}"], T=tf.float32)


def label_lines() -> list[str]:
    """The label file's lines: `dummy`, then 1000 class names (real-looking first)."""
    numbered = [f"synthetic class {i:04d}" for i in range(len(KNOWN_LABELS), 1000)]
    return ["dummy", *KNOWN_LABELS, *numbered]


def write_model_dir(folder: str | Path, width: float = 0.25, seed: int = 0) -> Path:
    """Writes the graph and label file into `folder` (the layout of the extracted zip)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    graph_def = build_graph_def(width=width, seed=seed)
    (folder / GRAPH_FILE).write_bytes(graph_def.SerializeToString())
    (folder / LABELS_FILE).write_text("\n".join(label_lines()) + "\n")
    return folder


def write_model_zip(path: str | Path, width: float = 0.25, seed: int = 0) -> Path:
    """Writes `inception5h.zip` with the two files at the archive's top level, as Google's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph_def = build_graph_def(width=width, seed=seed)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(GRAPH_FILE, graph_def.SerializeToString())
        archive.writestr(LABELS_FILE, "\n".join(label_lines()) + "\n")
        archive.writestr("LICENSE", "Synthetic stand-in for inception5h; random weights.\n")
    return path


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="where to write the two model files")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write_model_dir(args.folder, args.width, args.seed))
