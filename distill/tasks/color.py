"""The spec's ``color``: the channels the networks see, whatever channels the source has.

A meta-dataset wants the same images as grayscale and as RGB tasks; converting here, in the pipeline,
makes that one key for every source instead of an option of each.
"""

from __future__ import annotations

import torch

COLORS = ("gray", "rgb")
COLOR_CHANNELS = {"gray": 1, "rgb": 3}  # the channels each color gives
# ITU-R BT.601 luma, the weights of PIL's convert("L") and of most grayscale datasets made from colour ones.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def convert_color(x: torch.Tensor, color: str) -> torch.Tensor:
    """``(N, C, H, W)`` images in [0, 1] with C 1 or 3 -> the same images with 1 (``gray``) or 3 (``rgb``) channels.

    gray -> rgb repeats the channel; rgb -> gray is the weighted sum of the channels (:data:`LUMA_WEIGHTS`),
    written out channel by channel so the result does not depend on the thread count.
    """
    channels = x.shape[1]
    if color == "rgb" and channels == 1:
        return x.expand(-1, 3, -1, -1).contiguous()
    if color == "gray" and channels == 3:
        r, g, b = LUMA_WEIGHTS
        return (r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]).clamp_(0, 1)
    if color not in COLORS:
        raise ValueError(f"the task spec's 'color' must be one of {{{', '.join(COLORS)}}}; got {color!r}")
    return x
