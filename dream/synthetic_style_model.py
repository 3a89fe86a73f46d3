"""A stand-in for Magenta's arbitrary-image-stylization network, for tests and benchmarks.

The real `magenta/arbitrary-image-stylization-v1-256` SavedModel cannot be downloaded on
machines without internet, and its weights must not be committed. This module writes a
SavedModel with the *same call contract*, built from the architecture of Ghiasi, Lee,
Kudlur, Dumoulin and Shlens, "Exploring the structure of a real-time, arbitrary neural
artistic stylization network" (BMVC 2017), as in Magenta's code
(`arbitrary_image_stylization_build_model.py`, `nza_model.py`, `export_hub.py`), filled
with seeded random weights:

- style prediction: Inception-v3 up to `Mixed_6e` (768 channels, 14×14 for a 256×256
  style), a spatial mean, a 1×1 convolution to the 100-d style bottleneck, then one pair
  of 1×1 convolutions (beta, gamma) per style-normalised layer of the transformer;
- transformer: 3 mirror-padded convolutions (9×9/1 → 32, 3×3/2 → 64, 3×3/2 → 128, batch
  norm folded into a bias), 5 residual blocks of two 3×3 convolutions at 128 channels,
  and 3 upsampling layers (nearest ×2 + 3×3 → 64, ×2 + 3×3 → 32, 9×9 → 3 with a
  sigmoid); every residual and upsampling convolution is style-normalised (instance
  statistics, beta and gamma from the style).

Like the real export, `module(content, style)` takes float32 [batch, H, W, 3] images in
0..1 and returns a *list* whose [0] is the stylised batch in 0..1; like the real network,
that image is 4·⌈H/4⌉ × 4·⌈W/4⌉ (the two stride-2 convolutions round up). At `width=1.0`
every convolution has the real shape, so a pass costs what it costs on the real model;
tests use a small width so they stay fast.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

STYLE_SIZE = 256
BOTTLENECK = 100

# Inception-v3's stem (slim's `inception_v3_base`): (name, kernel, stride, channels, padding);
# "pool" rows are 3×3 stride-2 max pools.
INCEPTION_STEM = (
    ("Conv2d_1a_3x3", (3, 3), 2, 32, "VALID"),
    ("Conv2d_2a_3x3", (3, 3), 1, 32, "VALID"),
    ("Conv2d_2b_3x3", (3, 3), 1, 64, "SAME"),
    ("MaxPool_3a_3x3", "pool"),
    ("Conv2d_3b_1x1", (1, 1), 1, 80, "VALID"),
    ("Conv2d_4a_3x3", (3, 3), 1, 192, "VALID"),
    ("MaxPool_5a_3x3", "pool"),
)
# Mixed_5b..5d: (name, pool-branch channels); Mixed_6b..6e: (name, 7×7-branch channels).
MIXED_5 = (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64))
MIXED_6 = (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192))
RESIDUAL_BLOCKS = 5


def _scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


class _Layers:
    """Creates each convolution's weights on first use and counts multiply-adds."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.weights: dict[str, tf.Variable] = {}
        self.counting: list[int] | None = None  # set while counting MACs eagerly

    def variable(self, name: str, shape: tuple[int, ...], scale: float, offset: float = 0.0) -> tf.Variable:
        if name not in self.weights:
            value = offset + scale * self.rng.standard_normal(shape)
            self.weights[name] = tf.Variable(value.astype(np.float32), name=name.replace("/", "_"))
        return self.weights[name]

    def conv(self, x: tf.Tensor, name: str, kernel: tuple[int, int], stride: int, channels: int,
             padding: str = "SAME", bias: bool = True) -> tf.Tensor:
        in_channels = int(x.shape[-1])
        fan_in = kernel[0] * kernel[1] * in_channels
        weights = self.variable(f"{name}/weights", (*kernel, in_channels, channels), np.sqrt(2.0 / fan_in))
        y = tf.nn.conv2d(x, weights, stride, padding)
        if self.counting is not None:
            self.counting.append(int(np.prod(y.shape[1:])) * fan_in)
        if bias:
            y = y + self.variable(f"{name}/biases", (channels,), 0.05)
        return y


