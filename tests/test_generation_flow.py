"""Class-conditional video generation: the DiT (vidbook.models.dit) and flow matching, its
samplers and guidance (vidbook.train.generation).

The flow-matching parts are checked on a case with a closed form: data x1 ~ N(mu, sigma^2 I),
noise x0 ~ N(0, I). Then x_t ~ N(t mu, s^2 I) with s^2 = (1 - t)^2 + t^2 sigma^2, the optimal
velocity is v*(x, t) = E[x1 - x0 | x_t = x] = mu + ((t sigma^2 - (1 - t)) / s^2)(x - t mu), its
flow carries x0 to exactly mu + sigma x0, and the least loss at time t (the conditional variance
of x1 - x0 given x_t, per element) is sigma^2 / s^2, whose mean over t ~ U(0, 1) is
pi sigma / 2.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vidbook.clip_shape import ClipShape
from vidbook.data import ClipLoader, SynthActions
from vidbook.errors import BadValueError
from vidbook.models.dit import (
    DiTConfig,
    VideoDiT,
    patchify,
    sincos_3d,
    timestep_embedding,
    to_clip_space,
    to_model_space,
    unpatchify,
)
from vidbook.train.generation import (
    GENERATORS,
    METHODS,
    FlowMatching,
    build_generator,
    fixed_timestep_losses,
    flow_matching_loss,
    integrate,
    nfe,
    sample,
    sample_timesteps,
    velocity_with_guidance,
)
from vidbook.train.trainer import Trainer

MU = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=torch.float64)
SIGMA = 0.5


def tiny_cfg(**changes) -> DiTConfig:
    """A DiT for 4x16x16 clips: 2 x 2 x 2 = 8 tokens of 2x8x8 pixels, dim 32, 2 blocks."""
    fields = {"frames": 4, "size": 16, "patch": (2, 8, 8), "dim": 32, "depth": 2, "heads": 4}
    return DiTConfig(**{**fields, **changes})


def perturbed(model: VideoDiT, seed: int = 0, scale: float = 0.05) -> VideoDiT:
    """``model`` with every parameter moved by N(0, scale^2): no longer zero-initialised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return model


def inputs(cfg: DiTConfig, batch: int = 3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, cfg.frames, cfg.size, cfg.size, generator=gen)
    t = torch.rand(batch, generator=gen)
    label = torch.randint(0, cfg.num_classes + 1, (batch,), generator=gen)
    return x, t, label


def optimal_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """v*(x, t) of the Gaussian case, x (N, 4), t (N,)."""
    t = t.to(x.dtype)[:, None]
    s2 = (1 - t) ** 2 + t**2 * SIGMA**2
    return MU + (t * SIGMA**2 - (1 - t)) / s2 * (x - t * MU)


