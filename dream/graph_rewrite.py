"""Rewrites of the frozen graph that compute the same function faster on a CPU.

Deep Dream differentiates the network with respect to its input, so every op runs
forward and backward. Two ops of the 2014 GoogLeNet are slow there for what they do,
and each is replaced by an equivalent subgraph (same outputs up to float rounding,
same node names, so every layer can still be read by name):

- **Local response normalisation.** TensorFlow's `LRN`/`LRNGrad` kernels are scalar
  loops; on a 512 px input the two LRN layers took about a quarter of a step. The same
  formula, `x · (bias + alpha · Σ_window x²)^-beta`, as a 1×1 convolution with a banded
  matrix (the windowed sum, run by oneDNN's GEMM) and vectorised element-wise ops, whose
  gradients TensorFlow derives by itself.
- **Sibling 1×1 convolutions.** Each inception block applies three 1×1 convolutions to
  the same input (the 1×1 branch and the 3×3 and 5×5 bottlenecks), some with only 16
  output channels, which keeps a CPU's vector units idle. They are merged into one
  convolution with their filters concatenated, whose output is split back; the backward
  pass likewise becomes one GEMM instead of three plus a sum.

One rewrite is about memory, not speed: `read_from_resources` replaces the weight constants
by reads of tensors stored once per model, so the many functions compiled from the graph
do not each keep a copy of the weights (`dream.model.SharedWeights` says why this way).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np
import tensorflow as tf

from dream.graphdefs import channel_counts, const_value, make_const, make_node


# The registered gradient of the IdentityN that ends each rewritten LRN (`lrn_gradient`);
# `dream.model` imports the rewritten graph with IdentityN mapped to it.
LRN_GRADIENT = "DeepDreamStudioLRN"


def _tensor_name(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def _replace_lrn(node, channels: int) -> list:
    """`LRN` → Square, windowed channel sum (1×1 conv with a band), Rsqrt/Sqrt, Mul."""
    radius = node.attr["depth_radius"].i
    bias, alpha, beta = node.attr["bias"].f, node.attr["alpha"].f, node.attr["beta"].f
    band = np.zeros((1, 1, channels, channels), np.float32)
    for c in range(channels):
        band[0, 0, max(0, c - radius):c + radius + 1, c] = 1.0
    name, x, f32 = node.name, node.input[0], tf.float32
    # bias + alpha·Σ x² as one convolution with a bias, which oneDNN fuses.
    out = [
        make_node(f"{name}/square", "Square", [x], T=f32),
        make_const(f"{name}/alpha_band", alpha * band),
        make_node(f"{name}/window_sum", "Conv2D", [f"{name}/square", f"{name}/alpha_band"], T=f32,
                  strides=[1, 1, 1, 1], padding=b"SAME"),
        make_const(f"{name}/bias", np.full(channels, bias, np.float32)),
        make_node(f"{name}/denominator", "BiasAdd", [f"{name}/window_sum", f"{name}/bias"], T=f32),
    ]
    if np.isclose(beta, 0.75):
        # d^-0.75 = r · √r with r = d^-0.5: two cheap vector ops instead of pow's exp/log.
        out += [
            make_node(f"{name}/rsqrt", "Rsqrt", [f"{name}/denominator"], T=f32),
            make_node(f"{name}/sqrt_rsqrt", "Sqrt", [f"{name}/rsqrt"], T=f32),
            make_node(f"{name}/factor", "Mul", [f"{name}/rsqrt", f"{name}/sqrt_rsqrt"], T=f32),
        ]
    else:
        out += [
            make_const(f"{name}/neg_beta", np.float32(-beta)),
            make_node(f"{name}/factor", "Pow", [f"{name}/denominator", f"{name}/neg_beta"], T=f32),
        ]
    # The output passes through an IdentityN that carries what the exact gradient needs
    # (`lrn_gradient`): 6 element-wise ops and one band convolution backward instead of the
    # 10 ops and transposed convolution that differentiating the subgraph op by op takes.
    out += [
        make_node(f"{name}/y", "Mul", [x, f"{name}/factor"], T=f32),
        make_const(f"{name}/grad_band", np.float32(-2.0 * beta * alpha) * band),
    ]
    carrier = make_node(name, "IdentityN", [f"{name}/y", x, f"{name}/factor",
                                            f"{name}/denominator", f"{name}/grad_band"])
    carrier.attr["T"].list.type.extend([f32.as_datatype_enum] * 5)
    out.append(carrier)
    return out


@tf.RegisterGradient(LRN_GRADIENT)
def lrn_gradient(op, grad, *_):
    """The rewritten LRN's input gradient, exactly: y = x·d^-β with d = bias + α·W·x²
    (W the channel band, symmetric) gives dx = g·d^-β − 2αβ·x·W(g·y/d)."""
    y, x, factor, denominator, grad_band = op.inputs
    windowed = tf.nn.conv2d(grad * y / denominator, grad_band, 1, "SAME")
    return [None, grad * factor + x * windowed, None, None, None]


def _merge_sibling_convs(nodes: list) -> list:
    """Merges 1×1, stride-1 Conv2D+BiasAdd pairs that read the same tensor."""
    by_name = {node.name: node for node in nodes}
    consumers = defaultdict(list)
    for node in nodes:
        for inp in node.input:
            consumers[inp.split(":")[0].lstrip("^")].append(node)

    def mergeable(conv) -> bool:
        if conv.op != "Conv2D" or list(conv.attr["strides"].list.i) != [1, 1, 1, 1]:
            return False
        weights = by_name.get(conv.input[1])
        shape = weights.attr["value"].tensor.tensor_shape.dim if weights is not None else ()
        users = consumers[conv.name]
        return (weights is not None and weights.op == "Const" and [d.size for d in shape[:2]] == [1, 1]
                and len(users) == 1 and users[0].op == "BiasAdd"
                and by_name[users[0].input[1]].op == "Const")

    groups = defaultdict(list)
    for node in nodes:
        if mergeable(node):
            groups[_tensor_name(node.input[0])].append(node)

    replaced: dict[str, list] = {}  # name of the first conv of a group → its replacement
    removed: set[str] = set()
    for convs in groups.values():
        if len(convs) < 2:
            continue
        biases = [consumers[conv.name][0] for conv in convs]
        weights = [const_value(by_name[conv.input[1]]) for conv in convs]
        bias_values = [const_value(by_name[b.input[1]]) for b in biases]
        name = f"{biases[0].name.rsplit('_', 2)[0]}_merged_1x1"
        sizes = [w.shape[3] for w in weights]
        f32 = tf.float32
        group = [
            make_const(f"{name}_w", np.concatenate(weights, axis=3)),
            make_const(f"{name}_b", np.concatenate(bias_values)),
            make_node(f"{name}/conv", "Conv2D", [convs[0].input[0], f"{name}_w"], T=f32,
                      strides=[1, 1, 1, 1], padding=convs[0].attr["padding"].s),
            make_node(f"{name}/pre_relu", "BiasAdd", [f"{name}/conv", f"{name}_b"], T=f32),
            make_const(f"{name}/sizes", np.array(sizes, np.int32)),
            make_const(f"{name}/axis", np.array(3, np.int32)),
            make_node(f"{name}/split", "SplitV",
                      [f"{name}/pre_relu", f"{name}/sizes", f"{name}/axis"], T=f32,
                      Tlen=tf.int32, num_split=len(sizes)),
        ]
        # The original BiasAdd names stay, as views of the merged result.
        group += [make_node(b.name, "Identity", [f"{name}/split:{i}"], T=f32)
                  for i, b in enumerate(biases)]
        # Their ReLUs too: one ReLU on the merged result (fused into the convolution by
        # oneDNN, one ReluGrad backward), split the same way. A graph pruned to the ReLUs
        # only no longer splits the pre-ReLU tensor at all.
        relus = [consumers[b.name] for b in biases]
        if all(len(users) == 1 and users[0].op == "Relu" for users in relus):
            relus = [users[0] for users in relus]
            group += [
                make_node(f"{name}/relu", "Relu", [f"{name}/pre_relu"], T=f32),
                make_node(f"{name}/relu_split", "SplitV",
                          [f"{name}/relu", f"{name}/sizes", f"{name}/axis"], T=f32,
                          Tlen=tf.int32, num_split=len(sizes)),
            ]
            group += [make_node(r.name, "Identity", [f"{name}/relu_split:{i}"], T=f32)
                      for i, r in enumerate(relus)]
            removed |= {r.name for r in relus}
        replaced[convs[0].name] = group
        removed |= {n.name for n in convs} | {n.name for n in biases}
        removed |= {conv.input[1] for conv in convs} | {b.input[1] for b in biases}

    out = []
    for node in nodes:
        if node.name in replaced:
            out.extend(replaced[node.name])
        if node.name not in removed:
            out.append(node)
    return out


def optimize_for_gradients(graph_def) -> "tf.compat.v1.GraphDef":
    """The graph with LRN and sibling 1×1 convolutions rewritten (see module docstring)."""
    channels = channel_counts(graph_def)
    rewritten = []
    for node in graph_def.node:
        rewritten.extend(_replace_lrn(node, channels[node.name]) if node.op == "LRN" else [node])
    rewritten = _merge_sibling_convs(rewritten)
    result = tf.compat.v1.GraphDef()
    result.node.extend(rewritten)
    result.versions.CopyFrom(graph_def.versions)
    return result


def space_to_depth_conv(pixels: tf.Tensor, kernel: np.ndarray) -> tf.Tensor:
    """A stride-2 SAME convolution computed as space-to-depth + a stride-1 VALID one.

    The first layer (7×7, stride 2, 3 input channels) is cheap forward but its gradient
    with respect to the input, a strided transposed convolution into 3 channels, ran at a
    fifth of the machine's rate (31 ms of a 190 ms step at 512 px). Folded into 2×2
    pixel blocks, the layer becomes a 4×4 stride-1 convolution over 12 channels whose
    gradient oneDNN computes at full speed. Same outputs: the extra taps are zeros.
    """
    size, _, channels, outputs = kernel.shape
    taps = (size + 1) // 2
    padded = np.zeros((2 * taps, 2 * taps, channels, outputs), np.float32)
    padded[:size, :size] = kernel
    # (ty, dy, tx, dx, c, o) → (ty, tx, dy, dx, c, o): space_to_depth puts the position in
    # the block before the channel, (dy·2 + dx)·C + c.
    folded = padded.reshape(taps, 2, taps, 2, channels, outputs).transpose(0, 2, 1, 3, 4, 5)
    folded = folded.reshape(taps, taps, 4 * channels, outputs)

    def pads(length):
        out = (length + 1) // 2
        before = tf.maximum((out - 1) * 2 + size - length, 0) // 2  # as SAME pads
        after = 2 * (out + taps - 1) - length - before  # reaches an even, exact extent
        return tf.stack([before, after])

    shape = tf.shape(pixels)
    padding = tf.stack([[0, 0], pads(shape[1]), pads(shape[2]), [0, 0]])
    blocks = tf.nn.space_to_depth(tf.pad(pixels, padding), 2)
    return tf.nn.conv2d(blocks, tf.constant(folded), 1, "VALID")


def input_substitutes(graph_def, input_name: str) -> dict[str, Callable]:
    """{tensor name: function of the graph's input} for faster equivalents of its ops.

    Used as `import_graph_def`'s `input_map`: every stride-2 convolution that reads the
    input directly is computed by `space_to_depth_conv` instead.
    """
    by_name = {node.name: node for node in graph_def.node}
    substitutes = {}
    for node in graph_def.node:
        if (node.op == "Conv2D" and node.input[0] == input_name
                and list(node.attr["strides"].list.i) == [1, 2, 2, 1]
                and node.attr["padding"].s == b"SAME"
                and by_name[node.input[1]].op == "Const"):
            kernel = const_value(by_name[node.input[1]]).astype(np.float32)
            substitutes[f"{node.name}:0"] = lambda x, k=kernel: space_to_depth_conv(x, k)
    return substitutes


def to_bfloat16(graph_def) -> "tf.compat.v1.GraphDef":
    """The graph with every float32 tensor and weight in bfloat16.

    On CPUs with AVX512-BF16 or AMX, oneDNN runs bfloat16 convolutions about 1.6× faster
    than float32 ones (benchmarks/bench_engine.py measures it). Each value keeps about
    three significant digits, so a step's input gradient differs from float32's: cosine
    0.86 (class logit) to 0.96 (style) on the generated graph (benchmarks/quality.py),
    which is why the techniques default to float32. The caller casts inputs to bfloat16
    and outputs back to float32.
    """
    half, single = tf.bfloat16.as_datatype_enum, tf.float32.as_datatype_enum
    converted = tf.compat.v1.GraphDef()
    converted.versions.CopyFrom(graph_def.versions)
    for node in graph_def.node:
        copy = converted.node.add()
        copy.CopyFrom(node)
        for key in ("T", "dtype"):
            if key in copy.attr and copy.attr[key].type == single:
                copy.attr[key].type = half
        if "T" in copy.attr and copy.attr["T"].WhichOneof("value") == "list":  # IdentityN's
            types = copy.attr["T"].list.type
            types[:] = [half if t == single else t for t in types]
        if node.op == "Const" and node.attr["dtype"].type == single:
            value = const_value(node).astype(tf.bfloat16.as_numpy_dtype)
            copy.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return converted


def shared_weight_names(graph_def, min_elements: int) -> tuple[str, ...]:
    """The floating-point constants of at least `min_elements` values (the weights)."""
    floats = (tf.float32.as_datatype_enum, tf.bfloat16.as_datatype_enum)
    names = []
    for node in graph_def.node:
        if node.op != "Const" or node.attr["dtype"].type not in floats:
            continue
        shape = node.attr["value"].tensor.tensor_shape
        if int(np.prod([dim.size for dim in shape.dim])) >= min_elements:
            names.append(node.name)
    return tuple(names)


def read_from_resources(graph_def, shared_names: dict[str, str],
                        container: str) -> "tf.compat.v1.GraphDef":
    """The graph with each constant named in `shared_names` read from a resource instead.

    `shared_names` maps a Const node's name to the name its value is stored under in
    TensorFlow's resource manager (`container`). The node becomes `<name>/handle`
    (VarHandleOp) and `<name>` (ReadVariableOp), so everything that read the constant reads
    the stored tensor, and the graph holds no copy of it. Like the constant, both nodes
    have no inputs, which matters inside loops (see `dream.model.SharedWeights`).
    """
    result = tf.compat.v1.GraphDef()
    result.versions.CopyFrom(graph_def.versions)
    for node in graph_def.node:
        if node.name not in shared_names:
            result.node.add().CopyFrom(node)
            continue
        dtype = tf.as_dtype(node.attr["dtype"].type)
        shape = [dim.size for dim in node.attr["value"].tensor.tensor_shape.dim]
        handle = make_node(f"{node.name}/handle", "VarHandleOp", device=node.device, dtype=dtype,
                           container=container.encode(),
                           shared_name=shared_names[node.name].encode())
        handle.attr["shape"].shape.CopyFrom(tf.TensorShape(shape).as_proto())
        result.node.append(handle)
        result.node.append(make_node(node.name, "ReadVariableOp", [handle.name], device=node.device,
                                     dtype=dtype))
    return result
