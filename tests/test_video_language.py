"""The video-language model: the causal mask, the projector's shapes, greedy decoding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.models.video_language import VideoLanguageModel, VLMConfig, pool_video

GRID = (4, 4, 4)  # T', H', W'


def model(**fields) -> VideoLanguageModel:
    torch.manual_seed(0)
    cfg = VLMConfig(vocab_size=30, video_dim=16, video_grid=GRID, dim=32, depth=2, heads=4,
                    max_text=12, **fields)  # fmt: skip
    return VideoLanguageModel(cfg).eval()


def features(batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, *GRID, 16, generator=torch.Generator().manual_seed(1))


def test_no_position_sees_the_words_after_it():
    vlm, video = model(), features()
    text = torch.randint(3, 30, (2, 10), generator=torch.Generator().manual_seed(2))
    changed = text.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 30
    with torch.no_grad():
        a, b = vlm(video, text), vlm(video, changed)
    assert torch.equal(a[:, :6], b[:, :6])  # positions before the change: bit for bit the same
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_the_causal_blocks_equal_pytorchs_layer_with_a_causal_mask():
    vlm = model()
    x = torch.randn(2, 9, 32)
    for block in vlm.blocks:
        layer = nn.TransformerEncoderLayer(32, 4, 128, 0.0, activation="gelu", norm_first=True,
                                           batch_first=True)  # fmt: skip
        layer.load_state_dict(block.state_dict())
        mask = nn.Transformer.generate_square_subsequent_mask(9)
        with torch.no_grad():
            expected = layer.eval()(x, src_mask=mask, is_causal=True)
            assert torch.allclose(block(x, causal=True), expected, atol=1e-5)


@pytest.mark.parametrize(("projection", "k", "tokens"), [("pooled", 4, 4 + 16), ("frames", 1, 4),
                                                         ("frames", 4, 16), ("frames", 16, 64)])  # fmt: skip
def test_the_projector_gives_the_promised_number_of_tokens(projection, k, tokens):
    vlm = model(projection=projection, tokens_per_frame=k)
    assert vlm.cfg.video_tokens == tokens
    assert vlm.projector(features()).shape == (2, tokens, 32)


def test_pooled_tokens_are_the_means_over_space_and_over_time():
    video = features(1)
    pooled = pool_video(video, "pooled")
    assert torch.allclose(pooled[0, 1], video[0, 1].mean(dim=(0, 1)), atol=1e-6)  # time step 1
    assert torch.allclose(pooled[0, 4 + 5], video[0, :, 1, 1].mean(dim=0), atol=1e-6)  # place 5
    frames = pool_video(video, "frames", 4)  # 2 x 2 per frame: the top-left 2 x 2 block first
    assert torch.allclose(frames[0, 0], video[0, 0, :2, :2].mean(dim=(0, 1)), atol=1e-6)


def test_greedy_decoding_follows_the_arg_max_and_stops():
    vlm, video = model(), features()
    prompt = torch.tensor([[1, 5, 6], [1, 7, 8]])
    out = vlm.generate(video, prompt, max_new=5, stop=2)
    text = prompt
    with torch.no_grad():
        for step in range(out.shape[1]):
            nxt = vlm(video, text)[:, -1].argmax(dim=-1)
            finished = (out[:, :step] == 2).any(dim=1)
            assert torch.equal(out[:, step][~finished], nxt[~finished])
            text = torch.cat([text, out[:, step : step + 1]], dim=1)
    assert out.shape[0] == 2 and out.shape[1] <= 5


def test_bad_inputs_are_refused():
    with pytest.raises(BadValueError, match="projection must be one of"):
        model(projection="average")
    with pytest.raises(
        BadValueError, match="tokens_per_frame must be a square number of at most 16"
    ):
        model(projection="frames", tokens_per_frame=5)
    with pytest.raises(BadValueError, match=r"video features: expected \(B, 4, 4, 4, 16\)"):
        model().projector(torch.randn(2, 4, 4, 16))
    with pytest.raises(BadValueError, match=r"L <= 12"):
        model()(features(), torch.zeros(2, 13, dtype=torch.long))
