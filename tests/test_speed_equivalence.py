"""The faster transformer (issue 15) computes what the plain tensor expressions computed.

The reference below is the previous implementation, written out with plain torch ops on the
same module's weights: RMSNorm as ``x * rsqrt(mean(x^2) + eps) * w``, rotate-half rotary from
full-width tables per block, ``gelu(gate) * up``, and the dense ``(B, 1, L, L)`` mask with an
identity term for padded queries. Outputs of real tokens and every parameter gradient must
match within float32 tolerance.
"""

import pytest
import torch
from torch.nn import functional as F

from skdistill.nn import Transformer
from skdistill.nn._mae import MaskedAutoencoder
from skdistill.nn._transformer import (
    RotaryEmbedding,
    apply_rotary,
    build_attention_mask,
    gated_gelu,
    rms_norm,
    rotate,
)


def _ref_rms(x, norm):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + norm.eps) * norm.weight


def _ref_rotate_half(x):
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def _ref_mask(positions, key_padding_mask, causal):
    mask = None
    if causal:
        mask = positions[:, None, :, None] >= positions[:, None, None, :]
    if key_padding_mask is not None and not bool(key_padding_mask.all()):
        keys = key_padding_mask[:, None, None, :]
        mask = keys if mask is None else mask & keys
        eye = torch.eye(positions.shape[1], dtype=torch.bool)[None, None]
        mask = mask | (eye & ~key_padding_mask[:, None, :, None])
    return mask


