import math

import pytest
import torch

from skdistill.nn import RMSNorm, RotaryEmbedding, Transformer
from skdistill.nn._mae import MaskedAutoencoder, masked_reconstruction_loss
from skdistill.nn._tokenizers import CausalConvValueEmbedding, CountEmbedding, PatchTokenizer, pool_patches
from skdistill.nn._transformer import apply_rotary


def test_rmsnorm_unit_rms():
    x = torch.randn(4, 7, 16) * 5
    y = RMSNorm(16)(x)
    assert torch.allclose(y.pow(2).mean(-1), torch.ones(4, 7), atol=1e-4)


def test_rotary_is_relative():
    # q·k after rotation depends only on the position difference
    rot = RotaryEmbedding(8)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(pq, pk):
        cq, sq = rot(torch.tensor([[pq]]))
        ck, sk = rot(torch.tensor([[pk]]))
        return (apply_rotary(q, cq, sq) * apply_rotary(k, ck, sk)).sum()

    assert torch.allclose(score(3, 1), score(12, 10), atol=1e-5)
    assert not torch.allclose(score(3, 1), score(3, 2), atol=1e-3)


def test_transformer_padding_and_causality():
    torch.manual_seed(0)
    model = Transformer(16, 2, 2).eval()
    x = torch.randn(1, 6, 16)
    pos = torch.arange(6)[None]
    keep = torch.tensor([[True] * 4 + [False] * 2])
    out = model(x, pos, keep)
    x2 = x.clone()
    x2[:, 4:] = 100.0  # padded tokens must not influence real ones
    assert torch.allclose(model(x2, pos, keep)[:, :4], out[:, :4], atol=1e-5)
    causal = Transformer(16, 2, 2, causal=True).eval()
    pos = torch.tensor([[0, 0, 1, 1, 2, 2]])  # two tokens per time step
    a = causal(x, pos)
    x3 = x.clone()
    x3[:, 4:] += 1.0
    b = causal(x3, pos)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-5) and not torch.allclose(a[:, 4:], b[:, 4:])
    x4 = x.clone()
    x4[:, 1] += 1.0  # same time step as token 0: visible to it
    assert not torch.allclose(causal(x4, pos)[:, 0], a[:, 0])


def test_count_embedding_clamps_and_pads():
    emb = CountEmbedding(patch_size=2, d_model=4, max_count=5)
    values = torch.tensor([[[[7.0, 1.0]]]])
    valid = torch.tensor([[[[True, False]]]])
    out = emb(values, valid)
    assert out.shape == (1, 1, 1, 4)
    assert torch.allclose(out[..., :2], emb.table.weight[5])  # 7 clamped to 5
    assert torch.allclose(out[..., 2:], emb.table.weight[6])  # invalid -> padding row


def test_causal_conv_sees_only_the_past():
    conv = CausalConvValueEmbedding(patch_size=3, d_model=4, kernel_size=3, dilation=2)
    values = torch.randn(1, 10, 2, 3)
    valid = torch.ones_like(values, dtype=torch.bool)
    out = conv(values, valid)
    changed = values.clone()
    changed[:, 6:] += 1
    out2 = conv(changed, valid)
    assert torch.allclose(out[:, :6], out2[:, :6]) and not torch.allclose(out[:, 6:], out2[:, 6:])


@pytest.mark.parametrize("axis", ["time", "tokens"])
def test_causal_conv_rescales_only_the_history_under_masking(axis):
    # Masked training zeroes hidden tokens; the visible share of a token's history is scaled by
    # 1 / visible_fraction so transform (no masking) sees the same expected input.
    torch.manual_seed(0)
    conv = CausalConvValueEmbedding(patch_size=3, d_model=4, kernel_size=3, dilation=1, axis=axis)
    values = torch.zeros(1, 6, 1, 3)
    values[0, 2, 0] = torch.tensor([1.0, -2.0, 0.5])
    valid = torch.ones_like(values, dtype=torch.bool)
    bias = conv.conv.bias
    plain = conv(values, valid) - bias
    scaled = conv(values, valid, visible_fraction=0.4) - bias
    assert torch.allclose(scaled[:, 2], plain[:, 2], atol=1e-6)  # own tap: unscaled
    assert torch.allclose(scaled[:, 3:5], plain[:, 3:5] / 0.4, atol=1e-6)  # history: x 2.5
    assert torch.allclose(scaled[:, :2], plain[:, :2]) and not plain[:, 3].abs().sum() == 0