class StandInStylizer(tf.Module):
    """The network described in the module docstring, with random weights."""

    def __init__(self, width: float = 1.0, seed: int = 0) -> None:
        super().__init__(name="arbitrary_image_stylization_stand_in")
        self.width = float(width)
        self._layers = _Layers(np.random.default_rng(seed))
        self._norm_depths = [_scaled(128, width)] * (2 * RESIDUAL_BLOCKS) + [
            _scaled(64, width), _scaled(32, width), 3]
        # One eager pass creates every variable; the traced function below only reads them.
        self._stylize(tf.zeros([1, 16, 16, 3]), tf.zeros([1, STYLE_SIZE, STYLE_SIZE, 3]))
        self.variables_list = list(self._layers.weights.values())

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32),
                                  tf.TensorSpec([None, None, None, 3], tf.float32)])
    def __call__(self, content, style):
        # A list, like the real export's pruned function (`export_hub.py`): callers take [0].
        return [self._stylize(content, style)]

    def multiply_adds(self, content_shape: tuple[int, int],
                      style_shape: tuple[int, int] = (STYLE_SIZE, STYLE_SIZE)) -> dict[str, int]:
        """Convolution multiply-adds of one pass: {"style_prediction", "transformer"}."""
        counts = {}
        for part, run in (("style_prediction", lambda: self._style_params(tf.zeros([1, *style_shape, 3]))),
                          ("transformer", lambda: self._transform(
                              tf.zeros([1, *content_shape, 3]),
                              [(tf.ones([1, d]), tf.zeros([1, d])) for d in self._norm_depths]))):
            self._layers.counting = []
            run()
            counts[part] = sum(self._layers.counting)
            self._layers.counting = None
        return counts

    # --- the network

    def _stylize(self, content, style):
        return self._transform(content, self._style_params(style))

    def _style_params(self, style) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """(gamma, beta), each [batch, depth], for every style-normalised layer."""
        layers, w = self._layers, self.width
        features = _inception_v3_to_mixed_6e(layers, style * 2.0 - 1.0, w)
        pooled = tf.reduce_mean(features, axis=[1, 2], keepdims=True)
        bottleneck = layers.conv(pooled, "bottleneck", (1, 1), 1, _scaled(BOTTLENECK, w))
        params = []
        for index, depth in enumerate(self._norm_depths):
            name = f"style_params/{index}"
            beta = layers.conv(bottleneck, f"{name}/beta", (1, 1), 1, depth)
            gamma = 1.0 + 0.1 * layers.conv(bottleneck, f"{name}/gamma", (1, 1), 1, depth)
            params.append((tf.squeeze(gamma, [1, 2]), tf.squeeze(beta, [1, 2])))
        return params

    def _transform(self, content, params):
        layers, w = self._layers, self.width
        norms = iter(params)

        def styled(x, name, kernel, channels, activation: Callable | None = tf.nn.relu):
            x = _mirror_conv(layers, x, name, kernel, 1, channels, bias=False)
            gamma, beta = next(norms)
            mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
            x = tf.nn.batch_normalization(x, mean, variance, beta[:, None, None, :],
                                          gamma[:, None, None, :], 1e-5)
            return activation(x) if activation else x

        h = tf.nn.relu(_mirror_conv(layers, content, "contract/conv1", 9, 1, _scaled(32, w)))
        h = tf.nn.relu(_mirror_conv(layers, h, "contract/conv2", 3, 2, _scaled(64, w)))
        h = tf.nn.relu(_mirror_conv(layers, h, "contract/conv3", 3, 2, _scaled(128, w)))
        for block in range(1, RESIDUAL_BLOCKS + 1):
            inner = styled(h, f"residual{block}/conv1", 3, _scaled(128, w))
            h = h + styled(inner, f"residual{block}/conv2", 3, _scaled(128, w), activation=None)
        h = styled(_upsample(h), "expand/conv1", 3, _scaled(64, w))
        h = styled(_upsample(h), "expand/conv2", 3, _scaled(32, w))
        return styled(h, "expand/conv3", 9, 3, activation=tf.nn.sigmoid)


