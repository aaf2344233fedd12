"""How fast the book's pieces run here, and the measured results read back for its pages.

``vidbook bench`` and chapter 10 rest on this package; its modules, lowest first:

- ``timing``: clocks that wait for the device's queued work, the timed loop, ``write_json``.
- ``throughput``: ``render_throughput`` (SynthActions clips/s), ``train_throughput`` (training
  clips/s, TFLOP/s, MFU of one model) and the speed-up ``ladder``, on clips of one
  :class:`~vidbook.clip_shape.ClipShape`.
- ``suites``: ``run`` (both measurements with provenance, as ``vidbook bench`` asks) and
  ``suite`` (the device's whole suite -> ``bench-<device_slug>.json``), the ``SUITES``.
- ``decode``: ``run_decode``, whole-file decoding against sampled clips (PyAV).
- ``results``: the result files of ``data/results`` read back (``load``) and as Markdown tables.
- ``report``: the results as the plain-text tables ``vidbook bench`` prints.

Devices are chosen by ``vidbook.runtime.resolve_device``; results carry
``vidbook.runtime.provenance`` of the device used.
"""

from vidbook.bench.decode import run_decode, summary, write_test_video
from vidbook.bench.report import print_columns, print_decode, print_ladder, print_run, print_suite
from vidbook.bench.results import (
    Results,
    bench_table,
    ladder_table,
    load,
    provenance_line,
    render_table,
    train_table,
)
from vidbook.bench.suites import (
    DEFAULT_MODELS,
    SUITE_ENV,
    SUITES,
    device_slug,
    run,
    suite,
    suite_file,
)
from vidbook.bench.throughput import (
    DEFAULT_CLIP_SHAPE,
    LADDER,
    PEAK_BF16_TFLOPS,
    SOURCES,
    as_clip_shape,
    ladder,
    peak_tflops,
    render_throughput,
    train_throughput,
)
from vidbook.bench.timing import clock, synchronize, timed_loop, write_json

__all__ = [
    "DEFAULT_CLIP_SHAPE",
    "DEFAULT_MODELS",
    "LADDER",
    "PEAK_BF16_TFLOPS",
    "SOURCES",
    "SUITES",
    "SUITE_ENV",
    "Results",
    "as_clip_shape",
    "bench_table",
    "clock",
    "device_slug",
    "ladder",
    "ladder_table",
    "load",
    "peak_tflops",
    "print_columns",
    "print_decode",
    "print_ladder",
    "print_run",
    "print_suite",
    "provenance_line",
    "render_table",
    "render_throughput",
    "run",
    "run_decode",
    "suite",
    "suite_file",
    "summary",
    "synchronize",
    "timed_loop",
    "train_table",
    "train_throughput",
    "write_json",
    "write_test_video",
]
