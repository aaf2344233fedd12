"""Data: the SynthActions and SynthScenes worlds, long videos joined from their clips, batch
loaders, a word tokenizer, instructions for a video-language model (``instructions``), edits
made exact by the masks (``edits``), and real video in the official layouts."""

from vidbook.data.action import ActionOrNot
from vidbook.data.demo import write_demo
from vidbook.data.folders import VideoFolder
from vidbook.data.layouts import HMDB51, UCF101, Kinetics
from vidbook.data.loader import ClipLoader, video_loader
from vidbook.data.long_video import ActionSegment, JoinedActions
from vidbook.data.open_dataset import VIDEO_DATA_SETS, open_video_dataset
from vidbook.data.samples import sample_video, sample_videos
from vidbook.data.scenes import SynthScenes
from vidbook.data.synth import CLASSES, TIME_REVERSED, SynthActions
from vidbook.data.tokenizer import WordTokenizer
from vidbook.data.video_io import (
    VideoDecodeError,
    VideoInfo,
    probe,
    read_frames,
    read_video,
    write_video,
)

__all__ = [
    "ActionOrNot",
    "ActionSegment",
    "CLASSES",
    "JoinedActions",
    "HMDB51",
    "TIME_REVERSED",
    "UCF101",
    "VIDEO_DATA_SETS",
    "ClipLoader",
    "Kinetics",
    "SynthActions",
    "SynthScenes",
    "VideoFolder",
    "VideoDecodeError",
    "VideoInfo",
    "WordTokenizer",
    "open_video_dataset",
    "probe",
    "read_frames",
    "read_video",
    "sample_video",
    "sample_videos",
    "video_loader",
    "write_video",
    "write_demo",
]
