"""Attention, Transformer layers and video tokens from the formulas == PyTorch's own.

Each block is compared with PyTorch (values, and gradients with respect to the inputs and every
parameter) in float64 and float32, for several shapes and masks.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from oracle import assert_close, assert_same_function
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vidbook.scratch.attention import (
    MultiHeadAttention,
    attention_weights,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from vidbook.scratch.transformer import TransformerDecoderLayer, TransformerEncoderLayer
from vidbook.scratch.video_tokens import (
    DividedSpaceTimeAttention,
    LearnedPositionEncoding,
    TubeletEmbedding,
    attention_cost,
    sinusoidal_position_encoding,
)

DTYPES = [torch.float64, torch.float32]
pytestmark = pytest.mark.usefixtures("one_thread")


def randn(*shape: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def param_pairs(ours: nn.Module, theirs: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(our parameter, their parameter) for each name; both modules must have the same names."""
    mine, other = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert mine.keys() == other.keys(), f"{sorted(mine)} != {sorted(other)}"
    return [(mine[name], other[name]) for name in mine]


def zero_grads(*modules: nn.Module) -> None:
    for module in modules:
        module.zero_grad(set_to_none=True)


def float_padding(lengths: torch.Tensor, max_len: int, dtype: torch.dtype) -> torch.Tensor:
    """The float form of a key padding mask: -inf at the padding, 0 elsewhere."""
    return torch.zeros(len(lengths), max_len, dtype=dtype).masked_fill(
        padding_mask(lengths, max_len), float("-inf")
    )


# --- scaled dot-product attention -------------------------------------------------------------

SDPA_SHAPES = [  # (leading dims, L, S, d, d_v)
    ((2, 3), 5, 5, 8, 8),
    ((1, 2), 4, 6, 4, 3),
    ((3,), 7, 16, 16, 5),
]


def sdpa_mask(kind: str, lead: tuple[int, ...], n_q: int, n_k: int, dtype: torch.dtype):
    """The attn_mask for a case: None, a boolean (with one row that may attend nothing) or a
    float mask (random values and a few -inf)."""
    if kind in ("none", "causal"):
        return None
    gen = torch.Generator().manual_seed(7)
    if kind == "bool":
        shape = (lead[0], 1, n_q, n_k) if len(lead) == 2 else (n_q, n_k)  # broadcast over heads
        mask = torch.rand(shape, generator=gen) > 0.4
        mask[..., 0] = True  # every query may attend key 0 ...
        mask[..., 1, :] = False  # ... but query 1, which may attend nothing
        return mask
    mask = torch.randn((n_q, n_k), dtype=dtype, generator=gen)
    mask[torch.rand((n_q, n_k), generator=gen) > 0.7] = float("-inf")
    mask[:, 0] = 0.0
    return mask


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["none", "causal", "bool", "float"])
@pytest.mark.parametrize("shape", SDPA_SHAPES)
def test_sdpa_equals_torch(dtype, kind, shape):
    lead, n_q, n_k, d, d_v = shape
    q = randn(*lead, n_q, d, dtype=dtype, seed=1)
    k = randn(*lead, n_k, d, dtype=dtype, seed=2)
    v = randn(*lead, n_k, d_v, dtype=dtype, seed=3)
    mask, causal = sdpa_mask(kind, lead, n_q, n_k, dtype), kind == "causal"
    assert_same_function(
        "sdpa",
        lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal),
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal),
        [q, k, v],
    )


def test_attention_weights_rows():
    q, k = randn(2, 5, 4, dtype=torch.float64, seed=1), randn(2, 5, 4, dtype=torch.float64, seed=2)
    weights = attention_weights(q, k, is_causal=True)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 5, dtype=torch.float64))
    assert (weights.triu(diagonal=1) == 0).all()  # no query sees its future
    expected = torch.softmax(q @ k.mT / 2.0 + torch.full((5, 5), -math.inf).triu(1), dim=-1)
    assert_close(weights, expected, "sdpa", "weights")
    assert (attention_weights(q, k, torch.zeros(5, 5, dtype=torch.bool)) == 0).all()


def test_padding_mask_values():
    mask = padding_mask(torch.tensor([3, 0, 5]), 5)
    assert mask.tolist() == [
        [False, False, False, True, True],
        [True, True, True, True, True],
        [False, False, False, False, False],
    ]
    assert causal_mask(2, 3).tolist() == [[True, False, False], [True, True, False]]


