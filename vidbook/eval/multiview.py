"""Multi-view testing: judge a whole video by many clips and crops, not by one.

A model trained on 16-frame, 112 x 112 clips sees a few seconds of a video and part of its frame.
At test time the video is cut into views: ``num_clips`` clips spread over time times
``num_crops`` crops along the long side of the frame, and the video's score is the model's class
probabilities averaged over all views. The common protocol is 10 clips x 3 crops (30 views);
others use fewer (mmaction2's C3D 10 x 1, MViT 5 x 1, VideoMAE 5 x 3).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidbook.checks import check_int, is_int
from vidbook.data.sampling import multi_view_indices
from vidbook.data.transforms import center_crop, resize, three_crops, to_float
from vidbook.errors import BadValueError
from vidbook.runtime import eval_mode, resolve_device

CROP_SCHEMES = (1, 3)  # 1: the centre crop; 3: left/top, centre, right/bottom


def multi_view_clips(
    video: Tensor,
    clip_len: int,
    num_clips: int = 10,
    crop: int = 112,
    num_crops: int = 3,
    stride: int = 1,
    short_side: int | None = None,
) -> Tensor:
    """Cut a video into ``num_clips * num_crops`` views for testing.

    ``video`` (C, T, H, W) uint8 or float in [0, 1]. The clips are
    ``multi_view_indices(T, clip_len, num_clips, stride)``; their frames are resized so the short
    side is ``short_side`` (default: ``crop``), then each clip gives ``num_crops`` square crops of
    ``crop`` pixels: 3 from :func:`~vidbook.data.transforms.three_crops`, or 1 centre crop.
    Returns (num_clips * num_crops, C, clip_len, crop, crop) in [0, 1], float32 for a uint8 video
    (a float video keeps its dtype), clip by clip: view ``k * num_crops + j`` is crop ``j`` of
    clip ``k``.
    """
    if not isinstance(video, Tensor) or video.ndim != 4:
        got = tuple(video.shape) if isinstance(video, Tensor) else type(video).__name__
        raise BadValueError(
            f"video must be one video (C, T, H, W), got {got}; "
            "call multi_view_clips once per video of a batch"
        )
    if num_crops not in CROP_SCHEMES:
        raise BadValueError(f"num_crops must be one of {CROP_SCHEMES}, got {num_crops!r}")
    if not is_int(crop) or crop < 1:
        raise BadValueError(f"crop must be an int >= 1, got {crop!r}")
    short_side = crop if short_side is None else short_side
    if not is_int(short_side) or short_side < crop:
        raise BadValueError(
            f"short_side must be an int >= crop={crop} (the crops are cut from the resized "
            f"frames), got {short_side!r}"
        )
    indices = multi_view_indices(video.shape[1], clip_len, num_clips, stride)
    # Each frame is resized once, however many clips share it.
    frames, where = torch.unique(indices, return_inverse=True)
    resized = resize(to_float(video[:, frames.to(video.device)]), short_side)
    clips = resized[:, where.to(video.device)].transpose(0, 1)  # (num_clips, C, clip_len, h, w)
    crops = three_crops(clips, crop) if num_crops == 3 else [center_crop(clips, crop)]
    views = torch.stack(crops, dim=1)  # (num_clips, num_crops, C, clip_len, crop, crop)
    return views.reshape(-1, *views.shape[2:])


def predict_views(model: nn.Module, views: Tensor, batch_size: int = 16) -> Tensor:
    """The video's class probabilities: the mean over its views of ``softmax(model(view))``.

    ``views`` (V, C, T, H, W) float, e.g. from :func:`multi_view_clips`. The model runs in eval
    mode without gradients (:func:`vidbook.runtime.eval_mode`; its modes are restored after), on
    its own device, ``batch_size`` views at a time. Averaging probabilities, not logits, keeps one
    overconfident view from outvoting the rest. Returns (num_classes,) on the CPU, float32
    (float64 for a float64 model).
    """
    if not isinstance(model, nn.Module):
        raise BadValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(views, Tensor) or views.ndim != 5 or views.shape[0] == 0:
        got = tuple(views.shape) if isinstance(views, Tensor) else type(views).__name__
        raise BadValueError(f"views must be a non-empty tensor (V, C, T, H, W), got {got}")
    if not views.is_floating_point():
        raise BadValueError(
            f"views must be floating point (e.g. in [0, 1]), got dtype {views.dtype}; "
            "convert them with vidbook.data.transforms.to_float"
        )
    batch_size = check_int("batch_size", batch_size)
    device = resolve_device(model=model)
    total = None
    with eval_mode(model):
        for chunk in views.split(batch_size):
            logits = model(chunk.to(device))
            if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] != len(chunk):
                got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
                raise BadValueError(
                    f"predict_views needs a model that returns logits (N, num_classes) for N "
                    f"views, got {got} for N = {len(chunk)}"
                )
            logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
            probs = torch.softmax(logits, dim=1).sum(dim=0)
            total = probs if total is None else total + probs
    return (total / views.shape[0]).cpu()
