"""Token merging: the matching, the size-weighted average, proportional attention, and r = 0."""

from __future__ import annotations

import pytest
import torch

from vidbook.errors import BadValueError
from vidbook.models import build_for_clips
from vidbook.models.attention import EncoderBlock
from vidbook.models.token_merging import (
    bipartite_soft_matching,
    merge_tokens,
    proportional_attention,
    run_blocks,
    set_token_merging,
    token_groups,
)


def blocks(depth: int = 3, dim: int = 32) -> list[EncoderBlock]:
    torch.manual_seed(0)
    return [EncoderBlock(dim, 4, 2).eval() for _ in range(depth)]


def test_r_zero_is_exactly_the_plain_blocks():
    x = torch.randn(2, 17, 32)
    expected = x
    for block in blocks():
        expected = block(expected)
    merged, size = run_blocks(blocks(), x, r=0)
    assert torch.equal(merged, expected) and bool((size == 1).all())


@pytest.mark.parametrize("protect_first", [False, True])
def test_each_block_removes_r_tokens_and_sizes_add_up(protect_first):
    x = torch.randn(2, 17, 32)
    with torch.no_grad():
        merged, size = run_blocks(blocks(3), x, r=4, protect_first=protect_first)
    assert merged.shape == (2, 17 - 3 * 4, 32)
    assert torch.allclose(size.sum(dim=1), torch.full((2, 1), 17.0))  # every token counted once


def test_the_class_token_stays_first_and_unmerged():
    torch.manual_seed(1)
    keys = torch.randn(3, 9, 8)
    keys[:, 1] = keys[:, 0]  # token 0's best partner is a perfect match: it would merge first
    merge = bipartite_soft_matching(keys, 4, protect_first=True)
    x = torch.randn(3, 9, 5)
    out, size = merge_tokens(merge, x, torch.ones(3, 9, 1))
    assert out.shape == (3, 5, 5)
    assert torch.equal(out[:, 0], x[:, 0]) and bool((size[:, 0] == 1).all())


def test_merged_tokens_are_size_weighted_averages_of_the_best_matches():
    # A = tokens 0, 2; B = tokens 1, 3. Token 2 matches token 3 best, token 0 matches token 1.
    keys = torch.tensor([[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.0, 1.0]]])
    x = torch.tensor([[[1.0], [3.0], [10.0], [20.0]]])
    size = torch.tensor([[[1.0], [1.0], [2.0], [3.0]]])
    out, merged_size = merge_tokens(bipartite_soft_matching(keys, 1), x, size)
    # the best pair (2 -> 3, similarity 1) merges: (2 * 10 + 3 * 20) / 5 = 16, size 5;
    # the kept A token (0) comes first, then B (1, then the merged 3).
    assert torch.allclose(out, torch.tensor([[[1.0], [3.0], [16.0]]]))
    assert torch.equal(merged_size, torch.tensor([[[1.0], [1.0], [5.0]]]))


def test_proportional_attention_treats_a_token_of_size_two_as_two_copies():
    block = blocks(1)[0]
    torch.manual_seed(2)
    tokens = torch.randn(1, 5, 32)
    twice = torch.cat([tokens, tokens[:, -1:]], dim=1)  # the last token duplicated
    with torch.no_grad():
        plain, _ = proportional_attention(block.self_attn, twice, torch.ones(1, 6, 1))
        assert torch.allclose(plain, block.self_attn(twice), atol=1e-6)  # sizes 1: plain attention
        size = torch.tensor([[[1.0], [1.0], [1.0], [1.0], [2.0]]])
        weighted, keys = proportional_attention(block.self_attn, tokens, size)
    assert torch.allclose(weighted, plain[:, :5], atol=1e-5)
    assert keys.shape == (1, 5, 32 // 4)


def test_bad_r_is_refused():
    with pytest.raises(BadValueError, match="r must be an int >= 0"):
        bipartite_soft_matching(torch.randn(1, 4, 2), -1)
    with pytest.raises(BadValueError, match="r must be an int >= 0"):
        bipartite_soft_matching(torch.randn(1, 4, 2), 1.5)


def test_models_merge_when_asked_and_refuse_what_they_cannot():
    from vidbook.models import build
    from vidbook.models.mae import MAEClassifier, MAEConfig

    torch.manual_seed(0)
    clips = torch.rand(2, 3, 8, 32, 32)
    cfg = MAEConfig(frames=8, size=32, tubelet=(2, 8, 8), dim=32, depth=2, heads=4)
    classifier = MAEClassifier(cfg).eval()
    with torch.no_grad():
        plain = classifier(clips)
        tokens, size = classifier.encoder.merged(clips, 5)
        merged = set_token_merging(classifier, 5)(clips)
    assert tokens.shape == (2, cfg.tokens - 2 * 5, 32)
    assert torch.allclose(size.sum(dim=1), torch.full((2, 1), float(cfg.tokens)))
    assert merged.shape == plain.shape and not torch.equal(merged, plain)
    with torch.no_grad():
        assert torch.equal(set_token_merging(classifier, 0)(clips), plain)
    vivit = build("vivit", num_classes=10).eval()
    video = torch.rand(2, 3, 16, 32, 32)
    with torch.no_grad():
        before = vivit(video)
        set_token_merging(vivit, 2)
        after = vivit(video)
        set_token_merging(vivit, 0)
        assert torch.equal(vivit(video), before)
    assert after.shape == before.shape and not torch.equal(after, before)
    with pytest.raises(BadValueError, match="does not support token merging"):
        set_token_merging(build("c3d", num_classes=10), 2)
    with pytest.raises(BadValueError, match="r must be an int >= 0"):
        set_token_merging(vivit, -2)


def test_token_groups_count_the_tokens_each_final_token_holds():
    torch.manual_seed(0)
    blocks = [EncoderBlock(16, 4, 2).eval() for _ in range(3)]
    x = torch.randn(2, 20, 16)
    groups = token_groups(blocks, x, r=4)
    assert groups.shape == (2, 20) and int(groups.max()) < 20 - 3 * 4
    _, size = run_blocks(blocks, x, r=4)
    counts = torch.stack([torch.bincount(g, minlength=size.shape[1]) for g in groups])
    assert torch.equal(counts.float(), size[..., 0])  # each group's count is its token's size


def test_the_zoos_video_vit_merges_and_is_unchanged_at_r_zero():
    torch.manual_seed(0)
    model = build_for_clips("vit_tubelet", 10, 16, 32, 32).eval()
    assert model.encoder.cfg.tokens == 128
    clips = torch.rand(2, 3, 16, 32, 32)
    with torch.no_grad():
        plain = model(clips)
        merged = set_token_merging(model, 24)(clips)
        again = set_token_merging(model, 0)(clips)
    assert merged.shape == plain.shape == (2, 10)
    assert not torch.allclose(merged, plain) and torch.equal(again, plain)