# --- multi-head attention ---------------------------------------------------------------------

MHA_CASES = [  # (E, heads, B, L, S, bias)
    (8, 2, 3, 5, 6, True),
    (12, 3, 2, 4, 4, False),
    (6, 1, 2, 3, 7, True),
]


def make_mha(e: int, h: int, bias: bool, dtype: torch.dtype):
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(e, h, bias=bias, batch_first=True, dtype=dtype)
    ours = MultiHeadAttention(e, h, bias=bias).to(dtype)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masks", ["none", "padding", "bool", "float"])
@pytest.mark.parametrize("case", MHA_CASES)
def test_multi_head_attention_equals_torch(dtype, masks, case):
    e, h, b, n_q, n_k, bias = case
    ours, theirs = make_mha(e, h, bias, dtype)
    lengths = torch.arange(b) % n_k + max(1, n_k - b)  # every sequence keeps >= 1 key
    kpm = attn = None
    if masks in ("padding", "bool"):
        kpm = padding_mask(lengths, n_k)
    if masks == "bool":
        attn = ~causal_mask(n_q, n_k)  # True = may not attend
    if masks == "float":
        kpm = float_padding(lengths, n_k, dtype)
        attn = randn(b * h, n_q, n_k, dtype=dtype, seed=9)
    inputs = [randn(b, n, e, dtype=dtype, seed=s) for n, s in ((n_q, 1), (n_k, 2), (n_k, 3))]
    assert_same_function(
        "multi_head_attention",
        lambda q, k, v: ours(q, k, v, key_padding_mask=kpm, attn_mask=attn)[0],
        lambda q, k, v: theirs(q, k, v, key_padding_mask=kpm, attn_mask=attn, need_weights=False)[
            0
        ],
        inputs,
        params=param_pairs(ours, theirs),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("average", [True, False])
def test_multi_head_attention_weights_equal_torch(dtype, average):
    ours, theirs = make_mha(8, 4, True, dtype)
    x, memory = randn(2, 5, 8, dtype=dtype, seed=1), randn(2, 6, 8, dtype=dtype, seed=2)
    kpm = padding_mask(torch.tensor([6, 3]), 6)
    with torch.no_grad():
        out, weights = ours(x, memory, memory, kpm, need_weights=True, average_attn_weights=average)
        out_t, weights_t = theirs(x, memory, memory, kpm, average_attn_weights=average)
    assert weights.shape == ((2, 5, 6) if average else (2, 4, 5, 6))
    assert_close(out, out_t, "multi_head_attention")
    assert_close(weights, weights_t, "multi_head_attention", "weights")
    assert ours(x, memory, memory)[1] is None


# --- Transformer layers -----------------------------------------------------------------------

LAYER_CASES = [  # (d_model, heads, feed-forward width, activation, B, L)
    (8, 2, 16, "gelu", 3, 5),
    (12, 3, 20, "relu", 2, 6),
]


def make_layers(ours_cls, theirs_cls, d, h, ff, act, dtype):
    torch.manual_seed(0)
    kwargs = dict(dim_feedforward=ff, activation=act, layer_norm_eps=1e-5)
    theirs = theirs_cls(d, h, dropout=0.0, batch_first=True, norm_first=True, dtype=dtype, **kwargs)
    for p in theirs.parameters():  # LayerNorm starts at (1, 0): make it matter
        p.data.add_(0.1 * torch.randn_like(p))
    ours = ours_cls(d, h, **kwargs).to(dtype)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    # Training mode keeps PyTorch off its fused inference path; with dropout 0 it is deterministic.
    return ours, theirs.train()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masks", ["none", "causal", "padding", "causal+padding", "is_causal"])
@pytest.mark.parametrize("case", LAYER_CASES)
def test_encoder_layer_equals_torch(dtype, masks, case):
    d, h, ff, act, b, n = case
    ours, theirs = make_layers(
        TransformerEncoderLayer, nn.TransformerEncoderLayer, d, h, ff, act, dtype
    )
    src_mask = kpm = None
    causal = masks == "is_causal"
    if masks == "causal":
        src_mask = nn.Transformer.generate_square_subsequent_mask(n, dtype=dtype)  # float -inf
    if "padding" in masks:
        kpm = padding_mask(torch.arange(b) + 2, n)
    if masks == "causal+padding":
        src_mask = ~causal_mask(n, n)  # bool, True = may not attend
    their_mask = ~causal_mask(n, n) if causal else src_mask
    assert_same_function(
        "encoder_layer",
        lambda x: ours(x, src_mask=src_mask, src_key_padding_mask=kpm, is_causal=causal),
        lambda x: theirs(x, src_mask=their_mask, src_key_padding_mask=kpm, is_causal=causal),
        [randn(b, n, d, dtype=dtype, seed=1)],
        params=param_pairs(ours, theirs),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masks", ["none", "causal", "tgt_is_causal", "all"])
@pytest.mark.parametrize("case", LAYER_CASES)
def test_decoder_layer_equals_torch(dtype, masks, case):
    d, h, ff, act, b, n = case
    s = n + 2  # memory length
    ours, theirs = make_layers(
        TransformerDecoderLayer, nn.TransformerDecoderLayer, d, h, ff, act, dtype
    )
    square = nn.Transformer.generate_square_subsequent_mask(n, dtype=dtype)
    ours_kw, theirs_kw = {}, {}
    if masks == "causal":
        ours_kw = theirs_kw = {"tgt_mask": square}
    if masks == "tgt_is_causal":
        ours_kw = {"tgt_is_causal": True}  # the flag alone builds the mask
        theirs_kw = {"tgt_mask": square, "tgt_is_causal": True}
    if masks == "all":
        memory_mask = randn(n, s, dtype=dtype, seed=5) > 1.0  # True = may not attend
        memory_mask[:, 0] = False  # every target token sees memory token 0
        ours_kw = theirs_kw = {
            "tgt_mask": ~causal_mask(n, n),
            "memory_mask": memory_mask,
            "tgt_key_padding_mask": padding_mask(torch.arange(b) + 3, n),
            "memory_key_padding_mask": padding_mask(torch.arange(b) + s - b + 1, s),
        }
    assert_same_function(
        "decoder_layer",
        lambda x, m: ours(x, m, **ours_kw),
        lambda x, m: theirs(x, m, **theirs_kw),
        [randn(b, n, d, dtype=dtype, seed=1), randn(b, s, d, dtype=dtype, seed=2)],
        params=param_pairs(ours, theirs),
    )


# --- position encodings -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, dim", [(1, 2), (50, 16), (9, 64)])
def test_sinusoidal_position_encoding_values(dtype, n, dim):
    table = sinusoidal_position_encoding(n, dim, dtype=dtype)
    assert table.shape == (n, dim) and table.dtype == dtype
    expected = torch.tensor(
        [
            [
                math.sin(pos / 10000 ** (j / dim))
                if j % 2 == 0
                else math.cos(pos / 10000 ** ((j - 1) / dim))
                for j in range(dim)
            ]
            for pos in range(n)
        ],
        dtype=torch.float64,
    ).to(dtype)
    assert_close(table, expected, "position_encoding")
    assert table[0].tolist() == [0.0, 1.0] * (dim // 2)  # position 0: sin 0, cos 0, ...


def test_sinusoidal_position_encoding_known_points():
    table = sinusoidal_position_encoding(101, 4, dtype=torch.float64)
    # dim 4: column pairs turn at 1 and 1/100 radian per position.
    assert_close(
        table[1],
        torch.tensor(
            [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)], dtype=torch.float64
        ),
        "position_encoding",
    )
    assert_close(
        table[100, 2:],
        torch.tensor([math.sin(1), math.cos(1)], dtype=torch.float64),
        "position_encoding",
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_learned_position_encoding_adds_its_table(dtype):
    torch.manual_seed(0)
    pe = LearnedPositionEncoding(10, 6).to(dtype)
    tokens = randn(3, 7, 6, dtype=dtype, seed=1)
    out = pe(tokens)
    assert_close(out, tokens + pe.weight[0, :7], "position_encoding")
    out.sum().backward()
    expected = torch.zeros(1, 10, 6, dtype=dtype)
    expected[:, :7] = 3.0  # each of the 3 clips adds 1 to the first 7 rows
    assert_close(pe.weight.grad, expected, "position_encoding", "gradient")


# --- tubelet embedding ------------------------------------------------------------------------

TUBELET_CASES = [  # (C, dim, tubelet, (B, T, H, W))
    (3, 8, (2, 4, 4), (2, 4, 8, 12)),
    (1, 5, (1, 2, 3), (3, 3, 4, 9)),
    (2, 6, (4, 1, 1), (1, 8, 2, 3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", TUBELET_CASES)
def test_tubelet_embedding_equals_conv3d(dtype, case):
    c, dim, tubelet, (b, t, h, w) = case
    torch.manual_seed(0)
    conv = nn.Conv3d(c, dim, kernel_size=tubelet, stride=tubelet, dtype=dtype)
    ours = TubeletEmbedding(c, dim, tubelet).to(dtype)
    ours.load_state_dict(conv.state_dict(), strict=True)
    clips = randn(b, c, t, h, w, dtype=dtype, seed=1)
    n_tokens = (t // tubelet[0]) * (h // tubelet[1]) * (w // tubelet[2])
    assert ours(clips).shape == (b, n_tokens, dim)
    assert_same_function(
        "tubelet_embedding",
        ours,
        lambda x: conv(x).flatten(2).transpose(1, 2),  # (B, dim, T', H', W') -> (B, T'H'W', dim)
        [clips],
        params=param_pairs(ours, conv),
    )


# --- divided space-time attention -------------------------------------------------------------


def torch_divided(dim: int, heads: int, dtype: torch.dtype) -> nn.ModuleDict:
    """PyTorch's modules under the names DividedSpaceTimeAttention uses."""
    return nn.ModuleDict(
        {
            "norm_time": nn.LayerNorm(dim, dtype=dtype),
            "attn_time": nn.MultiheadAttention(dim, heads, batch_first=True, dtype=dtype),
            "norm_space": nn.LayerNorm(dim, dtype=dtype),
            "attn_space": nn.MultiheadAttention(dim, heads, batch_first=True, dtype=dtype),
        }
    )


def self_attend(attn: nn.MultiheadAttention, norm: nn.LayerNorm, x, mask=None):
    y = norm(x)
    return x + attn(y, y, y, attn_mask=mask, need_weights=False)[0]


def reshaped_divided(m: nn.ModuleDict, tokens: torch.Tensor, T: int, N: int) -> torch.Tensor:
    """Divided attention assembled from PyTorch's MultiheadAttention and reshapes."""
    b, _, dim = tokens.shape
    x = tokens.unflatten(1, (T, N)).permute(0, 2, 1, 3).flatten(0, 1)  # (B·N, T, dim)
    x = self_attend(m["attn_time"], m["norm_time"], x)
    x = x.unflatten(0, (b, N)).permute(0, 2, 1, 3).flatten(0, 1)  # (B·T, N, dim)
    x = self_attend(m["attn_space"], m["norm_space"], x)
    return x.unflatten(0, (b, T)).flatten(1, 2)


def masked_divided(m: nn.ModuleDict, tokens: torch.Tensor, T: int, N: int) -> torch.Tensor:
    """Divided attention as two joint attentions over all T·N tokens, each restricted by a block
    mask: first to the same patch position, then to the same frame."""
    frame, patch = torch.arange(T * N) // N, torch.arange(T * N) % N
    other_patch = patch[:, None] != patch[None, :]  # True = may not attend
    other_frame = frame[:, None] != frame[None, :]
    x = self_attend(m["attn_time"], m["norm_time"], tokens, other_patch)
    return self_attend(m["attn_space"], m["norm_space"], x, other_frame)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("oracle", [reshaped_divided, masked_divided])
@pytest.mark.parametrize("dim, heads, B, T, N", [(8, 2, 2, 3, 4), (6, 3, 1, 4, 5)])
def test_divided_attention_equals_torch(dtype, oracle, dim, heads, B, T, N):
    torch.manual_seed(0)
    ours = DividedSpaceTimeAttention(dim, heads).to(dtype)
    for p in ours.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    theirs = torch_divided(dim, heads, dtype)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    assert_same_function(
        "divided_attention",
        lambda x: ours(x, T, N),
        lambda x: oracle(theirs, x, T, N),
        [randn(B, T * N, dim, dtype=dtype, seed=1)],
        params=param_pairs(ours, theirs),
    )


def test_attention_cost_counts_pairs_and_flops():
    # TimeSformer's input: 8 frames of 14×14 = 196 patches.
    cost = attention_cost(8, 196, 768)
    assert cost["joint_pairs"] == 1568**2 == 2_458_624
    assert cost["divided_pairs"] == 8 * 196**2 + 196 * 8**2 == 319_872
    # FLOPs as PyTorch's flop counter sees the two products Q Kᵀ and (weights) V, any head count.
    T, N, dim, heads = 3, 5, 8, 2
    cost = attention_cost(T, N, dim)

    def counted(*batches_and_lengths: tuple[int, int]) -> int:
        with FlopCounterMode(display=False) as counter:
            for batch, length in batches_and_lengths:
                x = torch.randn(batch, heads, length, dim // heads)
                torch.softmax(x @ x.mT, dim=-1) @ x
        return counter.get_total_flops()

    assert cost["joint_flops"] == counted((1, T * N))
    assert cost["divided_flops"] == counted((N, T), (T, N))


# --- bad inputs -------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    q = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="same number of dimensions"):
        scaled_dot_product_attention(q, torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4))
    with pytest.raises(ValueError, match="same leading dimensions and the same d"):
        scaled_dot_product_attention(q, torch.randn(2, 5, 3), torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="expected v"):
        scaled_dot_product_attention(q, q, torch.randn(2, 6, 4))
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(q, q, q, torch.ones(5, 5, dtype=torch.bool), is_causal=True)
    with pytest.raises(ValueError, match="bool or floating-point mask"):
        scaled_dot_product_attention(q, q, q, torch.ones(5, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"broadcasts to the scores' shape \(2, 5, 5\)"):
        scaled_dot_product_attention(q, q, q, torch.ones(5, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="1-D integer tensor"):
        padding_mask(torch.tensor([2.0, 3.0]), 4)
    with pytest.raises(ValueError, match=r"values in \[0, max_len=4\]"):
        padding_mask(torch.tensor([2, 5]), 4)

    with pytest.raises(ValueError, match="embed_dim=10 and num_heads=3"):
        MultiHeadAttention(10, 3)
    mha = MultiHeadAttention(4, 2)
    x = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match=r"query: expected shape \(B, L, 4\)"):
        mha(torch.randn(2, 5, 3), x, x)
    with pytest.raises(ValueError, match="key and value: expected the same shape"):
        mha(x, x, torch.randn(2, 6, 4))
    with pytest.raises(ValueError, match=r"attn_mask: expected shape \(L, S\) = \(5, 5\)"):
        mha(x, x, x, attn_mask=torch.zeros(3, 5, 5))
    with pytest.raises(ValueError, match=r"key_padding_mask: expected shape \(B, S\) = \(2, 5\)"):
        mha(x, x, x, key_padding_mask=torch.zeros(5, 2, dtype=torch.bool))

    with pytest.raises(ValueError, match="activation: expected one of"):
        TransformerEncoderLayer(8, 2, 16, activation="tanh")
    with pytest.raises(ValueError, match="positive, even dim"):
        sinusoidal_position_encoding(4, 5)
    with pytest.raises(ValueError, match=r"tokens: expected shape \(B, L, 6\) with L <= 10"):
        LearnedPositionEncoding(10, 6)(torch.randn(1, 11, 6))

    with pytest.raises(ValueError, match="tubelet: expected three positive sizes"):
        TubeletEmbedding(3, 8, (2, 4))
    tubelets = TubeletEmbedding(3, 8, (2, 4, 4))
    with pytest.raises(ValueError, match=r"clips: expected shape \(B, C=3, T, H, W\)"):
        tubelets(torch.randn(1, 1, 4, 8, 8))
    with pytest.raises(
        ValueError, match=r"divisible by the tubelet \(2, 4, 4\), got T, H, W = \(3, 8, 8\)"
    ):
        tubelets(torch.randn(1, 3, 3, 8, 8))
    with pytest.raises(ValueError, match=r"T·N = 2·4 = 8, 6\), got \(1, 7, 6\)"):
        DividedSpaceTimeAttention(6, 2)(torch.randn(1, 7, 6), 2, 4)
    with pytest.raises(ValueError, match="expected positive T, N, dim"):
        attention_cost(0, 4, 8)