class GaussianVelocity(nn.Module):
    """A "model" (x, t, label) -> scale * v*(x, t) + offset, for ``flow_matching_loss``."""

    def __init__(self, offset: float = 0.0, scale: float = 1.0) -> None:
        super().__init__()
        self.offset, self.scale = offset, scale

    def forward(self, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.scale * optimal_velocity(x, t) + self.offset


# ----- patches and embeddings -------------------------------------------------------------------


def test_patchify_unpatchify_round_trip_is_exact():
    clips = torch.randn(2, 3, 8, 16, 24)
    patch, grid = (2, 4, 8), (4, 4, 3)
    tokens = patchify(clips, patch)
    assert tokens.shape == (2, 4 * 4 * 3, 3 * 2 * 4 * 8)
    assert torch.equal(unpatchify(tokens, patch, grid, 3), clips)
    assert torch.equal(patchify(unpatchify(tokens, patch, grid, 3), patch), tokens)


def test_patchify_orders_tokens_by_time_row_column():
    # clip[0, c, t, h, w] = 1000 c + 100 t + 10 h + w: each value says where it came from.
    c, t, h, w = torch.meshgrid(*(torch.arange(n) for n in (2, 4, 4, 6)), indexing="ij")
    clip = (1000 * c + 100 * t + 10 * h + w).float()[None]
    tokens = patchify(clip, (2, 2, 3))  # grid 2 x 2 x 2
    assert tokens.shape == (1, 8, 2 * 2 * 2 * 3)
    corners = tokens[0, :, 0].tolist()  # the first value of each token: its patch's corner
    #          (t, row, col) = (0,0,0) (0,0,1) (0,1,0) (0,1,1) (1,0,0) (1,0,1) (1,1,0) (1,1,1)
    assert corners == [0.0, 3.0, 20.0, 23.0, 200.0, 203.0, 220.0, 223.0]
    # within a token: channel, frame, row, column (the patch's own memory order)
    assert tokens[0, 5].tolist() == clip[0, :, 2:4, 0:2, 3:6].flatten().tolist()


def test_unpatchify_rejects_tokens_of_the_wrong_shape():
    with pytest.raises(BadValueError, match=r"unpatchify expects tokens \(B, 8, 24\).*got"):
        unpatchify(torch.zeros(1, 7, 24), (2, 2, 3), (2, 2, 2), 2)


def test_position_embedding_is_fixed_and_tells_tokens_apart():
    pos = sincos_3d((2, 3, 4), 32)
    assert pos.shape == (24, 32)
    assert torch.cdist(pos, pos).add(torch.eye(24)).min() > 0.1  # no two tokens alike
    model = VideoDiT(tiny_cfg())
    assert "pos_embed" not in model.state_dict()
    assert not any(p is model.pos_embed for p in model.parameters())


def test_timestep_embedding_scales_t_by_1000():
    t = torch.tensor([0.0, 0.25, 1.0])
    emb = timestep_embedding(t, 8)
    assert emb.shape == (3, 8)
    assert torch.allclose(emb[:, 0], torch.cos(1000 * t))  # frequency 1 first
    assert torch.allclose(emb[:, 4], torch.sin(1000 * t))


# ----- adaLN-Zero --------------------------------------------------------------------------------


def test_every_block_is_the_identity_and_the_model_outputs_zero_at_init():
    torch.manual_seed(0)
    model = VideoDiT(tiny_cfg())
    for block in model.blocks:
        x, c = torch.randn(3, 8, 32), 3 * torch.randn(3, 32)
        assert torch.equal(block(x, c), x)
    x, t, label = inputs(model.cfg)
    out = model(x, t, label)
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(x))


def test_one_step_makes_the_output_nonzero_and_gradients_reach_the_zero_layers():
    torch.manual_seed(0)
    model = VideoDiT(tiny_cfg())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, t, label = inputs(model.cfg, batch=4)
    zero_layers = [b.adaLN_modulation[1] for b in model.blocks]
    zero_layers += [model.final_layer.adaLN_modulation[1], model.final_layer.linear]
    for step in range(3):
        opt.zero_grad()
        flow_matching_loss(model, x, label).backward()
        if step == 0:  # only the output layer can move first: everything behind it sees 0
            assert model.final_layer.linear.weight.grad.abs().sum() > 0
        opt.step()
        if step == 0:
            assert model(x, t, label).abs().max() > 1e-4
    for layer in zero_layers:
        assert layer.weight.abs().sum() > 0, "a zero-initialised layer never got a gradient"


# ----- the Gaussian case ---------------------------------------------------------------------------


