"""UCF101 / HMDB51 / Kinetics readers: official split files, bad copies, clips and batches."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from vidbook import VidbookError
from vidbook.data import loader as loader_module
from vidbook.data.folders import VideoFolder
from vidbook.data.layout_checks import DOWNLOAD_PAGES
from vidbook.data.layouts import HMDB51, UCF101, Kinetics, read_class_index, read_kinetics_csv
from vidbook.data.loader import video_loader
from vidbook.errors import DataFileError, MissingFileError

UCF_CLASSES = ("ApplyEyeMakeup", "Archery", "HandstandPushups")


# What the fake videos hold: a few bytes, not a video (the readers stat them, never decode them;
# a 0-byte file is refused as an interrupted copy).
PLACEHOLDER = b"not decoded"


def touch(path: Path, data: bytes = PLACEHOLDER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline=newline) as handle:
        handle.write(text)
    return path


# --------------------------------------------------------------------------------------------
# UCF101
# --------------------------------------------------------------------------------------------
def make_ucf(root: Path) -> Path:
    """A UCF101 copy whose videos are placeholders (reading the lists opens no video)."""
    lists = root / "ucfTrainTestlist"
    # Index order, not file order, gives the label; the official files end lines with \r\n.
    write(lists / "classInd.txt", "2 Archery\n1 ApplyEyeMakeup\n3 HandstandPushups\n\n", "\r\n")
    train, test = {1: [], 2: [], 3: []}, {1: [], 2: [], 3: []}
    for label, cls in enumerate(UCF_CLASSES, 1):
        stem = "HandStandPushups" if cls == "HandstandPushups" else cls  # as in the real copy
        for g in range(1, 5):
            rel = f"{cls}/v_{stem}_g{g:02d}_c01.avi"
            touch(root / "UCF-101" / rel)
            for split in (1, 2, 3):
                (test if g == split else train)[split].append((rel, label))
    for split in (1, 2, 3):
        write(lists / f"trainlist0{split}.txt", "".join(f"{r} {la}\n" for r, la in train[split]))
        write(lists / f"testlist0{split}.txt", "".join(f"{r}\n" for r, _ in test[split]), "\r\n")
    return root


@pytest.fixture
def ucf(tmp_path) -> Path:
    return make_ucf(tmp_path / "ucf")


def test_ucf101_reads_the_official_lists(ucf):
    train = UCF101(ucf, split=1, train=True)
    test = UCF101(ucf, split=1, train=False)
    assert train.classes == list(UCF_CLASSES) and train.num_classes == 3
    assert len(train) == 9 and len(test) == 3
    path, label = train.samples[0]
    assert path == ucf / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g02_c01.avi"
    assert label == 0
    assert [la for _, la in test.samples] == [0, 1, 2]
    assert {p.name for p, _ in test.samples} == {
        "v_ApplyEyeMakeup_g01_c01.avi",
        "v_Archery_g01_c01.avi",
        "v_HandStandPushups_g01_c01.avi",
    }
    assert not {p for p, _ in train.samples} & {p for p, _ in test.samples}
    split2 = UCF101(ucf, split=2, train=False)
    assert all("_g02_" in p.name for p, _ in split2.samples)
    assert train.train and not test.train and test.sampling == "center"


def test_ucf101_annotations_elsewhere(ucf, tmp_path):
    moved = tmp_path / "lists"
    (ucf / "ucfTrainTestlist").rename(moved)
    assert len(UCF101(ucf, split=3, annotations=moved)) == 9
    with pytest.raises(FileNotFoundError, match="classInd.txt"):
        UCF101(ucf, split=3)


def test_ucf101_missing_root_says_layout_and_where_to_get_it(tmp_path):
    for root in (tmp_path / "absent", tmp_path):
        with pytest.raises(FileNotFoundError) as err:
            UCF101(root)
        message = str(err.value)
        assert "UCF-101/<Class>/v_<Class>_gXX_cYY.avi" in message
        assert "ucfTrainTestlist" in message and "classInd.txt" in message
        assert "https://www.crcv.ucf.edu/data/UCF101.php" in message
        assert "vidbook prepare-demo --layout ucf101 PATH" in message


def test_ucf101_root_given_as_the_video_folder_gets_a_hint(ucf):
    with pytest.raises(FileNotFoundError, match=f"probably {ucf}"):
        UCF101(ucf / "UCF-101")


@pytest.mark.parametrize("name", ["trainlist02.txt", "testlist02.txt", "classInd.txt"])
def test_ucf101_missing_split_file_is_named(ucf, name):
    (ucf / "ucfTrainTestlist" / name).unlink()
    with pytest.raises(FileNotFoundError, match=name):
        UCF101(ucf, split=2, train=name.startswith("train") or name == "classInd.txt")


@pytest.mark.parametrize("split", [0, 4, -1, True, "1", 1.0, None])
def test_split_must_be_one_two_or_three(ucf, split):
    with pytest.raises(ValueError, match="split must be 1, 2 or 3"):
        UCF101(ucf, split=split)
    with pytest.raises(ValueError, match="split must be 1, 2 or 3"):
        HMDB51(ucf, split=split)


def test_ucf101_missing_video_is_named(ucf):
    gone = ucf / "UCF-101" / "Archery" / "v_Archery_g03_c01.avi"
    gone.unlink()
    with pytest.raises(FileNotFoundError) as err:
        UCF101(ucf, split=1)
    assert str(gone) in str(err.value) and "trainlist01.txt" in str(err.value)
    assert len(UCF101(ucf, split=2, train=False)) == 3  # split 2 tests only group 2


def test_ucf101_empty_videos_are_named_when_the_folder_is_opened(ucf):
    videos = ucf / "UCF-101"
    for rel in ("Archery/v_Archery_g02_c01.avi", "ApplyEyeMakeup/v_ApplyEyeMakeup_g04_c01.avi"):
        touch(videos / rel, b"")
    with pytest.raises(DataFileError) as err:
        UCF101(ucf, split=1)
    message = str(err.value)
    assert isinstance(err.value, OSError) and isinstance(err.value, VidbookError)
    assert message.startswith("2 videos are empty (0 bytes): ")
    assert "UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g04_c01.avi" in message
    assert "UCF-101/Archery/v_Archery_g02_c01.avi" in message and "trainlist01.txt" in message
    # Split 2 tests group 2 only: one of the empty videos is in its list, the other not.
    with pytest.raises(DataFileError, match=r"^1 video is empty \(0 bytes\): UCF-101/Archery/"):
        UCF101(ucf, split=2, train=False)
    assert len(UCF101(ucf, split=1, train=False)) == 3  # split 1 tests group 1: all fine


def test_many_empty_videos_name_five_and_count_all(ucf):
    for path in sorted((ucf / "UCF-101").rglob("*.avi")):
        touch(path, b"")
    with pytest.raises(DataFileError) as err:
        UCF101(ucf, split=1)
    names = str(err.value).split(": ", 1)[1].split(" and ")[0].split(", ")
    assert str(err.value).startswith("9 videos are empty (0 bytes): ")
    assert len(names) == 5 and " and 4 more (under " in str(err.value)


def test_missing_videos_are_reported_before_empty_ones(ucf):
    touch(ucf / "UCF-101" / "Archery" / "v_Archery_g02_c01.avi", b"")
    (ucf / "UCF-101" / "Archery" / "v_Archery_g03_c01.avi").unlink()
    with pytest.raises(MissingFileError, match="1 of the 9 videos listed in .* do not exist"):
        UCF101(ucf, split=1)


@pytest.mark.parametrize(
    ("file", "line", "expected"),
    [
        ("trainlist01.txt", "Archery/v_Archery_g02_c01.avi", "<label>"),
        ("trainlist01.txt", "Archery/v_Archery_g02_c01.avi one", "integer label"),
        ("trainlist01.txt", "v_Archery_g02_c01.avi 2", "<Class>/<file>.avi"),
        ("trainlist01.txt", "Archery/x/v.avi 2", "<Class>/<file>.avi"),
        ("testlist01.txt", "Archery/v_Archery_g01_c01.avi 2 extra", "<Class>/<file>.avi"),
        ("classInd.txt", "one Archery", "<index> <ClassName>"),
        ("classInd.txt", "4", "<index> <ClassName>"),
    ],
)
def test_malformed_line_names_file_line_number_and_line(ucf, file, line, expected):
    path = ucf / "ucfTrainTestlist" / file
    lines = path.read_text().splitlines()
    lines.insert(1, line)
    write(path, "\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        UCF101(ucf, split=1, train=file != "testlist01.txt")
    message = str(err.value)
    assert str(path) in message and "line 2" in message and repr(line) in message
    assert expected in message


def test_class_missing_from_class_index(ucf):
    path = ucf / "ucfTrainTestlist" / "testlist01.txt"
    write(path, path.read_text() + "Bowling/v_Bowling_g01_c01.avi\n")
    with pytest.raises(ValueError, match="class 'Bowling'.*not in classInd.txt"):
        UCF101(ucf, train=False)


def test_label_column_must_agree_with_class_index(ucf):
    path = ucf / "ucfTrainTestlist" / "trainlist01.txt"
    write(path, "Archery/v_Archery_g02_c01.avi 3\n")
    with pytest.raises(ValueError, match="label 3.*'Archery' the index 2"):
        UCF101(ucf)


def test_class_index_must_count_from_one(tmp_path):
    path = write(tmp_path / "classInd.txt", "1 A\n3 B\n")
    with pytest.raises(ValueError, match="must be 1..2"):
        read_class_index(path)
    write(path, "1 A\n1 B\n")
    with pytest.raises(ValueError, match="line 2.*repeats"):
        read_class_index(path)


# --------------------------------------------------------------------------------------------
# HMDB51
# --------------------------------------------------------------------------------------------
HMDB_CLASSES = ("brush_hair", "fall_floor", "sword_exercise")


def make_hmdb(root: Path) -> Path:
    splits = root / "testTrainMulti_7030_splits"
    for cls in reversed(HMDB_CLASSES):  # classes come sorted by name, whatever the file order
        for split in (1, 2, 3):
            lines = []
            for i in range(6):
                name = f"Movie_{i}_{cls}_u_nm_np1_fr_goo_{i}.avi"
                touch(root / cls / name)
                tag = 2 if i % 3 == split - 1 else 0 if i == 5 else 1
                lines.append(f"{name} {tag} \n")  # the official lines end with a space
            write(splits / f"{cls}_test_split{split}.txt", "".join(lines))
    return root


@pytest.fixture
def hmdb(tmp_path) -> Path:
    return make_hmdb(tmp_path / "hmdb")


def test_hmdb51_reads_tags(hmdb):
    train, test = HMDB51(hmdb, split=1), HMDB51(hmdb, split=1, train=False)
    assert train.classes == sorted(HMDB_CLASSES)
    # split 1: i = 0, 3 test; i = 5 unused; i = 1, 2, 4 train
    assert len(train) == 9 and len(test) == 6
    assert {p.name.split("_")[1] for p, _ in train.samples} == {"1", "2", "4"}
    assert {p.name.split("_")[1] for p, _ in test.samples} == {"0", "3"}
    for path, label in train.samples + test.samples:
        assert path.parent.name == train.classes[label] and path.is_file()
    split3 = HMDB51(hmdb, split=3, train=False)
    assert {p.name.split("_")[1] for p, _ in split3.samples} == {"2", "5"}


def test_hmdb51_missing_root_and_split_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for root in (tmp_path / "absent", empty):
        with pytest.raises(FileNotFoundError) as err:
            HMDB51(root)
        message = str(err.value)
        assert "testTrainMulti_7030_splits/<class>_test_split<N>.txt" in message
        assert DOWNLOAD_PAGES["HMDB51"] in message
        assert "vidbook prepare-demo --layout hmdb51 PATH" in message


def test_hmdb51_missing_split_file_is_named(hmdb):
    path = hmdb / "testTrainMulti_7030_splits" / "fall_floor_test_split2.txt"
    path.unlink()
    with pytest.raises(FileNotFoundError, match="fall_floor_test_split2.txt"):
        HMDB51(hmdb, split=2)
    assert len(HMDB51(hmdb, split=1)) == 9


def test_hmdb51_empty_video_is_named(hmdb):
    touch(hmdb / "fall_floor" / "Movie_1_fall_floor_u_nm_np1_fr_goo_1.avi", b"")
    with pytest.raises(DataFileError, match=r"^1 video is empty \(0 bytes\): fall_floor/Movie_1"):
        HMDB51(hmdb, split=1)
    assert len(HMDB51(hmdb, split=1, train=False)) == 6  # a test list without it opens


def test_hmdb51_bad_tag_and_missing_video(hmdb):
    path = hmdb / "testTrainMulti_7030_splits" / "brush_hair_test_split1.txt"
    write(path, path.read_text() + "extra.avi 3\n")
    with pytest.raises(ValueError, match=r"brush_hair_test_split1.txt, line 7.*tag 1 \(train\)"):
        HMDB51(hmdb)
    write(path, "gone.avi 1\n")
    with pytest.raises(FileNotFoundError, match="brush_hair/gone.avi"):
        HMDB51(hmdb)


# --------------------------------------------------------------------------------------------
# Kinetics
# --------------------------------------------------------------------------------------------
K400_CSV = (
    "label,youtube_id,time_start,time_end,split,is_cc\n"
    "abseiling,--07WQ2iBlw,1,11,train,0\n"
    "abseiling,-3B32lodo2M,59,69,train,0\n"
    '"passing American football (in game)",-0CrRAAHH0I,4,14,train,0\n'
    "air drumming,-0HNrYfT8jI,0,10,train,1\n"
)


def make_kinetics(root: Path, csv_text: str = K400_CSV) -> Path:
    touch(root / "train" / "abseiling" / "--07WQ2iBlw_000001_000011.mp4")
    touch(root / "train" / "abseiling" / "-3B32lodo2M_000059_000069.mp4")
    # torchvision names this label's folder passing_American_football_in_game
    touch(root / "train" / "passing_American_football_in_game" / "-0CrRAAHH0I_000004_000014.mp4")
    write(root / "annotations" / "train.csv", csv_text)
    return root


def test_kinetics_reads_csv_by_column_name_and_skips_missing_clips(tmp_path):
    root = make_kinetics(tmp_path / "k400")
    with pytest.warns(UserWarning, match="1 of the 4 clips .* skipped .3 remain"):
        ds = Kinetics(root, root / "annotations" / "train.csv")
    assert ds.classes == [
        "abseiling",
        "air drumming",
        "passing American football (in game)",
    ]
    assert ds.num_missing == 1 and len(ds) == 3 and ds.train
    assert [la for _, la in ds.samples] == [0, 0, 2]
    assert ds.samples[2][0].parent.name == "passing_American_football_in_game"
    # the Kinetics-700 column order (no is_cc) gives the same clips
    k700 = "time_end,time_start,youtube_id,label\n11,1,--07WQ2iBlw,abseiling\n"
    csv_path = write(tmp_path / "k700.csv", k700)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = Kinetics(root, csv_path, train=False)
    assert one.samples == [(root / "train" / "abseiling" / "--07WQ2iBlw_000001_000011.mp4", 0)]
    assert not one.train and one.sampling == "center"


def test_kinetics_missing_error_and_nothing_found(tmp_path):
    root = make_kinetics(tmp_path / "k400")
    csv_path = root / "annotations" / "train.csv"
    with pytest.raises(FileNotFoundError, match="1 of the 4 clips.*-0HNrYfT8jI_000000_000010"):
        Kinetics(root, csv_path, missing="error")
    (root / "val").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        Kinetics(root, csv_path, split="val")
    assert "4 of the 4 clips" in str(err.value)
    assert DOWNLOAD_PAGES["Kinetics"] in str(err.value)
    with pytest.raises(ValueError, match="missing must be 'skip' or 'error'"):
        Kinetics(root, csv_path, missing="ignore")


def test_kinetics_empty_clip_is_named(tmp_path):
    root = make_kinetics(tmp_path / "k400")
    touch(root / "train" / "abseiling" / "-3B32lodo2M_000059_000069.mp4", b"")
    with pytest.warns(UserWarning, match="1 of the 4 clips"):  # the absent clip, as before
        with pytest.raises(DataFileError) as err:
            Kinetics(root, root / "annotations" / "train.csv")
    assert str(err.value).startswith(
        "1 video is empty (0 bytes): train/abseiling/-3B32lodo2M_000059_000069.mp4 "
    )
    assert "train.csv" in str(err.value)


def test_kinetics_csv_without_labels_names_file_and_columns(tmp_path):
    path = write(tmp_path / "test.csv", "youtube_id,time_start,time_end,split\nabc,0,10,test\n")
    with pytest.raises(ValueError) as err:
        read_kinetics_csv(path)
    message = str(err.value)
    assert str(path) in message and "label" in message
    assert "['youtube_id', 'time_start', 'time_end', 'split']" in message


def test_kinetics_malformed_rows(tmp_path):
    path = write(tmp_path / "a.csv", "label,youtube_id,time_start,time_end\nx,abc,zero,10\n")
    with pytest.raises(ValueError, match=r"a.csv, line 2: expected numbers.*'x,abc,zero,10'"):
        read_kinetics_csv(path)
    write(path, "label,youtube_id,time_start,time_end\nx,abc,1,11\ny,def,1\n")
    with pytest.raises(ValueError, match="line 3: expected a value in every column"):
        read_kinetics_csv(path)
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        read_kinetics_csv(tmp_path / "absent.csv")


def test_kinetics_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        Kinetics(tmp_path / "k400", tmp_path / "train.csv")
    message = str(err.value)
    assert "<split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4" in message
    assert "https://github.com/cvdfoundation/kinetics-dataset" in message
    assert "vidbook prepare-demo --layout kinetics PATH" in message


# --------------------------------------------------------------------------------------------
# Clip options
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"clip_len": 0}, "clip_len must be an int >= 1"),
        ({"stride": 1.5}, "stride must be an int >= 1"),
        ({"sampling": "random"}, "sampling must be one of dense, uniform, center"),
        ({"size": 0}, "size must be an int >= 1 or None"),
        ({"size": 112, "short_side": 100}, "short_side=100 must be at least size=112"),
        ({"size": None, "short_side": 128}, "short_side needs a crop size"),
        ({"train": "yes"}, "train must be True or False"),
        ({"flip": 1}, "flip must be True, False or None"),
        ({"seed": -1}, "seed must be an int >= 0"),
        ({"threads": 0}, "threads must be None or an int >= 1"),
    ],
)
def test_bad_clip_options(option, match):
    with pytest.raises(ValueError, match=match):
        VideoFolder([("a.avi", 0)], ["a"], **option)


def test_labels_must_fit_the_classes():
    with pytest.raises(ValueError, match="label 2 is outside 0..1"):
        VideoFolder([("a.avi", 2)], ["a", "b"])


def test_generator_depends_on_seed_epoch_and_index():
    ds = VideoFolder([("a.avi", 0), ("b.avi", 0)], ["a"])

    def draw(index):
        return torch.rand(4, generator=ds.generator(index))

    first = draw(0)
    assert torch.equal(first, draw(0)) and not torch.equal(first, draw(1))
    ds.set_epoch(1)
    assert not torch.equal(first, draw(0))
    ds.set_epoch(0)
    assert torch.equal(first, draw(0))


# --------------------------------------------------------------------------------------------
# Clips: which frames, what size, what randomness
# --------------------------------------------------------------------------------------------
FRAMES = 24


@pytest.fixture(scope="module")
def ramp(tmp_path_factory) -> Path:
    """A 24-frame video (32 x 48) whose frame t is flat grey of level 8 t: a frame tells its index."""
    from vidbook.data.video_io import write_video

    levels = torch.arange(FRAMES, dtype=torch.uint8) * 8
    clip = levels.view(1, FRAMES, 1, 1).expand(3, FRAMES, 32, 48).contiguous()
    return write_video(tmp_path_factory.mktemp("ramp") / "ramp.avi", clip, fps=25.0)


def frame_numbers(clip: torch.Tensor) -> list[int]:
    """The frame indices of a clip cut from the ramp video (C, T, H, W) float in [0, 1]."""
    return [round(float(level) * 255 / 8) for level in clip.mean(dim=(0, 2, 3))]


def test_item_is_a_float_clip_of_the_asked_shape(ramp):
    ds = VideoFolder([(ramp, 1)], ["a", "b"], clip_len=4, stride=2, size=16, train=False)
    item = ds[0]
    assert item["clip"].shape == (3, 4, 16, 16) and item["clip"].dtype == torch.float32
    assert 0.0 <= item["clip"].min() and item["clip"].max() <= 1.0
    assert item["label"] == 1 and item["path"] == str(ramp)
    native = VideoFolder([(ramp, 0)], ["a"], clip_len=3, size=None, train=False)[0]["clip"]
    assert native.shape == (3, 3, 32, 48)
    wide = VideoFolder([(ramp, 0)], ["a"], clip_len=2, size=16, short_side=20, train=False)
    assert wide[0]["clip"].shape == (3, 2, 16, 16)
    with pytest.raises(IndexError, match="index 1 is out of range for 1 videos"):
        ds[1]


def test_sampling_picks_the_frames_it_promises(ramp):
    def frames(**options):
        return frame_numbers(VideoFolder([(ramp, 0)], ["a"], size=None, **options)[0]["clip"])

    # centre: the middle of the valid starts 0..17 is 9
    assert frames(clip_len=4, stride=2, train=False) == [9, 11, 13, 15]
    assert frames(clip_len=4, sampling="uniform", train=False) == [3, 9, 15, 21]
    dense = VideoFolder([(ramp, 0)], ["a"], clip_len=4, stride=2, size=None, seed=3)
    start = int(dense.frame_indices(FRAMES, dense.generator(0))[0])
    assert frame_numbers(dense[0]["clip"]) == [start, start + 2, start + 4, start + 6]


def test_training_clips_are_reproducible_and_change_with_the_epoch(ramp):
    ds = VideoFolder([(ramp, 0)] * 4, ["a"], clip_len=4, stride=2, size=None, seed=0)
    first = [frame_numbers(ds[i]["clip"]) for i in range(4)]
    again = VideoFolder([(ramp, 0)] * 4, ["a"], clip_len=4, stride=2, size=None, seed=0)
    assert [frame_numbers(again[i]["clip"]) for i in range(4)] == first
    ds.set_epoch(1)
    assert [frame_numbers(ds[i]["clip"]) for i in range(4)] != first
    evaluation = VideoFolder([(ramp, 0)], ["a"], clip_len=4, stride=2, size=None, train=False)
    evaluation.set_epoch(5)
    assert frame_numbers(evaluation[0]["clip"]) == [9, 11, 13, 15]


def test_crop_and_flip_follow_the_generator(tmp_path):
    from vidbook.data.video_io import write_video

    # a horizontal ramp: mirroring and cropping change the pixels
    clip = torch.linspace(0, 255, 64).round().to(torch.uint8).expand(3, 8, 32, 64).contiguous()
    path = write_video(tmp_path / "wide.mp4", clip)
    ds = VideoFolder([(path, 0)] * 6, ["a"], clip_len=2, size=16, short_side=32, flip=True)
    clips = [ds[i]["clip"] for i in range(6)]
    assert all(torch.equal(a, ds[i]["clip"]) for i, a in enumerate(clips))
    rising = [bool(c[0, 0, 0, -1] > c[0, 0, 0, 0]) for c in clips]
    assert True in rising and False in rising  # some mirrored, some not
    assert len({round(float(c[0, 0, 0, 0]), 3) for c in clips}) > 2  # crops at several places
    still = VideoFolder(
        [(path, 0)], ["a"], clip_len=2, size=16, short_side=32, train=False, flip=True
    )
    centre = still[0]["clip"]
    assert bool(centre[0, 0, 0, -1] > centre[0, 0, 0, 0])  # evaluation never mirrors
    assert abs(float(centre[0, 0, 0, :].mean()) - 0.5) < 0.05  # and crops the centre


def test_a_video_that_cannot_be_decoded_names_its_path(tmp_path):
    from vidbook.data.video_io import VideoDecodeError

    broken = touch(tmp_path / "UCF-101" / "Archery" / "v_Archery_g01_c01.avi", b"not a video" * 50)
    ds = VideoFolder([(broken, 0)], ["Archery"])
    with pytest.raises(VideoDecodeError, match="v_Archery_g01_c01.avi"):
        ds[0]


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------
def test_video_loader_batches_and_orders_by_seed_and_epoch(ramp):
    ds = VideoFolder([(ramp, i) for i in range(8)], list("abcdefgh"), clip_len=3, size=8)

    def labels(loader):
        return [int(x) for batch in loader for x in batch["label"]]

    loader = video_loader(ds, 3, shuffle=True, seed=1)
    batches = list(loader)
    assert [b["clip"].shape for b in batches] == [(3, 3, 3, 8, 8)] * 2 + [(2, 3, 3, 8, 8)]
    assert batches[0]["label"].dtype == torch.int64
    assert batches[0]["path"] == [str(ramp)] * 3
    first = labels(loader)
    assert (
        sorted(first) == list(range(8))
        and labels(video_loader(ds, 3, shuffle=True, seed=1)) == first
    )
    loader.set_epoch(1)
    assert labels(loader) != first and ds.epoch == 1
    loader.set_epoch(0)
    assert labels(loader) == first
    assert labels(video_loader(ds, 3, shuffle=False)) == list(range(8))
    assert len(video_loader(ds, 3, shuffle=True, drop_last=True)) == 2


def test_video_loader_workers_give_the_same_batches(ramp):
    ds = VideoFolder([(ramp, i % 2) for i in range(4)], ["a", "b"], clip_len=3, size=8)
    alone = list(video_loader(ds, 2, shuffle=True, seed=5))
    workers = list(video_loader(ds, 2, shuffle=True, seed=5, num_workers=2))
    for a, b in zip(alone, workers, strict=True):
        assert torch.equal(a["clip"], b["clip"]) and torch.equal(a["label"], b["label"])


def test_video_loader_workers_decode_with_one_thread(ramp):
    class Threads(VideoFolder):
        def __getitem__(self, index: int) -> dict:
            return {"clip": torch.zeros(1), "label": 0, "path": str(self.threads)}

    ds = Threads([(ramp, 0)] * 2, ["a"])
    assert next(iter(video_loader(ds, 2, shuffle=False)))["path"] == ["None", "None"]
    assert next(iter(video_loader(ds, 2, shuffle=False, num_workers=1)))["path"] == ["1", "1"]
    assert ds.threads is None  # the main process's copy is left alone


def test_video_loader_shards_under_torchrun(ramp, monkeypatch):
    ds = VideoFolder([(ramp, 0)] * 7, ["a"], clip_len=2, size=8)
    monkeypatch.setattr(loader_module, "rank_and_world", lambda: (1, 2))
    train = video_loader(ds, 2, shuffle=True, seed=3)
    assert isinstance(train.sampler, torch.utils.data.DistributedSampler)
    assert train.sampler.rank == 1 and train.sampler.num_replicas == 2
    order = list(train.sampler)
    train.set_epoch(4)
    assert train.sampler.epoch == 4 and list(train.sampler) != order
    assert list(video_loader(ds, 2, shuffle=False).sampler) == [1, 3, 5]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"num_workers": -1}, "num_workers must be an int >= 0"),
        ({"seed": "0"}, "seed must be an int >= 0"),
    ],
)
def test_video_loader_bad_arguments(ramp, kwargs, match):
    ds = VideoFolder([(ramp, 0)], ["a"])
    args = {"batch_size": 2, "shuffle": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        video_loader(ds, args.pop("batch_size"), **args)