def test_tokenizer_patches_nan_channels_and_sessions():
    tok = PatchTokenizer(5, 2, 4, CountEmbedding(2, 4), n_sessions=2)
    assert tok.n_patches == 3
    x = torch.ones(2, 3, 5)
    x[1, :, 4] = float("nan")
    tokens, values, valid = tok(x, torch.tensor([0, 1]))
    assert tokens.shape == (2, 3, 3, 4) and values.shape == (2, 3, 3, 2)
    assert valid[0, 0, 2].tolist() == [True, False]  # right padding
    assert valid[1, 0, 2].tolist() == [False, False]  # absent channel + padding
    assert tok.add_sessions(1, init_from=0) == [2]
    assert torch.equal(tok.session_embeddings["2"], tok.session_embeddings["0"])
    pooled = pool_patches(tokens, valid.any(-1))
    assert torch.allclose(pooled[1], tokens[1, :, :2].mean(1))  # the empty patch is left out


def test_poisson_loss_matches_formula():
    pred = torch.tensor([0.0, math.log(2.0)])
    target = torch.tensor([1.0, 3.0])
    loss = masked_reconstruction_loss(pred, target, torch.tensor([True, False]), "poisson")
    assert loss.item() == pytest.approx(1.0)  # exp(0) - 1*0
    with pytest.raises(ValueError):
        masked_reconstruction_loss(pred, target, torch.ones(2, dtype=torch.bool), "l1")


def test_mae_learns_and_masks_only_valid_entries():
    torch.manual_seed(0)
    model = MaskedAutoencoder(6, 1, patch_size=2, d_model=16, n_layers=1, n_heads=2,
                              decoder_width=8, mask_ratio=0.5)
    rates = torch.tensor([0.2, 0.5, 1.0, 2.0, 3.0, 4.0])
    x = torch.poisson(rates.expand(16, 20, 6))
    x[:, :, 5] = float("nan")
    out = model(x, torch.zeros(16, dtype=torch.long))
    masked = out["masked"]
    assert not masked[..., 2, 1].any()  # channel 5 is absent: never in the loss
    assert 0.3 < masked[..., :2, :].float().mean() < 0.7
    opt = torch.optim.Adam(model.parameters(), 2e-2)
    first = out["loss"].item()
    for _ in range(25):
        loss = model(x, torch.zeros(16, dtype=torch.long))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first - 0.1
    assert model.encode(x, torch.zeros(16, dtype=torch.long)).shape == (16, 20, 16)


def test_bin_masking_hides_whole_bins():
    torch.manual_seed(0)
    model = MaskedAutoencoder(6, 1, patch_size=2, d_model=8, n_layers=1, n_heads=2,
                              decoder_width=8, mask_ratio=0.5, mask_unit="bin")
    out = model(torch.ones(4, 20, 6), torch.zeros(4, dtype=torch.long))
    per_bin = out["masked"].any(-1).float().mean(-1)  # (B, T): share of a bin's patches masked
    # every bin is fully masked or fully visible, except at most one boundary bin per sample
    partial = ((per_bin > 0) & (per_bin < 1)).sum(-1)
    assert (partial <= 1).all() and 0.4 < per_bin.mean() < 0.6
    with pytest.raises(ValueError, match="mask_unit"):
        MaskedAutoencoder(6, mask_unit="channel")


def test_offsets_shift_the_reconstruction_per_session():
    model = MaskedAutoencoder(3, 2, patch_size=2, d_model=8, n_layers=1, n_heads=2, decoder_width=8)
    model.set_offsets(1, [1.0, float("nan"), 3.0])
    assert model.offsets["1"].tolist() == [[1.0, 0.0], [3.0, 0.0]]
    assert model.offsets["0"].abs().sum() == 0
    assert model.add_sessions(1, init_from=1) == [2]
    assert torch.equal(model.offsets["2"], model.offsets["1"])
