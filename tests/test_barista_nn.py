"""The optimised BaRISTA modules compute the same function as the straightforward computation.

``skdistill.nn._barista`` runs the CNN channel-major in chunks, encodes only the tokens that are
read (online tokenizer: real unmasked tokens; target tokenizer and predictor: masked tokens),
masks padding as keys only and does the EMA step with one fused lerp (issue 13). The reference
functions below are the plain computation (``nn.Conv1d`` on every real token, the backbone's
own ``forward`` with its padding mask, the loss over the full token grid); the optimised
modules must give the same outputs and gradients for the same parameters and seed.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from skdistill.nn._barista import (
    BaristaClassifierModule,
    BaristaEncoder,
    BaristaPretrainer,
    DilatedConvEncoder,
    TemporalTokenizer,
    _TapConv,
    _token_layout,
    ema_update,
    masked_latent_loss,
    sample_group_mask,
)

ATOL = 1e-5


# ----------------------------------------------------------------- straightforward reference


def ref_cnn(cnn, x):
    """Every block with nn.Conv1d on (N, C, L), time-axis layer norm, GELU, residual."""
    h = x[:, None, :]
    for block in cnn.blocks:
        residual = h if block.projector is None else block.projector(h)
        length = h.shape[-1]
        g = F.gelu(F.layer_norm(block.conv1(h), (length,)))
        g = F.gelu(F.layer_norm(block.conv2(g), (length,)))
        h = g + residual
    return h[:, 0, :]


def ref_tokens(tokenizer, x, channel_mask):
    """Every real token encoded, padding tokens zero: (B, n, C, d)."""
    batch, n_channels, n_times = x.shape
    n = n_times // tokenizer.patch_size
    patches = x[..., : n * tokenizer.patch_size].reshape(batch, n_channels, n, -1).transpose(1, 2)
    out = tokenizer.pooler(ref_cnn(tokenizer.cnn, patches.reshape(-1, tokenizer.patch_size)))
    out = out.reshape(batch, n, n_channels, -1)
    return out * channel_mask[:, None, :, None].to(out.dtype)


def ref_contextualize(encoder, tokens, spatial_ids, channel_mask):
    tokens = tokens + encoder.spatial(spatial_ids)[:, None]
    flat, positions, padding = _token_layout(tokens, channel_mask)
    return encoder.backbone(flat, positions, key_padding_mask=padding).reshape(tokens.shape)


def ref_pretrain_loss(model, x, spatial_ids, group_ids, channel_mask):
    """The loss as written first: tokenize all, mask, predict all, MSE over masked tokens."""
    masked = sample_group_mask(group_ids, model.mask_ratio)
    tokens = ref_tokens(model.encoder.tokenizer, x, channel_mask)
    token_mask = masked[:, None, :].expand(-1, tokens.shape[1], -1)
    tokens = torch.where(token_mask[..., None], model.mask_token, tokens)
    out = ref_contextualize(model.encoder, tokens, spatial_ids, channel_mask)
    with torch.no_grad():
        target = ref_tokens(model.target_tokenizer, x, channel_mask)
    err = (model.predictor(out) - target).pow(2).mean(dim=-1)
    return err[token_mask].mean(), masked


def _assert_grads_close(named_params, ref_params, rel=3e-5):
    """Gradients equal up to float32 summation error, relative to the largest gradient (the
    biases of convolutions followed by a time-axis layer norm have a zero true gradient)."""
    pairs = [(name, p.grad, q.grad) for (name, p), q in zip(named_params, ref_params)]
    scale = max(float(g.abs().max()) for _, _, g in pairs if g is not None)
    n_checked = 0
    for name, g, ref in pairs:
        if g is None:
            assert ref is None or torch.all(ref == 0), name
            continue
        torch.testing.assert_close(g, ref, atol=rel * scale, rtol=1e-4, msg=name)
        n_checked += 1
    return n_checked


# ----------------------------------------------------------------- data


def _batch(batch=5, n_channels=7, n_times=96, patch_size=16, seed=0, kind="parcel"):
    """Segments with per-sample montages (trailing padding channels), ids and groups."""
    g = torch.Generator().manual_seed(seed)
    n_real = torch.tensor([n_channels, n_channels - 2, 3, n_channels, n_channels - 1][:batch])
    channel_mask = torch.arange(n_channels)[None] < n_real[:, None]
    x = torch.randn(batch, n_channels, n_times, generator=g) * channel_mask[..., None]
    k = 3 if kind == "channel" else 1
    spatial_ids = torch.randint(0, 6, (batch, n_channels, k), generator=g)
    group_ids = torch.where(channel_mask, torch.arange(n_channels)[None], -1)
    return x, spatial_ids, group_ids, channel_mask


def _encoder(kind="parcel", patch_size=16, seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return BaristaEncoder(patch_size, 16, kind, 6, n_layers=2, n_heads=4, dropout=dropout)


# ----------------------------------------------------------------- tests


@pytest.mark.parametrize("n_tokens", [1, 7, 1300])
def test_cnn_matches_conv1d_reference_and_gradients(n_tokens):
    torch.manual_seed(0)
    cnn = DilatedConvEncoder()
    cnn.chunk_size = 512  # 1300 tokens -> three chunks
    x = torch.randn(n_tokens, 128)
    ref_model = copy.deepcopy(cnn)
    out = cnn(x)
    ref = ref_cnn(ref_model, x)
    assert out.shape == (n_tokens, 128)
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=1e-5)
    torch.testing.assert_close(cnn.forward_reference(x), ref, atol=ATOL, rtol=1e-5)
    w = torch.randn_like(out)
    (out * w).sum().backward()
    (ref * w).sum().backward()
    assert _assert_grads_close(cnn.named_parameters(), ref_model.parameters()) == 24


@pytest.mark.parametrize("dilation, length", [(1, 9), (4, 9), (8, 8), (2, 3)])
@pytest.mark.parametrize("size", [1, 3])
def test_tap_conv_gradcheck_against_conv1d(dilation, length, size):
    """The hand-written backward is exact (float64 gradcheck) and the forward is F.conv1d."""
    g = torch.Generator().manual_seed(dilation + length + size)
    h = torch.randn(3, 4, length, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(2, 3, size, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, generator=g, requires_grad=True)
    pad = dilation * (size - 1) // 2
    out = _TapConv.apply(h, w, b, dilation, pad)
    ref = F.conv1d(h.transpose(0, 1), w, b, padding=pad, dilation=dilation).transpose(0, 1)
    torch.testing.assert_close(out, ref)
    assert torch.autograd.gradcheck(lambda *a: _TapConv.apply(*a, dilation, pad), (h, w, b))


@pytest.mark.parametrize("chunk_size", [2, 512])
def test_cnn_patches_are_encoded_independently(chunk_size):
    """No leak across patches, inside a chunk or across chunk borders (padding is per patch)."""
    torch.manual_seed(0)
    cnn = DilatedConvEncoder()
    cnn.chunk_size = chunk_size
    x = torch.randn(5, 64, requires_grad=True)
    cnn(x)[2, 0].backward()
    touched = torch.nonzero(x.grad.abs() > 0)
    assert set(touched[:, 0].tolist()) == {2}
    # the time-axis layer norm makes every sample of the patch count
    assert len(touched) == 64


def test_tokenizer_keep_encodes_only_kept_tokens():
    torch.manual_seed(0)
    tokenizer = TemporalTokenizer(16, 8)
    x, _, _, channel_mask = _batch()
    keep = torch.rand(x.shape[0], 6, x.shape[1]) > 0.4
    full = ref_tokens(tokenizer, x, channel_mask)
    out = tokenizer(x, channel_mask, keep=keep)
    expected = full * (keep & channel_mask[:, None, :])[..., None]
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=1e-5)
    torch.testing.assert_close(tokenizer(x, channel_mask), full, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("kind", ["channel", "parcel"])
def test_encoder_real_tokens_match_backbone_with_padding_mask(kind):
    encoder = _encoder(kind).eval()
    x, spatial_ids, _, channel_mask = _batch(kind=kind)
    out = encoder(x, spatial_ids, channel_mask)
    ref = ref_contextualize(encoder, ref_tokens(encoder.tokenizer, x, channel_mask),
                            spatial_ids, channel_mask)
    real = channel_mask[:, None, :].expand(-1, out.shape[1], -1)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[real], ref[real], atol=ATOL, rtol=1e-5)
    # Padding tokens change nothing: perturb them, real outputs stay.
    x2 = x + 5.0 * (~channel_mask)[..., None]
    torch.testing.assert_close(encoder(x2, spatial_ids, channel_mask)[real], out[real])


def test_pretrainer_loss_and_gradients_match_reference_with_dropout():
    """Same seed -> same group mask and dropout draws -> same loss and gradients."""
    model = BaristaPretrainer(_encoder(dropout=0.1), mask_ratio=0.4)
    with torch.no_grad():  # a target that differs from the online tokenizer
        for p in model.target_tokenizer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ref_model = copy.deepcopy(model)
    x, spatial_ids, group_ids, channel_mask = _batch()
    torch.manual_seed(123)
    result = model(x, spatial_ids, group_ids, channel_mask)
    torch.manual_seed(123)
    ref_loss, ref_masked = ref_pretrain_loss(ref_model, x, spatial_ids, group_ids, channel_mask)
    assert torch.equal(result["masked"], ref_masked)
    torch.testing.assert_close(result["loss"], ref_loss, atol=ATOL, rtol=1e-5)
    result["loss"].backward()
    ref_loss.backward()
    assert _assert_grads_close(model.named_parameters(), ref_model.parameters()) > 20
    assert model.encoder.tokenizer.cnn.blocks[0].conv1.weight.grad.abs().sum() > 0


def test_pretrainer_normalized_targets_match_reference():
    model = BaristaPretrainer(_encoder(), mask_ratio=0.3, normalize_targets=True).eval()
    x, spatial_ids, group_ids, channel_mask = _batch(seed=3)
    torch.manual_seed(5)
    loss = model(x, spatial_ids, group_ids, channel_mask)["loss"]
    torch.manual_seed(5)
    masked = sample_group_mask(group_ids, model.mask_ratio)
    tokens = ref_tokens(model.encoder.tokenizer, x, channel_mask)
    token_mask = masked[:, None, :].expand(-1, tokens.shape[1], -1)
    tokens = torch.where(token_mask[..., None], model.mask_token, tokens)
    out = ref_contextualize(model.encoder, tokens, spatial_ids, channel_mask)
    target = ref_tokens(model.target_tokenizer, x, channel_mask)
    ref = masked_latent_loss(model.predictor(out), target, token_mask, normalize_targets=True)
    torch.testing.assert_close(loss, ref, atol=ATOL, rtol=1e-5)


def test_embed_and_classifier_match_reference():
    model = BaristaPretrainer(_encoder()).eval()
    x, spatial_ids, _, channel_mask = _batch()
    out = ref_contextualize(model.encoder, ref_tokens(model.target_tokenizer, x, channel_mask),
                            spatial_ids, channel_mask)
    w = channel_mask[:, None, :, None].float()
    ref_embed = (out * w).sum(dim=(1, 2)) / (w.sum(dim=(1, 2)) * out.shape[1])
    torch.testing.assert_close(model.embed(x, spatial_ids, channel_mask), ref_embed,
                               atol=ATOL, rtol=1e-5)
    clf = BaristaClassifierModule(model.downstream_encoder(), 2, n_sessions=1, n_patches=6,
                                  max_channels=7, session_channels=[7]).eval()
    logits = clf(x, spatial_ids, channel_mask, torch.zeros(len(x), dtype=torch.long))
    out = ref_contextualize(clf.encoder, ref_tokens(clf.encoder.tokenizer, x, channel_mask),
                            spatial_ids, channel_mask)
    weight = clf.token_weights[torch.zeros(len(x), dtype=torch.long)] * channel_mask[:, None, :]
    ref_logits = clf.classifier(torch.einsum("bncd,bnc->bd", out, weight))
    torch.testing.assert_close(logits, ref_logits, atol=ATOL, rtol=1e-5)


def test_ema_update_is_the_per_parameter_lerp():
    torch.manual_seed(0)
    online, target = TemporalTokenizer(16, 8), TemporalTokenizer(16, 8)
    expected = [t.detach() * 0.9 + o.detach() * 0.1
                for t, o in zip(target.parameters(), online.parameters())]
    ema_update(target, online, 0.9)
    for p, e in zip(target.parameters(), expected):
        torch.testing.assert_close(p, e)
    with pytest.raises(ValueError, match="same parameters"):
        ema_update(target, torch.nn.Linear(2, 2), 0.9)


def test_state_dict_keys_unchanged():
    """Files saved with the first layout load: the parameter names are the nn.Conv1d ones."""
    keys = set(BaristaPretrainer(_encoder()).state_dict())
    assert "encoder.tokenizer.cnn.blocks.0.conv1.weight" in keys
    assert "encoder.tokenizer.cnn.blocks.0.projector.bias" in keys
    assert "target_tokenizer.cnn.blocks.4.conv2.weight" in keys
    assert "encoder.tokenizer.pooler.weight" in keys
    assert sum(p.numel() for p in DilatedConvEncoder().parameters()) == 616


def test_training_trajectory_matches_reference_for_a_fixed_seed():
    """Three AdamW + EMA steps of the optimised and the reference loss stay together."""
    model = BaristaPretrainer(_encoder(dropout=0.1))
    ref_model = copy.deepcopy(model)
    x, spatial_ids, group_ids, channel_mask = _batch()
    opt = torch.optim.AdamW(model.parameters(), 1e-2)
    ref_opt = torch.optim.AdamW(ref_model.parameters(), 1e-2)
    losses, ref_losses = [], []
    for step in range(3):
        torch.manual_seed(step)
        loss = model(x, spatial_ids, group_ids, channel_mask)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.update_target(0.9)
        torch.manual_seed(step)
        ref_loss, _ = ref_pretrain_loss(ref_model, x, spatial_ids, group_ids, channel_mask)
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
        for t, o in zip(ref_model.target_tokenizer.parameters(),
                        ref_model.encoder.tokenizer.parameters()):
            t.data.mul_(0.9).add_(0.1 * o.data)
        losses.append(loss.item())
        ref_losses.append(ref_loss.item())
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4)
    assert losses[-1] != losses[0]
    for (name, p), q in zip(model.state_dict().items(), ref_model.state_dict().values()):
        if name.endswith(("conv1.bias", "conv2.bias")):
            # followed by a time-axis layer norm: zero true gradient, so AdamW turns float
            # noise into +-lr steps in both models; these biases do not change any output
            continue
        torch.testing.assert_close(p, q, atol=1e-4, rtol=1e-4, msg=name)
    model.eval(), ref_model.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            model.embed(x, spatial_ids, channel_mask),
            ref_model.embed(x, spatial_ids, channel_mask), atol=1e-4, rtol=1e-4,
        )


def test_classifier_from_precomputed_tokens_matches_segments():
    model = BaristaPretrainer(_encoder()).eval()
    x, spatial_ids, _, channel_mask = _batch()
    clf = BaristaClassifierModule(model.downstream_encoder(), 2, n_sessions=1, n_patches=6,
                                  max_channels=7, session_channels=[7]).eval()
    index = torch.zeros(len(x), dtype=torch.long)
    tokens = clf.encoder.tokenizer(x, channel_mask)
    torch.testing.assert_close(
        clf(spatial_ids=spatial_ids, channel_mask=channel_mask, session_index=index, tokens=tokens),
        clf(x, spatial_ids, channel_mask, index), atol=ATOL, rtol=1e-5)
    with pytest.raises(ValueError, match="exactly one of x"):
        clf(x, spatial_ids, channel_mask, index, tokens=tokens)