def _mirror_conv(layers: _Layers, x, name, kernel: int, stride: int, channels: int, bias: bool = True):
    """Magenta's `conv2d`: reflect padding by kernel // 2, then a VALID convolution."""
    pad = kernel // 2
    x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    return layers.conv(x, name, (kernel, kernel), stride, channels, "VALID", bias=bias)


def _upsample(x):
    shape = tf.shape(x)
    return tf.image.resize(x, [2 * shape[1], 2 * shape[2]], method="nearest")


def _inception_v3_to_mixed_6e(layers: _Layers, x, width: float):
    """slim's `inception_v3_base(final_endpoint="Mixed_6e")`, batch norm folded into biases."""
    def conv(x, name, kernel, channels, stride=1, padding="SAME"):
        return tf.nn.relu6(layers.conv(x, f"InceptionV3/{name}", kernel, stride,
                                       _scaled(channels, width), padding))

    def avg_pool(x):
        return tf.nn.avg_pool2d(x, 3, 1, "SAME")

    for row in INCEPTION_STEM:
        if row[1] == "pool":
            x = tf.nn.max_pool2d(x, 3, 2, "VALID")
        else:
            name, kernel, stride, channels, padding = row
            x = conv(x, name, kernel, channels, stride, padding)
    for name, pool_channels in MIXED_5:
        x = tf.concat([
            conv(x, f"{name}/b0", (1, 1), 64),
            conv(conv(x, f"{name}/b1a", (1, 1), 48), f"{name}/b1b", (5, 5), 64),
            conv(conv(conv(x, f"{name}/b2a", (1, 1), 64), f"{name}/b2b", (3, 3), 96),
                 f"{name}/b2c", (3, 3), 96),
            conv(avg_pool(x), f"{name}/b3", (1, 1), pool_channels),
        ], axis=-1)
    x = tf.concat([
        conv(x, "Mixed_6a/b0", (3, 3), 384, stride=2, padding="VALID"),
        conv(conv(conv(x, "Mixed_6a/b1a", (1, 1), 64), "Mixed_6a/b1b", (3, 3), 96),
             "Mixed_6a/b1c", (3, 3), 96, stride=2, padding="VALID"),
        tf.nn.max_pool2d(x, 3, 2, "VALID"),
    ], axis=-1)
    for name, mid in MIXED_6:
        b1 = conv(conv(conv(x, f"{name}/b1a", (1, 1), mid), f"{name}/b1b", (1, 7), mid),
                  f"{name}/b1c", (7, 1), 192)
        b2 = conv(x, f"{name}/b2a", (1, 1), mid)
        for index, kernel in enumerate(((7, 1), (1, 7), (7, 1))):
            b2 = conv(b2, f"{name}/b2{'bcd'[index]}", kernel, mid)
        b2 = conv(b2, f"{name}/b2e", (1, 7), 192)
        x = tf.concat([conv(x, f"{name}/b0", (1, 1), 192), b1, b2,
                       conv(avg_pool(x), f"{name}/b3", (1, 1), 192)], axis=-1)
    return x


# ----------------------------------------------------------------------------- files


def write_saved_model(folder: str | Path, width: float = 0.125, seed: int = 0) -> Path:
    """A SavedModel folder (`saved_model.pb`, `variables/`) with the real call contract."""
    folder = Path(folder)
    module = StandInStylizer(width, seed)
    # The real export also declares its call as the serving signature.
    tf.saved_model.save(module, str(folder), signatures=module.__call__.get_concrete_function())
    return folder


def write_tar_gz(path: str | Path, width: float = 0.125, seed: int = 0,
                 folder: str | Path | None = None) -> Path:
    """The SavedModel as TF Hub serves it (`?tf-hub-format=compressed`): a .tar.gz whose
    members sit at the top level (`saved_model.pb`, `variables/...`)."""
    path = Path(path)
    folder = Path(folder) if folder is not None else path.with_name(path.name + ".folder")
    if not (folder / "saved_model.pb").is_file():
        write_saved_model(folder, width, seed)
    with tarfile.open(path, "w:gz") as archive:
        for member in sorted(folder.rglob("*")):
            archive.add(member, arcname=str(member.relative_to(folder)), recursive=False)
    return path


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="where to write the SavedModel")
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    print(write_saved_model(arguments.folder, arguments.width, arguments.seed))