def test_integrating_the_optimal_velocity_carries_noise_to_the_data():
    x0 = torch.randn(20_000, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x1 = integrate(optimal_velocity, x0, steps=32, method="heun")
    assert torch.allclose(x1.mean(0), MU, atol=0.015)
    assert torch.allclose(x1.std(0), torch.full((4,), SIGMA, dtype=torch.float64), atol=0.01)
    # the flow is affine, x_t = t mu + s_t x0: each sample lands on mu + sigma x0
    assert (x1 - (MU + SIGMA * x0)).abs().max() < 2e-3


def test_heun_beats_euler_and_both_converge_at_their_order():
    x0 = torch.randn(2_000, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    exact = MU + SIGMA * x0

    def error(method: str, steps: int) -> float:
        return float((integrate(optimal_velocity, x0, steps, method) - exact).abs().max())

    assert error("heun", 4) < error("euler", 4) / 10
    assert error("midpoint", 4) < error("euler", 4) / 10
    assert 1.8 < error("euler", 16) / error("euler", 32) < 2.2  # first order
    assert error("heun", 16) / error("heun", 32) > 3.0  # second order


def test_integrate_makes_the_documented_number_of_evaluations():
    for method in METHODS:
        calls = []

        def velocity(x, t, calls=calls):
            calls.append(float(t[0]))
            return torch.zeros_like(x)

        integrate(velocity, torch.zeros(2, 3), 5, method)
        assert len(calls) == nfe(method, 5) == (5 if method == "euler" else 10)
        assert min(calls) == 0.0 and max(calls) <= 1.0


def _gaussian_batch(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    x1 = MU + SIGMA * torch.randn(n, 4, generator=gen, dtype=torch.float64)
    noise = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    t = torch.rand(n, generator=gen)
    return x1, noise, t, torch.zeros(n, dtype=torch.long)


def test_the_optimal_velocity_has_the_least_flow_matching_loss():
    x1, noise, t, label = _gaussian_batch(200_000, seed=2)

    def loss(model: nn.Module) -> float:
        return float(flow_matching_loss(model, x1, label, t=t, noise=noise))

    best = loss(GaussianVelocity())
    assert best < loss(GaussianVelocity(offset=0.1)) - 0.008  # expected gap: 0.1^2
    assert best < loss(GaussianVelocity(scale=0.9)) - 0.01
    assert best < loss(GaussianVelocity(scale=1.1)) - 0.01


def test_the_least_loss_is_the_conditional_variance():
    x1, noise, t, label = _gaussian_batch(200_000, seed=3)
    model = GaussianVelocity()
    at_03 = float(flow_matching_loss(model, x1, label, t=0.3, noise=noise))
    assert at_03 == pytest.approx(SIGMA**2 / (0.7**2 + 0.3**2 * SIGMA**2), rel=0.01)
    uniform = float(flow_matching_loss(model, x1, label, t=t, noise=noise))
    assert uniform == pytest.approx(math.pi * SIGMA / 2, rel=0.01)


def test_timestep_samplers():
    gen = torch.Generator().manual_seed(0)
    uniform = sample_timesteps(20_000, "uniform", generator=gen)
    logit = sample_timesteps(20_000, "logit_normal", generator=gen)
    assert 0 <= uniform.min() and uniform.max() <= 1 and 0 < logit.min() and logit.max() < 1
    assert abs(float(uniform.mean()) - 0.5) < 0.01 and abs(float(logit.median()) - 0.5) < 0.01
    # logit-normal puts fewer times near the ends than uniform
    assert float((logit < 0.1).float().mean()) < float((uniform < 0.1).float().mean()) / 2
    with pytest.raises(BadValueError, match="timesteps must be one of .* got 'cosine'"):
        sample_timesteps(3, "cosine")


# ----- the objective --------------------------------------------------------------------------------


def test_flow_matching_objective_unpacks_a_consistent_batch():
    clip = torch.rand(6, 3, 4, 16, 16)
    label = torch.arange(6)
    torch.manual_seed(0)
    (x_t, t, lab), target = FlowMatching(class_dropout=0.0).unpack({"clip": clip, "label": label})
    assert x_t.shape == target.shape == clip.shape and t.shape == (6,)
    assert torch.equal(lab, label) and 0 < t.min() and t.max() < 1
    x1 = to_model_space(clip)
    # x_t + (1 - t) (x1 - x0) = x1 on the straight path
    assert torch.allclose(x_t + (1 - t.view(-1, 1, 1, 1, 1)) * target, x1, atol=1e-5)
    (_, _, dropped), _ = FlowMatching(class_dropout=1.0).unpack({"clip": clip, "label": label})
    assert torch.equal(dropped, torch.full_like(label, 10))
    model = VideoDiT(tiny_cfg(class_dropout=0.3))
    objective = FlowMatching.for_model(model)
    assert (objective.num_classes, objective.class_dropout) == (10, 0.3)


def test_clip_and_model_space_are_inverse():
    clip = torch.rand(2, 3, 4, 8, 8)
    assert to_model_space(clip).min() >= -1 and to_model_space(clip).max() <= 1
    assert torch.allclose(to_clip_space(to_model_space(clip)), clip)
    assert to_clip_space(torch.tensor([-3.0, 3.0])).tolist() == [0.0, 1.0]


# ----- guidance ---------------------------------------------------------------------------------------


def test_guidance_mixes_the_conditional_and_null_velocities():
    torch.manual_seed(0)
    model = perturbed(VideoDiT(tiny_cfg())).eval()
    x, t, _ = inputs(model.cfg)
    label = torch.tensor([0, 4, 9])
    with torch.no_grad():
        v_cond = model(x, t, label)
        v_null = model(x, t, torch.full_like(label, 10))
        assert (v_cond - v_null).abs().max() > 1e-3  # the class matters
        assert torch.equal(velocity_with_guidance(model, x, t, label, 1.0), v_cond)
        v0 = velocity_with_guidance(model, x, t, label, 0.0)
        assert torch.allclose(v0, v_null, atol=1e-6)
        for w in (-1.0, 2.5, 4.0):
            vw = velocity_with_guidance(model, x, t, label, w)
            assert torch.allclose(vw, v_null + w * (v_cond - v_null), atol=1e-5)
    with pytest.raises(BadValueError, match="guidance must be a finite number, got 'strong'"):
        velocity_with_guidance(model, x, t, label, "strong")


# ----- training, sampling, determinism ------------------------------------------------------------------


def test_training_lowers_the_fixed_timestep_losses(one_thread):
    data = SynthActions("train", size=16, frames=4, height=16, width=16)
    batch = data.batch(range(16))
    torch.manual_seed(0)
    model = VideoDiT(tiny_cfg())
    before = fixed_timestep_losses(model, batch["clip"], batch["label"])
    trainer = Trainer(
        model,
        objective=FlowMatching.for_model(model),
        epochs=60,
        lr=1e-3,
        weight_decay=0.0,
        optimizer=lambda groups: torch.optim.Adam(groups),
        progress=False,
        device="cpu",
    )
    history = trainer.fit(ClipLoader(data, batch_size=16, shuffle=True, seed=0, device="cpu"))
    assert trainer.global_step == 60 and model.training
    after = fixed_timestep_losses(model, batch["clip"], batch["label"])
    assert model.training  # modes restored
    assert sorted(after) == sorted(before) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert all(after[t] < before[t] - 0.05 for t in before), (before, after)
    assert sum(after.values()) < 0.93 * sum(before.values()), (before, after)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_sampling_and_fixed_losses_are_deterministic(one_thread):
    torch.manual_seed(0)
    model = perturbed(VideoDiT(tiny_cfg()))
    first = sample(model, [0, 3, 10], steps=3, method="heun", guidance=2.0, seed=7)
    again = sample(model, [0, 3, 10], steps=3, method="heun", guidance=2.0, seed=7)
    other = sample(model, [0, 3, 10], steps=3, method="heun", guidance=2.0, seed=8)
    assert first.shape == (3, 3, 4, 16, 16) and 0 <= first.min() and first.max() <= 1
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert model.training
    same_gen = sample(model, [0, 3, 10], 3, "heun", 2.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, same_gen)
    clips, labels = torch.rand(4, 3, 4, 16, 16), torch.tensor([1, 2, 3, 4])
    losses = fixed_timestep_losses(model, clips, labels, timesteps=(0.2, 0.7), seed=3)
    assert losses == fixed_timestep_losses(model, clips, labels, timesteps=(0.2, 0.7), seed=3)
    assert losses != fixed_timestep_losses(model, clips, labels, timesteps=(0.2, 0.7), seed=4)


def test_untrained_model_sampling_returns_the_noise():
    # v = 0 everywhere: every sampler leaves the noise where it is
    model = VideoDiT(tiny_cfg())
    gen_noise = torch.randn((2, 3, 4, 16, 16), generator=torch.Generator().manual_seed(5))
    for method in METHODS:
        clips = sample(model, [1, 2], steps=2, method=method, guidance=3.0, seed=5)
        assert torch.equal(clips, to_clip_space(gen_noise))


def test_build_generator_for_clip_shapes(one_thread):
    model = build_generator("dit_tiny", ClipShape(16, 32, 32))
    assert model.cfg.grid == (4, 4, 4) and model.cfg.dim == GENERATORS["dit_tiny"]["dim"]
    assert sum(p.numel() for p in model.parameters()) == 1_468_672
    small = build_generator("dit_small", ClipShape(8, 16, 16))
    x, t, label = inputs(small.cfg, batch=1)
    assert small(x, t, label).shape == (1, 3, 8, 16, 16)
    with pytest.raises(BadValueError, match=r"square frames.*height 32 != width 48"):
        build_generator("dit_tiny", ClipShape(16, 32, 48))
    with pytest.raises(BadValueError, match="generator must be one of .* got 'dit_huge'"):
        build_generator("dit_huge", ClipShape(16, 32, 32))
    with pytest.raises(BadValueError, match=r"frames \(6\) must be divisible by the patch's t"):
        build_generator("dit_tiny", ClipShape(6, 32, 32))


# ----- bad inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"frames": 5}, r"frames \(5\) must be divisible by the patch's t \(2\)"),
        ({"size": 20}, r"size \(20\) must be divisible by the patch's p \(8\)"),
        ({"patch": (2, 8, 4)}, r"patch must be square in space \(t, p, p\), got \(2, 8, 4\)"),
        ({"patch": (2, 8)}, r"patch must be three ints >= 1 \(t, p, p\), got \(2, 8\)"),
        ({"heads": 5}, r"dim \(32\) must be divisible by heads \(5\)"),
        ({"class_dropout": 1.5}, r"class_dropout must be a number in \[0, 1\], got 1.5"),
        ({"depth": 0}, r"depth must be an int >= 1, got 0"),
    ],
)
def test_config_rejects_bad_values(changes, message):
    with pytest.raises(BadValueError, match=message):
        tiny_cfg(**changes)


def test_model_rejects_bad_inputs():
    model = VideoDiT(tiny_cfg())
    x, t, label = inputs(model.cfg)
    with pytest.raises(
        BadValueError, match=r"x of shape \(B, 3, 4, 16, 16\), got \(3, 3, 4, 8, 8\)"
    ):
        model(x[..., :8, :8], t, label)
    with pytest.raises(BadValueError, match=r"expects clips of shape \(B, 3, T, H, W\)"):
        model(x[:, :2], t, label)
    with pytest.raises(BadValueError, match=r"t must be a float tensor of shape \(3,\), got"):
        model(x, t[:2], label)
    with pytest.raises(BadValueError, match=r"label must be an integer tensor of shape \(3,\)"):
        model(x, t, label.float())
    with pytest.raises(BadValueError, match=r"label must be in \[0, 10\].*from 0 to 11"):
        model(x, t, torch.tensor([0, 11, 3]))
    with pytest.raises(BadValueError, match=r"label must be in \[0, 10\].*from -1 to 3"):
        model(x, t, torch.tensor([-1, 2, 3]))


def test_samplers_reject_bad_arguments():
    model = VideoDiT(tiny_cfg())
    with pytest.raises(
        BadValueError, match=r"method must be one of \('euler', 'heun', 'midpoint'\)"
    ):
        sample(model, [1], steps=2, method="rk4")
    with pytest.raises(BadValueError, match="steps must be an int >= 1, got 0"):
        sample(model, [1], steps=0)
    with pytest.raises(BadValueError, match="steps must be an int >= 1, got 0"):
        integrate(lambda x, t: x, torch.zeros(1, 2), 0)
    with pytest.raises(BadValueError, match="method must be one of .* got 'rk4'"):
        integrate(lambda x, t: x, torch.zeros(1, 2), 2, "rk4")
    with pytest.raises(BadValueError, match=r"labels must be in \[0, 10\].*got \[1, 12\]"):
        sample(model, [1, 12], steps=1)
    with pytest.raises(BadValueError, match="guidance must be a finite number, got nan"):
        sample(model, [1], steps=1, guidance=float("nan"))
    with pytest.raises(BadValueError, match=r"timesteps must be numbers in \[0, 1\]"):
        fixed_timestep_losses(model, torch.rand(1, 3, 4, 16, 16), torch.tensor([1]), (0.5, 2))
    with pytest.raises(BadValueError, match=r"noise must have x1's shape \(2, 4\), got \(2, 3\)"):
        flow_matching_loss(GaussianVelocity(), torch.zeros(2, 4), None, noise=torch.zeros(2, 3))
