"""Small data sets in the official layouts of UCF101, HMDB51 and Kinetics, rendered from SynthActions.

``write_demo("ucf101", "data/ucf101-demo")`` writes SynthActions clips as video files, with the
split files of the real data set, so that ``UCF101(root)`` — and any other code that reads the
official layout — runs without the real data set. Class folders are named in each
data set's style: ``MoveLeft`` (UCF101), ``move_left`` (HMDB51), ``move left`` (Kinetics).

Splits follow the official rules, scaled down. UCF101 has 25 groups (``gXX``: clips cut from the
same long video) and its split ``N`` tests groups ``7N-6 .. 7N`` and trains on the other 18, so
a group never straddles train and test. With ``groups`` groups the demo tests a block of
``b = round(7 * groups / 25)`` groups per split (at least 1, at most ``groups // 3``): split 1
tests groups ``1..b``, split 2 ``b+1..2b``, split 3 ``2b+1..3b``; 25 groups give the official
blocks, the default 7 give blocks of 2. HMDB51's split files tag each video 1 (train), 2 (test) or
0 (unused): the demo tags the same test block 2, with 6 or more groups the next group 0 and the
rest 1. Kinetics gets ``train/`` and ``val/`` (validated on split 1's test block) and the two CSVs
``annotations/train.csv`` and ``annotations/validate.csv`` with the official header.

The set is written into a temporary folder beside ``root`` and renamed at the end, so an
interrupted run leaves no half data set; ``root`` must be new, empty or an earlier demo of the
same layout (which is replaced). ``vidbook-demo.json`` in ``root`` records the settings and, for
every clip, the SynthActions item it was rendered from.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import shutil
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vidbook.checks import check_int_range, is_real
from vidbook.data.synth import CLASSES, SynthActions
from vidbook.data.video_io import write_video
from vidbook.errors import BadValueError, MissingFileError, PathExistsError

LAYOUTS = ("ucf101", "hmdb51", "kinetics")
MANIFEST = "vidbook-demo.json"  # the name vidbook.data.layout_checks looks for
KINETICS_HEADER = ("label", "youtube_id", "time_start", "time_end", "split")


def ucf_name(name: str) -> str:
    """UCF101's CamelCase class name: ``"move_left"`` -> ``"MoveLeft"``."""
    return "".join(word.capitalize() for word in name.split("_"))


def kinetics_name(name: str) -> str:
    """Kinetics' lower-case label with spaces: ``"move_left"`` -> ``"move left"``."""
    return name.replace("_", " ")


