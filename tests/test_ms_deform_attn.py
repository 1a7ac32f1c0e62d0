"""Multi-scale deformable attention equals a naive per-point reference and has correct gradients."""

import pytest
import torch

from tubelink.modeling.ops import MSDeformAttn, ms_deform_attn_core
from tubelink.modeling.ops import ms_deform_attn as msda

KERNELS = [msda._core_grid_sample, msda._core_embedding_bag]

SHAPES = [(3, 4), (2, 3)]


def _bilinear(img, x, y):
    """Sample img (D, H, W) at continuous pixel coordinates (x, y) with zero padding (kernel convention)."""
    d, h, w = img.shape
    x0, y0 = int(torch.floor(x)), int(torch.floor(y))
    out = img.new_zeros(d)
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - abs(x - xi)) * (1 - abs(y - yi))
            if 0 <= xi < w and 0 <= yi < h:
                out = out + wgt * img[:, yi, xi]
    return out


def _naive(value, shapes, locations, weights):
    b, s, m, d = value.shape
    q, points = locations.shape[1], locations.shape[4]
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = value.new_zeros(b, q, m, d)
    for bi in range(b):
        for qi in range(q):
            for mi in range(m):
                for li, (h, w) in enumerate(shapes):
                    img = value[bi, starts[li] : starts[li + 1], mi].T.reshape(d, h, w)
                    for pi in range(points):
                        x = locations[bi, qi, mi, li, pi, 0] * w - 0.5
                        y = locations[bi, qi, mi, li, pi, 1] * h - 0.5
                        out[bi, qi, mi] += weights[bi, qi, mi, li, pi] * _bilinear(img, x, y)
    return out.reshape(b, q, m * d)


def _inputs(dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    b, q, m, d, p = 2, 3, 2, 4, 2
    s = sum(h * w for h, w in SHAPES)
    value = torch.randn(b, s, m, d, generator=g, dtype=dtype)
    locations = torch.rand(b, q, m, len(SHAPES), p, 2, generator=g, dtype=dtype) * 1.4 - 0.2  # some outside
    weights = torch.rand(b, q, m, len(SHAPES) * p, generator=g, dtype=dtype).softmax(-1).view(b, q, m, len(SHAPES), p)
    return value, locations, weights


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
def test_core_equals_naive_reference(kernel):
    value, locations, weights = _inputs()
    ours = kernel(value, SHAPES, locations, weights)
    assert torch.allclose(ours, _naive(value, SHAPES, locations, weights), atol=1e-10)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
def test_core_gradcheck_float64(kernel):
    value, locations, weights = _inputs()
    for t in (value, locations, weights):
        t.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda v, loc, w: kernel(v, SHAPES, loc, w), (value, locations, weights), eps=1e-6, atol=1e-5
    )


def test_core_uses_embedding_bag_without_gradients_and_grid_sample_with(monkeypatch):
    calls = []
    for kernel in KERNELS:
        monkeypatch.setattr(msda, kernel.__name__, lambda *a, _k=kernel: calls.append(_k.__name__) or _k(*a))
    value, locations, weights = _inputs()
    with torch.no_grad():
        ms_deform_attn_core(value.requires_grad_(True), SHAPES, locations, weights)
    ms_deform_attn_core(value, SHAPES, locations, weights)  # value needs a gradient
    ms_deform_attn_core(value.detach(), SHAPES, locations, weights)  # nothing does
    assert calls == ["_core_embedding_bag", "_core_grid_sample", "_core_embedding_bag"]


def test_module_shapes_fp32_sampling_under_bf16_autocast():
    torch.manual_seed(0)
    attn = MSDeformAttn(d_model=32, n_levels=2, n_heads=4, n_points=2)
    s = sum(h * w for h, w in SHAPES)
    query, value = torch.randn(2, s, 32), torch.randn(2, s, 32)
    ref = torch.rand(2, s, 2, 2)
    out = attn(query, ref, value, SHAPES)
    assert out.shape == (2, s, 32) and out.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_bf16 = attn(query.bfloat16(), ref, value.bfloat16(), SHAPES)
    # the output projection follows autocast; the sampling in between ran in fp32 (close to the fp32 result)
    assert out_bf16.dtype == torch.bfloat16 and torch.isfinite(out_bf16).all()
    assert torch.allclose(out_bf16.float(), out, atol=0.05, rtol=0.05)
    assert [n for n, _ in attn.named_parameters()] == [
        "sampling_offsets.weight",
        "sampling_offsets.bias",
        "attention_weights.weight",
        "attention_weights.bias",
        "value_proj.weight",
        "value_proj.bias",
        "output_proj.weight",
        "output_proj.bias",
    ]


def test_short_row_softmax_equals_softmax_values_and_gradients():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 8, 12, generator=g, dtype=torch.float64) * 3
    x[0, 0] += 1000.0  # rows far apart: a shift shared across rows would underflow; per-row max must not
    x[1, 1] -= 1000.0
    x.requires_grad_(True)
    ref = x.detach().clone().requires_grad_(True)
    ours, theirs = msda._softmax_short_rows(x), ref.softmax(-1)
    assert torch.isfinite(ours).all() and torch.allclose(ours, theirs, atol=1e-12)
    up = torch.randn(ours.shape, generator=g, dtype=torch.float64)
    (ours * up).sum().backward(), (theirs * up).sum().backward()
    assert torch.allclose(x.grad, ref.grad, atol=1e-12)
