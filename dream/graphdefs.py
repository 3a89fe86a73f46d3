"""Small helpers for writing GraphDef nodes (used by the graph rewrites and the test graph)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2, node_def_pb2


def attr_value(value) -> attr_value_pb2.AttrValue:
    attr = attr_value_pb2.AttrValue()
    if isinstance(value, bool):
        attr.b = value
    elif isinstance(value, tf.DType):
        attr.type = value.as_datatype_enum
    elif isinstance(value, bytes):
        attr.s = value
    elif isinstance(value, (list, tuple)):
        attr.list.i.extend(value)
    elif isinstance(value, float):
        attr.f = value
    elif isinstance(value, int):
        attr.i = value
    elif isinstance(value, np.ndarray):
        attr.tensor.CopyFrom(tf.make_tensor_proto(value))
    else:
        raise TypeError(f"unsupported attribute value {value!r}")
    return attr


def make_node(name: str, op: str, inputs=(), device: str = "", **attrs) -> node_def_pb2.NodeDef:
    node = node_def_pb2.NodeDef(name=name, op=op, input=list(inputs), device=device)
    for key, value in attrs.items():
        node.attr[key].CopyFrom(attr_value(value))
    return node


def make_const(name: str, value: np.ndarray, device: str = "") -> node_def_pb2.NodeDef:
    value = np.asarray(value)
    return make_node(name, "Const", device=device, dtype=tf.as_dtype(value.dtype), value=value)


def const_value(node: node_def_pb2.NodeDef) -> np.ndarray:
    return tf.make_ndarray(node.attr["value"].tensor)


def channel_counts(graph_def) -> dict[str, int]:
    """Output channels of every 4-D node, read off the weights (no shape inference)."""
    nodes = {node.name: node for node in graph_def.node}
    counts: dict[str, int] = {}

    def channels(name: str) -> int | None:
        name = name.split(":")[0].lstrip("^")
        if name in counts:
            return counts[name]
        node = nodes[name]
        result = None
        if node.op == "Conv2D":
            filter_node = nodes[node.input[1]]
            result = filter_node.attr["value"].tensor.tensor_shape.dim[3].size
        elif node.op in ("BiasAdd", "Relu", "MaxPool", "AvgPool", "LRN"):
            result = channels(node.input[0])
        elif node.op in ("Concat", "ConcatV2"):
            values = node.input[1:] if node.op == "Concat" else node.input[:-1]
            parts = [channels(value) for value in values]
            result = sum(parts) if None not in parts else None
        counts[name] = result
        return result

    for node in graph_def.node:
        if node.op in ("Conv2D", "BiasAdd", "Relu", "MaxPool", "AvgPool", "LRN", "Concat",
                       "ConcatV2"):
            channels(node.name)
    return {name: count for name, count in counts.items() if count is not None}
