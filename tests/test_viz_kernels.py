"""Hand-made 3D kernels: responses on clips whose answer is known, pictures, the widget."""

import sys

import matplotlib
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from vidbook.viz.kernels import (  # noqa: E402
    KERNEL_NAMES,
    apply_kernel,
    draw_kernel_response,
    kernel_explorer,
    kernel_gallery,
    make_kernel,
    response_energy,
)

T, H, W = 8, 12, 20


def bar(step_x: int = 1, step_y: int = 0, channels: int = 1) -> torch.Tensor:
    """(C, T, H, W) clip: a bright 3-pixel bar on black moving step pixels per frame."""
    clip = torch.zeros(channels, T, H, W)
    for t in range(T):
        if step_y == 0:
            clip[:, t, :, 4 + step_x * t : 7 + step_x * t] = 1.0  # vertical bar, moves in x
        else:
            clip[:, t, 1 + step_y * t : 4 + step_y * t, :] = 1.0  # horizontal bar, moves in y
    return clip


def still(clip: torch.Tensor) -> torch.Tensor:
    """The first frame of a clip, repeated: the same picture without motion."""
    return clip[:, :1].expand_as(clip).clone()


def test_every_kernel_has_the_documented_shape_and_odd_space():
    assert len(KERNEL_NAMES) == len(set(KERNEL_NAMES)) >= 10
    for name in KERNEL_NAMES:
        k = make_kernel(name)
        assert k.ndim == 3 and k.dtype == torch.float32, name
        assert k.shape[1] % 2 == 1 and k.shape[2] % 2 == 1, name
    assert make_kernel("motion_right").shape == (3, 3, 3)
    assert make_kernel("temporal_diff").shape == (2, 1, 1)
    assert make_kernel("edge_x").shape == (1, 3, 3)


def test_make_kernel_returns_a_fresh_copy():
    k = make_kernel("blur")
    k.zero_()
    assert make_kernel("blur").sum().item() == pytest.approx(1.0)


def test_output_shape_loses_kt_minus_one_frames_and_keeps_space():
    clip = torch.rand(3, T, H, W)
    for name in KERNEL_NAMES:
        k_t = make_kernel(name).shape[0]
        assert apply_kernel(clip, name).shape == (T - k_t + 1, H, W), name


def test_apply_kernel_is_conv3d_on_the_brightness_with_replicate_padding():
    torch.manual_seed(0)
    clip = torch.rand(3, T, H, W)
    kernel = torch.randn(3, 3, 5)
    grey = clip.mean(0)[None, None]  # (1, 1, T, H, W)
    want = F.conv3d(F.pad(grey, (2, 2, 1, 1, 0, 0), mode="replicate"), kernel[None, None])[0, 0]
    got = apply_kernel(clip, kernel)
    assert torch.allclose(got, want, atol=1e-6)
    # identity and a one-channel clip: the brightness itself
    assert torch.allclose(apply_kernel(clip, "identity"), clip.mean(0))
    assert torch.equal(apply_kernel(clip[:1], "identity"), clip[0])


def test_temporal_difference_is_zero_on_a_still_clip_and_not_on_a_moving_one():
    moving = bar(channels=3)
    assert apply_kernel(still(moving), "temporal_diff").abs().max() == 0
    diff = apply_kernel(moving, "temporal_diff")
    # the bar gains its new leading column and loses its old trailing one: +1 and -1
    assert diff.max() == 1 and diff.min() == -1
    assert torch.equal(diff[0, 0], torch.tensor([0.0] * 4 + [-1, 0, 0, 1] + [0.0] * 12))


def test_spatial_kernels_give_zero_on_a_uniform_clip_and_see_edges():
    flat = torch.full((3, T, H, W), 0.4)
    for name in ("edge_x", "edge_y", "temporal_diff", "motion_right", "motion_up"):
        assert apply_kernel(flat, name).abs().max() < 1e-6, name
    for name in ("blur", "blur_3d", "temporal_avg", "identity"):
        assert torch.allclose(apply_kernel(flat, name), torch.tensor(0.4)), name
    vertical = bar()
    assert response_energy(vertical, "edge_x") > 0.1
    assert response_energy(vertical, "edge_y") == 0  # a vertical bar has no horizontal edge