def split_test_groups(groups: int, split: int) -> list[int]:
    """The (1-based) groups that split ``split`` (1..3) tests, out of ``groups``; see the module."""
    block = max(1, min(groups // 3, math.floor(7 * groups / 25 + 0.5)))
    return list(range((split - 1) * block + 1, split * block + 1))


def unused_groups(groups: int, split: int) -> list[int]:
    """The group HMDB51's split ``split`` tags 0 (unused): the one after the test block, if the
    data set has 6 or more groups (else none)."""
    if groups < 6:
        return []
    return [split_test_groups(groups, split)[-1] % groups + 1]


def hmdb_tag(groups: int, split: int, group: int) -> int:
    """HMDB51's tag of a video of ``group`` in split ``split``: 2 test, 0 unused, 1 train."""
    if group in split_test_groups(groups, split):
        return 2
    return 0 if group in unused_groups(groups, split) else 1


def _check_settings(layout, classes, groups, clips_per_group, frames, height, width, fps, seed):
    """The int settings, checked and as Python ints: (classes, groups, clips_per_group, frames,
    height, width, seed); ``classes`` None stays None."""
    if layout not in LAYOUTS:
        raise BadValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if classes is not None:
        classes = check_int_range("classes", classes, 1, len(CLASSES))
    groups = check_int_range("groups", groups, 3, 99)  # 3 splits, each with its own test groups
    clips_per_group = check_int_range("clips_per_group", clips_per_group, 1, 99)
    frames = check_int_range("frames", frames, 2, 100_000)
    height = check_int_range("height", height, 16, 4096)
    width = check_int_range("width", width, 16, 4096)
    for name, value in (("height", height), ("width", width)):
        if value % 2:
            raise BadValueError(f"{name} must be even (H.264 stores colour at half resolution)")
    if not is_real(fps) or not 0 < fps < 1000:
        raise BadValueError(f"fps must be a number in (0, 1000), got {fps!r}")
    seed = check_int_range("seed", seed, 0, 2**31 - 1)
    return classes, groups, clips_per_group, frames, height, width, seed


def _check_target(root: Path, layout: str) -> None:
    """Refuse a ``root`` that holds anything but an earlier demo of ``layout``."""
    if not root.exists():
        return
    if not root.is_dir():
        raise PathExistsError(f"{root} exists and is not a folder; give a new or empty folder")
    if not any(root.iterdir()):
        return
    manifest = root / MANIFEST
    advice = "give a new or empty folder"
    if not manifest.is_file():
        raise PathExistsError(f"{root} is not empty and holds no demo data set; {advice}")
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
        earlier, written = info["layout"], set(info["files"]) | {MANIFEST}
    except (ValueError, KeyError, TypeError) as err:
        raise PathExistsError(
            f"{manifest} is not a readable demo manifest ({err}); {advice}"
        ) from None
    if earlier != layout:
        raise PathExistsError(
            f"{root} holds a demo data set in the {earlier!r} layout, not {layout!r}; {advice}"
        )
    extra = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())
    extra = [p for p in extra if p not in written]
    if extra:
        raise PathExistsError(
            f"{root} holds files that the demo did not write, e.g. {extra[0]}; {advice}"
        )


class _Plan:
    """Which SynthActions item becomes which file: item ``k * 10 + c`` has class ``CLASSES[c]``."""

    def __init__(self, classes: int, groups: int, clips_per_group: int) -> None:
        self.clips = []  # (class index, group, clip number, SynthActions index)
        for c in range(classes):
            for g in range(1, groups + 1):
                for m in range(1, clips_per_group + 1):
                    k = (g - 1) * clips_per_group + (m - 1)
                    self.clips.append((c, g, m, k * len(CLASSES) + c))
        self.size = groups * clips_per_group * len(CLASSES)


def _render(world: SynthActions, indices: list[int]) -> torch.Tensor:
    """Clips ``indices`` as uint8 (B, C, T, H, W)."""
    clip = world.batch(indices, captions=False)["clip"]
    return clip.mul(255).round_().to(torch.uint8)


def _write_text(path: Path, text: str, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline=newline) as handle:
        handle.write(text)


def _ucf101(out: Path, plan: _Plan, groups: int, names: list[str]) -> list[tuple[str, int, int]]:
    """Videos ``UCF-101/<Class>/v_<Class>_gNN_cMM.avi`` and ``ucfTrainTestlist/``."""
    folders = {c: ucf_name(n) for c, n in enumerate(names)}
    order = sorted(folders.values())  # classInd is alphabetical, 1-based
    files, lines = [], {}
    for c, g, m, index in plan.clips:
        cls = folders[c]
        rel = f"{cls}/v_{cls}_g{g:02d}_c{m:02d}.avi"
        files.append((f"UCF-101/{rel}", c, index))
        label = order.index(cls) + 1
        for split in (1, 2, 3):
            part = "test" if g in split_test_groups(groups, split) else "train"
            entry = rel if part == "test" else f"{rel} {label}"
            lines.setdefault(f"{part}list0{split}.txt", []).append((label, entry))
    lists = out / "ucfTrainTestlist"
    # Lines end with \r\n, as in the published lists; the readers accept both.
    _write_text(
        lists / "classInd.txt", "".join(f"{i} {n}\n" for i, n in enumerate(order, 1)), "\r\n"
    )
    for name, entries in lines.items():
        _write_text(lists / name, "".join(e + "\n" for _, e in sorted(entries)), "\r\n")
    return files


def _hmdb51(out: Path, plan: _Plan, groups: int, names: list[str]) -> list[tuple[str, int, int]]:
    """Videos ``<class>/<file>.avi`` and ``testTrainMulti_7030_splits/<class>_test_splitN.txt``."""
    files, lines = [], {}
    for c, g, m, index in plan.clips:
        cls = names[c]
        name = f"SynthActions_g{g:02d}_{cls}_{m - 1}.avi"
        files.append((f"{cls}/{name}", c, index))
        for split in (1, 2, 3):
            tag = hmdb_tag(groups, split, g)
            lines.setdefault(f"{cls}_test_split{split}.txt", []).append(f"{name} {tag} \n")
    for name, entries in lines.items():
        _write_text(out / "testTrainMulti_7030_splits" / name, "".join(entries))
    return files


def _kinetics(
    out: Path, plan: _Plan, groups: int, names: list[str], seconds: int
) -> list[tuple[str, int, int]]:
    """Clips ``<split>/<label>/<id>_<start>_<end>.mp4`` and ``annotations/{train,validate}.csv``."""
    files, rows = [], {"train": [], "val": []}
    for c, g, m, index in plan.clips:
        label, split = (
            kinetics_name(names[c]),
            "val" if g in split_test_groups(groups, 1) else "train",
        )
        youtube_id = f"synth{index:06d}"  # 11 characters, like a YouTube id
        start = 10 * (m - 1)
        end = start + seconds
        files.append((f"{split}/{label}/{youtube_id}_{start:06d}_{end:06d}.mp4", c, index))
        rows[split].append((label, youtube_id, start, end, split))
    for split, csv_name in (("train", "train.csv"), ("val", "validate.csv")):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(KINETICS_HEADER)
        writer.writerows(sorted(rows[split]))
        _write_text(out / "annotations" / csv_name, text.getvalue())
    return files


def write_demo(
    layout: str,
    root: str | Path,
    *,
    classes: int | None = None,
    groups: int = 7,
    clips_per_group: int = 2,
    frames: int = 48,
    height: int = 64,
    width: int = 64,
    fps: float = 25.0,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Write a small data set in ``layout`` (``"ucf101"``, ``"hmdb51"`` or ``"kinetics"``) to
    ``root`` and return ``root``.

    ``classes`` SynthActions classes (default all 10, in ``CLASSES`` order) x ``groups`` groups x
    ``clips_per_group`` clips, each ``frames`` frames of ``height`` x ``width`` at ``fps``
    (H.264; longer than a model's clip, so that samplers have room). Clips are SynthActions
    ``"train"`` items of ``seed`` (medium difficulty); see the module for the splits.
    ``progress`` shows a progress bar (the default set, 140 clips, takes seconds to a minute).
    """
    classes, groups, clips_per_group, frames, height, width, seed = _check_settings(
        layout, classes, groups, clips_per_group, frames, height, width, fps, seed
    )
    root = Path(root)
    _check_target(root, layout)
    names = list(CLASSES[: classes or len(CLASSES)])
    plan = _Plan(len(names), groups, clips_per_group)
    world = SynthActions(
        "train", size=plan.size, frames=frames, height=height, width=width, seed=seed
    )
    root.parent.mkdir(parents=True, exist_ok=True)
    work = root.parent / f".{root.name}.partial-{secrets.token_hex(4)}"
    work.mkdir()
    try:
        if layout == "ucf101":
            files = _ucf101(work, plan, groups, names)
        elif layout == "hmdb51":
            files = _hmdb51(work, plan, groups, names)
        else:
            files = _kinetics(work, plan, groups, names, max(1, round(frames / fps)))
        bar = tqdm(total=len(files), desc=f"writing {layout} clips", disable=not progress)
        for start in range(0, len(files), 32):
            chunk = files[start : start + 32]
            clips = _render(world, [index for _, _, index in chunk])
            for (rel, _, _), clip in zip(chunk, clips, strict=True):
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                write_video(work / rel, clip, fps=fps)
                bar.update()
        bar.close()
        written = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file())
        manifest = {
            "layout": layout,
            "settings": {
                "classes": len(names),
                "groups": groups,
                "clips_per_group": clips_per_group,
                "frames": frames,
                "height": height,
                "width": width,
                "fps": fps,
                "seed": seed,
                "synth": repr(world),
            },
            "clips": [
                {"path": rel, "synth_index": index, "synth_label": names[c]}
                for rel, c, index in files
            ],
            "files": written,
        }
        _write_text(work / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        _replace(root, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return root


def _replace(root: Path, work: Path) -> None:
    """Put the finished folder ``work`` at ``root`` (an absent, empty or earlier demo folder)."""
    if root.is_dir() and any(root.iterdir()):
        old = root.parent / f".{root.name}.old-{secrets.token_hex(4)}"
        os.replace(root, old)
        os.replace(work, root)
        shutil.rmtree(old, ignore_errors=True)
        return
    if root.is_dir():
        root.rmdir()
    os.replace(work, root)


def read_manifest(root: str | Path) -> dict:
    """The ``vidbook-demo.json`` of a demo data set: its layout, settings and clips."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist: {root} is not a demo data set")
    return json.loads(path.read_text(encoding="utf-8"))
