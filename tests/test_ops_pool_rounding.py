"""Pools with explicit padding and floor or ceil rounding: the analysis, the generated module and the
documented rule agree in every small case.

The rule (docs/language.md, "Shapes"): windows start every `stride` pixels from the start of the padded
input. With round=floor a window lies inside the padded input. With round=ceil (PyTorch's ceil_mode) a
window is added while the previous one does not reach the end of the padded input, but it must start
inside the input or the leading padding; it may hang over the end. Max pooling ignores padding; average
pooling divides by the input pixels under the window, or with count_include_pad by the input and padding
pixels under it (never by the overhang past the padding).

Each case is a one-row spec compiled by inspec (elaborate, render the module, build it) and run on a
random input; the oracle below computes the same pool pixel by pixel from the rule alone.
"""

from __future__ import annotations

import itertools

import torch

from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import build_module

SIZES = range(1, 7)
KERNELS = range(1, 5)
STRIDES = range(1, 4)
KINDS = (("maxpool", None), ("avgpool", False), ("avgpool", True))


def _pads(k: int) -> list[tuple[int, int]]:
    """(before, after) along one axis: 0..2 each, within PyTorch's limit of half the kernel."""
    top = min(2, k // 2)
    return [(b, a) for b in range(top + 1) for a in range(top + 1)]


def _starts(n: int, k: int, s: int, before: int, after: int, rounding: str) -> list[int]:
    """Where the windows start along one axis, counted from the start of the padded input."""
    padded = n + before + after
    starts = []
    i = 0
    while True:
        start = i * s
        if rounding == "floor":
            ok = start + k <= padded
        else:  # the previous window (one stride back) does not reach the end; start before the end
            ok = start - s + k < padded and start < n + before
        if not ok:
            return starts
        starts.append(start)
        i += 1


def _oracle(x: torch.Tensor, k: int, s: int, pads, rounding: str, kind: str, count_pad):
    """The pool by the rule, window by window (None if no window fits along an axis)."""
    top, bottom, left, right = pads
    h, w = x.shape
    rows = _starts(h, k, s, top, bottom, rounding)
    cols = _starts(w, k, s, left, right, rounding)
    if not rows or not cols:
        return None
    out = torch.empty(len(rows), len(cols), dtype=torch.float64)
    for i, r0 in enumerate(rows):
        for j, c0 in enumerate(cols):
            # window rows and columns in input coordinates (padding before the input is negative)
            rr = range(r0 - top, r0 - top + k)
            cc = range(c0 - left, c0 - left + k)
            pixels = [x[r, c].item() for r in rr if 0 <= r < h for c in cc if 0 <= c < w]
            if kind == "maxpool":
                out[i, j] = max(pixels, default=float("-inf"))
            else:
                if count_pad:  # input and padding pixels, not the overhang past the padding
                    n_r = sum(1 for r in rr if -top <= r < h + bottom)
                    n_c = sum(1 for c in cc if -left <= c < w + right)
                    divisor = n_r * n_c
                else:
                    divisor = len(pixels)
                out[i, j] = sum(pixels) / divisor if divisor else float("nan")
    return out


def _cases():
    """Square inputs padded alike along both axes, and inputs whose axes differ in size and padding."""
    for k, s in itertools.product(KERNELS, STRIDES):
        axes = [(n, b, a) for n in SIZES for b, a in _pads(k)]
        for idx, (n, b, a) in enumerate(axes):
            # the same along both axes, then another axis paired deterministically
            for other in dict.fromkeys([(n, b, a), axes[(idx * 7 + 3) % len(axes)]]):
                for rounding in ("floor", "ceil"):
                    for kind, count_pad in KINDS:
                        yield (
                            (n, other[0]),
                            k,
                            s,
                            (b, a, other[1], other[2]),
                            rounding,
                            kind,
                            count_pad,
                        )


def _spec(size, k, s, pads, rounding, kind, count_pad) -> str:
    h, w = size
    extra = "" if count_pad is None else f" count_include_pad={str(count_pad).lower()}"
    pad = ", ".join(map(str, pads))
    return f"network t\ninput {h}x{w}x1\n{kind} {k}x{k}/{s} pad=({pad}) round={rounding}{extra}\n"


def test_pool_padding_and_rounding_agree_with_the_rule_and_the_module():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of tiny forward passes: a thread pool only adds overhead
    try:
        _check_every_case()
    finally:
        torch.set_num_threads(threads)


def _check_every_case():
    torch.manual_seed(0)
    checked = disagree = 0
    first: list[str] = []
    for case in _cases():
        (h, w), k, s, pads, rounding, kind, count_pad = case
        text = _spec(*case)
        x = torch.randn(h, w, dtype=torch.float64)
        want = _oracle(x, k, s, pads, rounding, kind, count_pad)
        net = elaborate(text=text)
        problems = []
        if not net.ok:
            # the analysis rejects the row: no window may fit (the limits keep padding legal)
            if want is not None:
                problems.append(f"rejected, but the rule gives {tuple(want.shape)}")
        elif want is None:
            problems.append(f"accepted as {net.output}, but no window fits")
        else:
            y = net.output
            if (y.h, y.w) != tuple(want.shape):
                problems.append(f"analysis {y.h}x{y.w}, rule {tuple(want.shape)}")
            module = build_module(net).double().eval()
            got = module(x[None, None])[0, 0]
            if tuple(got.shape) != tuple(want.shape):
                problems.append(f"module {tuple(got.shape)}, rule {tuple(want.shape)}")
            elif not torch.isfinite(got).all():
                problems.append(f"module output not finite: {got.tolist()}")
            elif not torch.allclose(got, want):
                problems.append(f"module {got.tolist()}, rule {want.tolist()}")
        checked += 1
        if problems:
            disagree += 1
            if len(first) < 10:
                first.append(text.splitlines()[1:] + problems)
    assert checked > 3000
    assert disagree == 0, f"{disagree} of {checked} cases disagree, e.g.\n" + "\n".join(
        map(str, first)
    )