def test_motion_kernels_prefer_their_direction():
    right, left = bar(1), bar(1).flip(1)  # left: the same frames played backwards
    # response = dI/ds - dI/dt: doubled edge for v = +1, zero for v = -1, the edge for v = 0
    e_right, e_left = response_energy(right, "motion_right"), response_energy(left, "motion_right")
    e_still = response_energy(still(right), "motion_right")
    assert e_left == pytest.approx(0.0, abs=1e-12)
    assert e_right == pytest.approx(4 * e_still) and e_still > 0
    assert response_energy(left, "motion_left") == pytest.approx(e_right)
    down = bar(0, 1)
    assert response_energy(down, "motion_down") == pytest.approx(
        4 * response_energy(still(down), "motion_down")
    )
    assert response_energy(down.flip(1), "motion_down") == pytest.approx(0.0, abs=1e-12)
    assert response_energy(down.flip(1), "motion_up") > 0.1


def test_bad_kernel_names_and_shapes_raise_value_error():
    clip = torch.rand(3, T, H, W)
    with pytest.raises(ValueError, match="unknown kernel 'sharpen'"):
        make_kernel("sharpen")
    with pytest.raises(ValueError, match="unknown kernel"):
        apply_kernel(clip, "Motion_Right")
    with pytest.raises(ValueError, match=r"\(kT, kH, kW\)"):
        apply_kernel(clip, torch.ones(3, 3))
    with pytest.raises(ValueError, match="must be odd"):
        apply_kernel(clip, torch.ones(3, 2, 3))
    with pytest.raises(ValueError, match="spans 9 frames but the clip has only 8"):
        apply_kernel(clip, torch.ones(9, 1, 1))
    with pytest.raises(ValueError, match="finite floating-point"):
        apply_kernel(clip, torch.ones(1, 1, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="finite floating-point"):
        apply_kernel(clip, torch.tensor([[[float("nan")]]]))
    with pytest.raises(ValueError, match="a name or a"):
        apply_kernel(clip, [[[1.0]]])


def test_bad_clips_raise_value_error():
    with pytest.raises(ValueError, match=r"\(C, T, H, W\)"):
        apply_kernel(torch.rand(1, 3, T, H, W), "blur")
    with pytest.raises(ValueError, match=r"C in \(1, 3\)"):
        apply_kernel(torch.rand(2, T, H, W), "blur")


def test_draw_kernel_response_layout_and_frame_check():
    clip = bar(channels=3)
    fig = draw_kernel_response(clip, "motion_right", frame=2)
    assert len(fig.axes) == 2 * 3 + 1
    plt.close(fig)
    with pytest.raises(ValueError, match=r"frame must be an int in 0\.\.5"):
        draw_kernel_response(clip, "motion_right", frame=6)


def test_gallery_has_a_row_per_kernel_and_checks_its_arguments():
    clip = bar(channels=3)
    fig = kernel_gallery(clip, ["edge_x", "temporal_diff", "motion_right"], times=3)
    visible = [ax for ax in fig.axes if ax.axison]
    # input row: 3 moments; rows: edge_x 1 slice + 3, temporal_diff 2 + 3, motion 3 + 3
    assert len(visible) == 3 + 4 + 5 + 6
    plt.close(fig)
    fig = kernel_gallery(clip, {"mine": torch.ones(1, 3, 3) / 9})
    plt.close(fig)
    with pytest.raises(ValueError, match="unknown kernel"):
        kernel_gallery(clip, ["edge_x", "nope"])
    with pytest.raises(ValueError, match="empty"):
        kernel_gallery(clip, [])
    with pytest.raises(ValueError, match="list of names or a dict"):
        kernel_gallery(clip, "edge_x")
    with pytest.raises(ValueError, match="times must be a positive int"):
        kernel_gallery(clip, times=0)


def test_explorer_builds_and_redraws_when_ipywidgets_is_installed():
    widgets = pytest.importorskip("ipywidgets")
    ui = kernel_explorer(bar(channels=3), ["identity", "motion_right", "temporal_diff"])
    assert isinstance(ui, widgets.VBox)
    choose, frame = ui.children[0].children
    assert list(choose.options) == ["identity", "motion_right", "temporal_diff"]
    assert frame.max == T - 1
    frame.value = T - 1
    choose.value = "motion_right"  # 3 frames: the slider's range shrinks, its value follows
    assert frame.max == T - 3 and frame.value == T - 3
    plt.close("all")


def test_explorer_without_ipywidgets_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` fail
    with pytest.raises(ImportError, match="pip install ipywidgets.*kernel_gallery"):
        kernel_explorer(bar(channels=3))