def _ref_block(block, x, positions, mask):
    attn = block.attn
    batch, length, width = x.shape
    h = _ref_rms(x, block.attn_norm)
    q, k, v = attn.qkv(h).view(batch, length, 3, attn.n_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    angles = positions.float()[..., None] * attn.rotary.inv_freq
    angles = torch.cat([angles, angles], dim=-1)[:, None]
    cos, sin = angles.cos(), angles.sin()
    q = q * cos + _ref_rotate_half(q) * sin
    k = k * cos + _ref_rotate_half(k) * sin
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    x = x + attn.out(a.transpose(1, 2).reshape(batch, length, width))
    h = _ref_rms(x, block.mlp_norm)
    mlp = block.mlp
    return x + mlp.down(F.gelu(mlp.gate(h)) * mlp.up(h))


def _ref_transformer(model, x, positions, key_padding_mask=None):
    mask = _ref_mask(positions, key_padding_mask, model.causal)
    for block in model.blocks:
        x = _ref_block(block, x, positions, mask)
    return _ref_rms(x, model.norm)


def _grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_transformer_matches_plain_computation(causal, padded):
    torch.manual_seed(0)
    model = Transformer(32, 3, 4, causal=causal)
    batch, n_bins, n_patches = 3, 7, 3
    x = torch.randn(batch, n_bins * n_patches, 32, requires_grad=True)
    positions = torch.arange(n_bins).repeat_interleave(n_patches).expand(batch, -1)
    keep = None
    if padded:
        keep = torch.ones(batch, n_bins * n_patches, dtype=torch.bool)
        keep[0, 2::3] = False   # an absent channel patch in every bin of sample 0
        keep[1, -6:] = False    # NaN-padded bins at the end of sample 1
    real = torch.ones(batch, n_bins * n_patches, 1) if keep is None else keep[..., None].float()
    out = model(x, positions, keep)
    ref = _ref_transformer(model, x, positions, keep)
    assert torch.allclose(out * real, ref * real, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(out) * real   # a loss that reads real tokens only
    got = _grads(model, (out * weights).sum())
    grad_x = x.grad.clone()
    x.grad = None
    want = _grads(model, (ref * weights).sum())
    assert got.keys() == want.keys()
    for name in want:
        assert torch.allclose(got[name], want[name], atol=1e-4, rtol=1e-4), name
    assert torch.allclose(grad_x, x.grad, atol=1e-5, rtol=1e-4)


def test_masked_autoencoder_loss_and_gradients_match_plain_computation():
    torch.manual_seed(1)
    model = MaskedAutoencoder(40, 2, patch_size=16, d_model=32, n_layers=2, n_heads=4,
                              decoder_width=16, value_embedding="conv", mask_ratio=0.5)
    x = torch.poisson(torch.full((4, 10, 40), 0.7))
    x[2, :, 32:] = float("nan")  # an absent channel group: a padded patch
    session = torch.tensor([0, 1, 0, 1])
    noise = torch.rand(4, 10 * 3)
    out = model(x, session, noise=noise)
    got = _grads(model, out["loss"])
    # the same forward with the plain transformer computation swapped in
    fast = Transformer.forward
    try:
        Transformer.forward = lambda self, h, pos, kpm=None, return_layers=False: \
            _ref_transformer(self, h, pos, kpm)
        ref = model(x, session, noise=noise)
    finally:
        Transformer.forward = fast
    want = _grads(model, ref["loss"])
    assert torch.allclose(out["loss"], ref["loss"], atol=1e-6, rtol=1e-5)
    for name in want:
        assert torch.allclose(got[name], want[name], atol=1e-5, rtol=1e-4), name


def test_elementwise_functions_match_their_formulas():
    torch.manual_seed(2)
    x = torch.randn(5, 6, 8, requires_grad=True)
    w = torch.randn(8, requires_grad=True)
    for fast, plain in [
        (lambda: rms_norm(x, w, 1e-6), lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w),
        (lambda: gated_gelu(x, x.flip(0)), lambda: F.gelu(x) * x.flip(0)),
    ]:
        a, b = fast(), plain()
        assert torch.allclose(a, b, atol=1e-6)
        g = torch.randn_like(a)
        ga = torch.autograd.grad(a, (x, w), g, allow_unused=True)
        gb = torch.autograd.grad(b, (x, w), g, allow_unused=True)
        for u, v in zip(ga, gb):
            assert (u is None and v is None) or torch.allclose(u, v, atol=1e-5)
    with torch.no_grad():  # the no-grad paths compute the same
        assert torch.allclose(rms_norm(x, w, 1e-6), x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w, atol=1e-6)
        assert torch.allclose(gated_gelu(x, x), F.gelu(x) * x, atol=1e-6)
    rot = RotaryEmbedding(8)
    pos = torch.arange(6).expand(5, -1)
    q = torch.randn(5, 2, 6, 8, requires_grad=True)
    cos, sin = rot(pos)
    plain = apply_rotary(q, cos, sin)
    fast = rotate(q, *rot.half(pos))
    assert torch.allclose(plain, fast, atol=1e-6)
    g = torch.randn_like(plain)
    assert torch.allclose(torch.autograd.grad(plain, q, g)[0], torch.autograd.grad(fast, q, g)[0],
                          atol=1e-6)


def test_padding_mask_is_key_only_and_none_without_padding():
    pos = torch.arange(4).expand(2, -1)
    assert build_attention_mask(pos, torch.ones(2, 4, dtype=torch.bool)) is None
    keep = torch.tensor([[True, True, False, False], [False] * 4])
    mask = build_attention_mask(pos, keep)
    assert mask.shape == (2, 1, 1, 4)
    assert mask[0, 0, 0].tolist() == [True, True, False, False]
    assert mask[1].all()  # a sample without any real token sees everything: no NaN
    assert build_attention_mask(pos, keep, causal=True).shape == (2, 1, 4, 4)
    out = Transformer(16, 1, 2)(torch.randn(2, 4, 16), pos, keep)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("causal", [False, True])
def test_compiled_transformer_traces_one_graph_and_matches_eager(causal):
    """Under ``torch.compile`` the stack takes its plain expressions (the hand-written autograd
    functions are opaque to the compiler): one graph, no break (``fullgraph=True`` raises on
    one), and the same outputs and gradients as eager. ``aot_eager`` traces forward and backward
    as inductor would, without needing a C++ compiler."""
    torch.manual_seed(2)
    model = Transformer(32, 2, 4, causal=causal)
    x = torch.randn(3, 5 * 3, 32)
    positions = torch.arange(5).repeat_interleave(3).expand(3, -1)
    weights = torch.randn(3, 15, 32)
    eager = model(x, positions)
    want = _grads(model, (eager * weights).sum())
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    out = compiled(x, positions)
    got = _grads(model, (out * weights).sum())
    assert torch.allclose(out, eager, atol=1e-5, rtol=1e-5)
    assert got.keys() == want.keys()
    for name in want:
        assert torch.allclose(got[name], want[name], atol=1e-4, rtol=1e-4), name
    torch._dynamo.reset()


def test_masked_autoencoder_and_student_compile_without_graph_breaks():
    """The session-table lookup is a gather on the device (no ``.tolist()``) and padded target
    rows are weighted out (no boolean indexing), so both training forwards trace as one graph
    (``fullgraph=True`` raises on a break) with the eager values, and a session's table gets
    gradient only from the rows of that session."""
    from skdistill.nn import select_sessions
    from skdistill.nn._distill import DistillationStudent

    torch.manual_seed(3)
    x = torch.randn(4, 6, 10)
    session = torch.tensor([0, 2, 2, 0])
    mae = MaskedAutoencoder(10, 3, patch_size=4, d_model=16, n_layers=1, n_heads=2,
                            decoder_width=16, decoder_layers=1, mask_ratio=0.5)
    torch._dynamo.reset()
    out = torch.compile(mae, backend="aot_eager", fullgraph=True)(x, session)
    out["loss"].backward()
    grads = {k: p.grad for k, p in mae.tokenizer.session_embeddings.items()}
    assert grads["1"] is None or float(grads["1"].abs().sum()) == 0.0  # session 1 not in batch
    assert float(grads["0"].abs().sum()) > 0 and float(grads["2"].abs().sum()) > 0
    tables = select_sessions(mae.tokenizer.session_embeddings, session)
    assert torch.equal(tables[1], mae.tokenizer.session_embeddings["2"])

    student = DistillationStudent(10, 1, teacher_dim=8, patch_size=4, d_model=16, n_layers=1,
                                  n_heads=2, value_embedding="conv")
    target = torch.randn(4, 6, 8)
    target[1, 4:] = float("nan")  # a window shorter than its run
    zero = torch.zeros(4, dtype=torch.long)
    eager = student(x, zero, target)
    rows = ~torch.isnan(target).any(-1)
    latent = student.projection(student.encode_layers(x, zero)[student.align_layer])
    want = 1 - F.cosine_similarity(latent[rows], student.normalize_target(target[rows]),
                                   dim=-1, eps=1e-6).mean()  # the loss on the real rows alone
    assert torch.allclose(eager["alignment"], want, atol=1e-6)
    torch._dynamo.reset()
    compiled = torch.compile(student, backend="aot_eager", fullgraph=True)(x, zero, target)
    assert torch.allclose(compiled["loss"], eager["loss"], atol=1e-5)
    assert torch.allclose(compiled["cosine"], eager["cosine"], atol=1e-6)
    torch._dynamo.reset()
