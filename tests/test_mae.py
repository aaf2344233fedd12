"""The video masked autoencoder: tube masking, the encoder on visible tokens, the targets, the
classifier on the pre-trained encoder, and bad inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidbook.data import SynthActions
from vidbook.errors import BadValueError
from vidbook.models.mae import (
    MAEClassifier,
    MAEConfig,
    VideoMAE,
    keep_visible,
    normalised_targets,
    tube_mask,
    tubelets,
    untubelets,
    visible_count,
)

SMALL = MAEConfig(frames=4, size=16, tubelet=(2, 4, 4), dim=32, depth=2, heads=4,
                  decoder_dim=16, decoder_depth=1, decoder_heads=2)  # fmt: skip


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.75, 0.9, 0.95])
def test_tube_mask_hides_the_asked_share_of_every_clip_as_whole_tubes(ratio):
    grid = (8, 4, 4)
    mask = tube_mask(64, grid, ratio, torch.Generator().manual_seed(1))
    assert mask.shape == (64, 8 * 16) and mask.dtype == torch.bool
    per_slice = mask.view(64, 8, 16)
    # The same spatial positions in every time slice: whole tubes.
    assert torch.equal(per_slice, per_slice[:, :1].expand_as(per_slice))
    hidden = per_slice[:, 0].sum(dim=1)
    assert (hidden == round(ratio * 16)).all()
    if 0 < ratio <= 0.9:  # the positions differ from clip to clip
        assert len({tuple(row.tolist()) for row in per_slice[:, 0]}) > 32


def test_tube_mask_is_uniform_over_positions():
    mask = tube_mask(4000, (2, 4, 4), 0.75, torch.Generator().manual_seed(0))
    share = mask.view(4000, 2, 16)[:, 0].float().mean(dim=0)
    assert torch.allclose(share, torch.full((16,), 0.75), atol=0.04)


def test_visible_count_rounds_to_the_nearest_hidden_count():
    assert visible_count(16, 0.9) == 2  # 14.4 hidden -> 14
    assert visible_count(196, 0.9) == 20  # 176.4 -> 176
    assert visible_count(16, 0.0) == 16


def test_tubelets_round_trip_and_order():
    clips = torch.arange(2 * 3 * 4 * 16 * 16, dtype=torch.float32).view(2, 3, 4, 16, 16)
    pixels = tubelets(clips, SMALL.tubelet)
    assert pixels.shape == (2, SMALL.tokens, 2 * 4 * 4, 3)
    assert torch.equal(untubelets(pixels, SMALL, 2), clips)
    # Token 1 is time slice 0, row 0, column 1: pixels (frames 0-1, rows 0-3, columns 4-7).
    assert torch.equal(pixels[0, 1, :, 0], clips[0, 0, 0:2, 0:4, 4:8].reshape(-1))
    # Token 16 is the second time slice's first patch.
    assert torch.equal(pixels[1, 16, :, 2], clips[1, 2, 2:4, 0:4, 0:4].reshape(-1))


def test_normalised_targets_standardise_each_tubelet_per_channel():
    clips = torch.rand(2, 3, 4, 16, 16)
    target = normalised_targets(clips, SMALL.tubelet).view(2, SMALL.tokens, 32, 3)
    patch = clips[1, 1, 2:4, 4:8, 8:12].reshape(-1).double()  # channel 1 of token 16 + 4 + 2
    expected = (patch - patch.mean()) / (patch.std() + 1e-6)
    assert torch.allclose(target[1, 22, :, 1].double(), expected, atol=1e-5)


def test_the_encoder_on_visible_tokens_equals_attention_that_ignores_the_hidden_ones():
    """Dropping the hidden tokens is the same as masking them out of every attention: PyTorch's
    TransformerEncoderLayer with a key padding mask, on all tokens, gives the visible rows."""
    torch.manual_seed(0)
    mae = VideoMAE(SMALL).eval()
    clips = torch.rand(3, 3, 4, 16, 16)
    mask = tube_mask(3, SMALL.grid, 0.75, torch.Generator().manual_seed(2))
    ours = mae.encoder(clips, mask)
    assert ours.shape == (3, visible_count(16, 0.75) * 2, SMALL.dim)
    reference = []
    for block in mae.encoder.blocks:
        layer = nn.TransformerEncoderLayer(SMALL.dim, SMALL.heads, SMALL.mlp_ratio * SMALL.dim, 0.0,
                                           activation="gelu", norm_first=True, batch_first=True)  # fmt: skip
        layer.load_state_dict(block.state_dict())
        reference.append(layer.eval())
    encoder = mae.encoder
    x = encoder.embed((clips - encoder.input_mean) / encoder.input_std).flatten(2).transpose(1, 2)
    x = x + encoder.position
    for layer in reference:
        x = layer(x, src_key_padding_mask=mask)
    x = encoder.norm(x)
    assert torch.allclose(ours, keep_visible(x, mask), atol=1e-5)


def test_the_decoder_predicts_every_hidden_tubelet_and_the_loss_falls():
    torch.manual_seed(0)
    mae = VideoMAE(SMALL)
    clips = SynthActions("train", size=4, frames=4, height=16, width=16).batch(range(4))["clip"]
    prediction, mask = mae(clips)
    assert prediction.shape == (4, int(mask[0].sum()), 2 * 4 * 4 * 3)
    fixed = tube_mask(4, SMALL.grid, SMALL.mask_ratio, torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = float(mae.loss(clips, fixed))
    optimizer = torch.optim.Adam(mae.parameters(), lr=3e-3)
    for _ in range(60):
        optimizer.zero_grad()
        mae.loss(clips, fixed).backward()
        optimizer.step()
    with torch.no_grad():
        assert float(mae.loss(clips, fixed)) < 0.7 * before


def test_reconstruction_keeps_the_visible_tubelets_exactly():
    torch.manual_seed(0)
    mae = VideoMAE(SMALL).eval()
    clips = torch.rand(2, 3, 4, 16, 16)
    mask = tube_mask(2, SMALL.grid, 0.5, torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = mae.reconstruct(clips, mask)
    assert out.shape == clips.shape
    kept = tubelets(out, SMALL.tubelet)[~mask]
    assert torch.equal(kept, tubelets(clips, SMALL.tubelet)[~mask])
    assert not torch.allclose(
        tubelets(out, SMALL.tubelet)[mask], tubelets(clips, SMALL.tubelet)[mask]
    )


def test_the_classifier_takes_the_pretrained_encoder_and_the_probe_trains_only_its_head():
    torch.manual_seed(0)
    mae = VideoMAE(SMALL)
    classifier = MAEClassifier(SMALL, num_classes=10).load_pretrained(mae)
    for name, value in mae.encoder.state_dict().items():
        assert torch.equal(classifier.encoder.state_dict()[name], value)
    assert classifier(torch.rand(2, 3, 4, 16, 16)).shape == (2, 10)
    probe = MAEClassifier(SMALL, probe=True).load_pretrained(mae.state_dict()).train()
    trainable = {n for n, p in probe.named_parameters() if p.requires_grad}
    assert trainable == {"head_norm.weight", "head_norm.bias", "head.weight", "head.bias"}
    assert not probe.encoder.training and probe.head.training


def test_bad_inputs_are_named():
    with pytest.raises(BadValueError, match=r"divisible by the tubelet"):
        MAEConfig(frames=5, size=16, tubelet=(2, 4, 4))
    with pytest.raises(BadValueError, match=r"mask_ratio must be in \[0, 1\), got 1.0"):
        MAEConfig(mask_ratio=1.0)
    with pytest.raises(BadValueError, match=r"hides every one of the 4"):
        MAEConfig(frames=4, size=16, tubelet=(2, 8, 8), mask_ratio=0.9)
    mae = VideoMAE(SMALL)
    with pytest.raises(
        BadValueError, match=r"built for clips \(B, 3, 4, 16, 16\), got \(2, 3, 4, 32, 32\)"
    ):
        mae(torch.rand(2, 3, 4, 32, 32))
    with pytest.raises(BadValueError, match=r"as many visible tokens; counts per clip: \[31, 30\]"):
        mask = torch.zeros(2, 32, dtype=torch.bool)
        mask[0, 0], mask[1, :2] = True, True
        mae(torch.rand(2, 3, 4, 16, 16), mask)
    with pytest.raises(BadValueError, match=r"keys 'encoder\.\*'"):
        MAEClassifier(SMALL).load_pretrained({"head.weight": torch.zeros(1)})
    other = VideoMAE(MAEConfig(frames=4, size=16, tubelet=(2, 4, 4), dim=64, depth=2, heads=4))
    with pytest.raises(BadValueError, match=r"does not fit this classifier"):
        MAEClassifier(SMALL).load_pretrained(other)
