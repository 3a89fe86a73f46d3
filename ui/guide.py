"""Words for people learning what the network sees: the student guide and the About tab."""

from __future__ import annotations

import gradio as gr

STUDENT_GUIDE = """
**What is happening?** The network (Google's Inception, trained to recognise 1000 kinds of
objects) looks at your photo. Deep Dream then changes the photo, step by step, so that the
part of the network you chose responds *more*: whatever that part has learnt to detect is
painted into the picture, a little more in every frame.

**Which layer?** Inception is a stack of layers, and each layer sees a bit more than the one
before:

| layers | what they detect | what the dream paints |
| --- | --- | --- |
| `conv2d0`–`conv2d2` | edges, colour contrasts | fine strokes and grain |
| `mixed3a`, `mixed3b` | textures, simple patterns | swirls, scales, mosaics |
| `mixed4a`–`mixed4c` | parts of things | eyes, fur, feathers, arches |
| `mixed4d`, `mixed4e` | whole parts and small objects | dog faces, birds, pagodas |
| `mixed5a`, `mixed5b` | objects and scenes | busy, object-like clutter |

**The names in the layer list.** A `mixed` layer (an *Inception block*) runs several
branches side by side and stacks their outputs: `…_1x1`, `…_3x3` and `…_5x5` are
convolutions of that size, `…_pool_reduce` follows a max-pool. A **bottleneck**
(`…_3x3_bottleneck`, `…_5x5_bottleneck`) is the small 1×1 convolution that squeezes the
channels before a big one. **pre-ReLU** (`…_pre_relu`) is a convolution's output *before*
negative values are cut to zero: a detector that is silent on your photo still has a
direction to grow in there, which is why the original notebook dreams single channels on
pre-ReLU tensors. A **channel** is one detector of a layer; a **class neuron** is the
network's final score for one ImageNet class (the famous jellyfish).

**Five things to try**

1. The cat example with *Whole layer* `mixed3b`, then `mixed4c`, then `mixed5a`: watch the
   motifs grow from texture to eyes to objects.
2. Preset *Flowers*: one channel of `mixed4d_3x3_bottleneck_pre_relu`, the notebook's
   most famous detector.
3. *Class neuron* `jellyfish`, then `tree frog` or `pizza`: what does the network think a
   class looks like?
4. Raise **Octaves** to 5 for bigger motifs; lower **Max image side** for a faster run.
5. The *Fractal Zoom* tab with the landscape: an endless dive into the dream.

**Read more:** Mordvintsev, Olah and Tyka, [*Inceptionism: Going Deeper into Neural
Networks*](https://research.google/blog/inceptionism-going-deeper-into-neural-networks/)
(2015) · the [DeepDream notebook](https://github.com/google/deepdream/blob/master/dream.ipynb)
and its [TensorFlow inception5h version](https://github.com/tensorflow/tensorflow/blob/r1.15/tensorflow/examples/tutorials/deepdream/deepdream.ipynb)
· the [TensorFlow DeepDream tutorial](https://www.tensorflow.org/tutorials/generative/deepdream)
· Olah, Mordvintsev and Schubert, [*Feature Visualization*](https://distill.pub/2017/feature-visualization/)
(Distill, 2017) and the [Lucid](https://github.com/tensorflow/lucid) library · Szegedy et
al., [*Going Deeper with Convolutions*](https://arxiv.org/abs/1409.4842) (2014), the network
itself.
"""

ABOUT = """
## What each tab does

**Deep Dream.** The photo is changed, step by step, so that a chosen part of the network
(a whole layer, one channel, or the neuron of one ImageNet class) responds more and more
strongly, so whatever that part "sees" is painted into the picture. This is the technique
of Mordvintsev, Olah and Tyka's [*Inceptionism*](https://research.google/blog/inceptionism-going-deeper-into-neural-networks/)
(Google Research blog, 2015) and their [DeepDream notebook](https://github.com/google/deepdream);
here every GIF frame dreams on the frame before it (the feedback loop).

**Fractal Zoom.** Each frame is dreamed, then zoomed in slightly and dreamed again, so the
animation dives forever into a landscape that keeps hallucinating new detail. The endless
zooms come from the same post and notebook.

**Video.** Deep Dream on every frame of a clip. Each frame starts from the source frame
blended with the previous dream, moved along the optical flow between the source frames,
so the patterns stay put and travel with the picture instead of flickering: the approach
of DeepDreamVideo and the "ouroboros" videos of pytorch-deepdream. The result keeps the
clip's sound.

**Guided Hallucination.** Instead of amplifying what a layer already sees, the picture is
pushed toward (or away from) the features of a second, guide image. This follows the
"controlling dreams" section of the DeepDream notebook (the *best match* similarity) and
Parag Mital's [Creative Applications of Deep Learning](https://github.com/pkmital/CADL),
session 4 (the dot-product, distance and smoothness terms).

**Style Transfer.** The result keeps the content photo's features at one layer while taking
on the style image's feature correlations (Gram matrices) at several others: Gatys, Ecker
and Bethge, [*A Neural Algorithm of Artistic Style*](https://arxiv.org/abs/1508.06576)
(2015), with colour preservation from Gatys et al. [2016](https://arxiv.org/abs/1606.05897);
the layer choices follow [Lucid](https://github.com/tensorflow/lucid)'s style-transfer
notebook for this network.

## The model

All tabs use Google's **inception5h** GoogLeNet (Szegedy et al., [*Going Deeper with
Convolutions*](https://arxiv.org/abs/1409.4842), 2014), trained on ImageNet and published
with the DeepDream notebook. Layer names (`mixed4c`, …) are the graph's own; Lucid calls the
same network InceptionV1.

## New to this?

{guide}

## Tips

- Every run returns the final image as a full-size, lossless **PNG**, an animated **GIF**
  and the **settings used** (including the random seed): the same settings and seed give
  the same result. Click a picture in *Your results this session* to get its settings back.
- Runs are queued (one at a time) and bounded: images are fitted into the maximum side you
  choose (at most {max_side} px), and a run may do at most {budget:.0f} *megapixel-steps*
  of work (frames × steps × the megapixels of every octave; the defaults need about 10–15).
- Results are kept on the server for about an hour; download what you want to keep.
- Transparent images are put on a white background before dreaming.
- Every tab is also an API endpoint: see "Use via API" at the bottom of the page.
"""


def build_about(max_side: int, budget: float) -> None:
    gr.Markdown(ABOUT.format(max_side=max_side, budget=budget, guide=STUDENT_GUIDE))
