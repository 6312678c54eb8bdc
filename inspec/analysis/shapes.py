"""Tensor shapes as papers print them (H x W x C) and the arithmetic shared by conv and pool."""

from __future__ import annotations

import math
from dataclasses import dataclass

from inspec.diagnostics import SpecError


@dataclass(frozen=True)
class Shape:
    """H x W x C for a batch of one. `flat` marks a vector (after flatten or linear): 1 x 1 x C."""

    h: int
    w: int
    c: int
    flat: bool = False

    def __str__(self) -> str:
        return f"{self.h}x{self.w}x{self.c}"

    @property
    def numel(self) -> int:
        return self.h * self.w * self.c

    def torch_comment(self) -> str:
        """The shape as a PyTorch comment: N x C x H x W, or N x C for a vector."""
        return f"N x {self.c}" if self.flat else f"N x {self.c} x {self.h} x {self.w}"

    def as_list(self) -> list[int]:
        return [self.h, self.w, self.c]


@dataclass(frozen=True)
class Padding:
    top: int
    bottom: int
    left: int
    right: int

    @property
    def symmetric(self) -> bool:
        return self.top == self.bottom and self.left == self.right

    def torch(self) -> tuple[int, int]:
        return (self.top, self.left)

    def __str__(self) -> str:
        if self.symmetric:
            return f"{self.top}" if self.top == self.left else f"({self.top}, {self.left})"
        return f"({self.top}, {self.bottom}, {self.left}, {self.right})"


def resolve_padding(
    pad, size: int, k: int, stride: int, dilation: int, axis: str
) -> tuple[int, int]:
    """Padding (before, after) along one axis for pad = 'same' | 'valid' | 'half' | int |
    (before, after)."""
    if pad == "valid":
        return 0, 0
    if pad == "half":  # PyTorch's customary symmetric padding
        return (k - 1) // 2 * dilation, (k - 1) // 2 * dilation
    if pad == "same":
        # TensorFlow's SAME: out = ceil(size / stride); the odd pixel of padding goes after.
        out = -(-size // stride)
        eff = dilation * (k - 1) + 1
        total = max((out - 1) * stride + eff - size, 0)
        return total // 2, total - total // 2
    if isinstance(pad, int):
        return pad, pad
    return pad


def split_pad(pad) -> tuple[object, object]:
    """Split a pad attribute into its (height, width) parts."""
    if isinstance(pad, tuple):
        if len(pad) == 2:
            return pad[0], pad[1]
        if len(pad) == 4:
            return (pad[0], pad[1]), (pad[2], pad[3])
    return pad, pad


def window_out(
    size: int,
    k: int,
    stride: int,
    before: int,
    after: int,
    dilation: int,
    rounding: str,
    axis: str,
    what: str,
) -> tuple[int, str | None]:
    """Output length of a sliding window along one axis.

    Returns (length, note) where note explains an inexact division (None if exact).
    Raises SpecError when the window does not fit.
    """
    eff = dilation * (k - 1) + 1
    span = size + before + after - eff
    pads = f" + {before + after}" if before + after else ""
    kstr = f"{eff}" if dilation == 1 else f"{dilation}*({k}-1)+1"
    formula = f"({size}{pads} - {kstr}) / {stride} + 1"
    if rounding == "ceil":
        out = ceil_windows(size, eff, stride, before, after)
        if out >= 1:
            exact = span >= 0 and span % stride == 0
            if exact:
                return out, None
            value = span / stride + 1
            up = ceil_div(span, stride) + 1
            if up > out:  # the last window would start after the input (in the trailing padding)
                return out, (
                    f"{axis}: {formula} = {value:g}, rounded up to {up}, less a last window that"
                    f" would start after the input: {out}"
                )
            return out, f"{axis}: {formula} = {value:g}, rounded up to {out}"
    if span < 0:
        raise SpecError(
            f"the {k}-wide {what} window does not fit the {axis} of {size}",
            f"{axis}: {formula} = {span / stride + 1:g} < 1",
        )
    exact = span % stride == 0
    out = span // stride + 1
    if not exact:
        value = span / stride + 1
        if rounding == "exact":
            raise SpecError(
                f"{axis} output size is not an integer",
                f"{axis}: {formula} = {value:g}",
            )
        return out, f"{axis}: {formula} = {value:g}, rounded {rounding_word(rounding)} to {out}"
    return out, None


def ceil_windows(size: int, eff: int, stride: int, before: int, after: int) -> int:
    """How many windows of extent `eff` round=ceil fits along one axis (may be < 1: none fit).

    PyTorch's ceil_mode: the last window may hang over the end of the padded input, but it must start
    inside the input or the leading padding.
    """
    out = ceil_div(size + before + after - eff, stride) + 1
    if (out - 1) * stride >= size + before:
        out -= 1
    return out


def ceil_read_after(size: int, k: int, stride: int, before: int, after: int, dilation: int) -> int:
    """The part of the trailing padding `after` that round=ceil's windows read along one axis.

    Padding past the last window's end changes nothing in the result, but a pool that sees it as input
    (a padding layer followed by a pool with padding 0, which is how asymmetric padding reaches
    PyTorch) may start one more window inside it: PyTorch's rule allows a last window that starts in
    the input, and to the pool the trailing padding is input.
    """
    eff = dilation * (k - 1) + 1
    out = ceil_windows(size, eff, stride, before, after)
    end = (out - 1) * stride + eff  # the last window's end, counted from the leading padding
    return min(after, max(0, end - size - before))


def rounding_word(rounding: str) -> str:
    return "up" if rounding == "ceil" else "down"


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def is_integral(x) -> bool:
    return isinstance(x, int) or (isinstance(x, float) and math.isfinite(x) and x.is_integer())
