"""The 3D autoencoder of the latent generator: shapes and compression, the latent scale, that it
learns to reconstruct, and bad inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidbook.data import SynthActions
from vidbook.errors import BadValueError
from vidbook.models.video_autoencoder import AutoencoderConfig, VideoAutoencoder


@pytest.mark.parametrize(("time", "space", "latent_shape"), [
    (4, 4, (8, 4, 8, 8)),
    (2, 4, (8, 8, 8, 8)),
    (1, 2, (8, 16, 16, 16)),
])  # fmt: skip
def test_the_latent_shrinks_time_and_space_by_the_factors(time, space, latent_shape, one_thread):
    ae = VideoAutoencoder(AutoencoderConfig(width=16, time_factor=time, space_factor=space))
    clips = torch.rand(2, 3, 16, 32, 32)
    latents = ae.encode(clips)
    assert latents.shape == (2, *latent_shape)
    out = ae.decode(latents)
    assert out.shape == clips.shape and 0 <= out.min() and out.max() <= 1
    facts = ae.compression((16, 32, 32))
    assert facts["pixels"] == 3 * 16 * 32 * 32 and facts["latent"] == latents[0].numel()
    assert facts["ratio"] == pytest.approx(facts["pixels"] / facts["latent"])


def test_the_latent_scale_makes_unit_standard_deviation(one_thread):
    torch.manual_seed(0)
    ae = VideoAutoencoder(AutoencoderConfig(width=16)).eval()
    clips = torch.rand(8, 3, 16, 32, 32)
    scale = ae.set_latent_scale(clips)
    with torch.no_grad():
        assert scale > 0 and float(ae.encode(clips).std()) == pytest.approx(1.0, rel=1e-4)
    # Decoding undoes the scale: the reconstruction does not depend on it.
    with torch.no_grad():
        before = ae(clips)
        ae.latent_scale.fill_(1.0)
        assert torch.allclose(ae(clips), before, atol=1e-6)


def test_it_learns_to_reconstruct_clips(one_thread):
    torch.manual_seed(0)
    clips = SynthActions("train", size=8, frames=8, height=16, width=16, difficulty="easy").batch(
        range(8)
    )["clip"]
    ae = VideoAutoencoder(AutoencoderConfig(width=16, time_factor=2, space_factor=2))
    optimizer = torch.optim.Adam(ae.parameters(), lr=3e-3)
    with torch.no_grad():
        before = F.mse_loss(ae(clips), clips).item()
    for _ in range(80):
        optimizer.zero_grad()
        F.mse_loss(ae(clips), clips).backward()
        optimizer.step()
    with torch.no_grad():
        after = F.mse_loss(ae(clips), clips).item()
    assert after < 0.3 * before


def test_bad_inputs_are_named():
    with pytest.raises(BadValueError, match="time_factor must be 1, 2 or 4, got 3"):
        AutoencoderConfig(time_factor=3)
    ae = VideoAutoencoder(AutoencoderConfig(width=16))
    with pytest.raises(BadValueError, match=r"divisible by them, got \(6, 32, 32\)"):
        ae.encode(torch.rand(1, 3, 6, 32, 32))
    with pytest.raises(
        BadValueError, match=r"latents: expected \(B, 8, T, H, W\), got \(1, 4, 4, 8, 8\)"
    ):
        ae.decode(torch.rand(1, 4, 4, 8, 8))
