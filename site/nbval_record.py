"""pytest plugin: keep what nbval's kernels send, so that the website build reuses those runs.

``make test`` runs every chapter once under nbval. With ``-p nbval_record --nbval-record=DIR``
each notebook whose cells all ran and passed is rebuilt from the kernel's messages (outputs,
display updates, cleared outputs and widget state, processed by nbclient exactly as Jupyter
Book's own executor would) and stored in the Jupyter cache in DIR, the cache the site build
reads. The site build then executes nothing a second time. A notebook with a failing or skipped
cell is not stored: the site build would execute it itself.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete
from nbval.kernel import RunningKernel
from nbval.plugin import IPyNbCell, IPyNbFile

_execute = RunningKernel.execute_cell_input
_get_message = IPyNbFile.get_kernel_message


def _execute_recorded(self: RunningKernel, cell_input: str, allow_stdin=None) -> str:
    msg_id = _execute(self, cell_input, allow_stdin=allow_stdin)
    self.vidbook_last_msg_id = msg_id
    return msg_id


def _get_message_recorded(self: IPyNbFile, timeout=None, stream: str = "iopub") -> dict:
    msg = _get_message(self, timeout=timeout, stream=stream)
    if stream == "iopub":
        self.__dict__.setdefault("vidbook_messages", []).append(msg)
    return msg


class _Run:
    """What one notebook's cells did: their kernel message ids and outcomes."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.finished = self.started
        self.msg_ids: dict[int, str] = {}  # code-cell number -> execute request id
        self.ok = True


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--nbval-record",
        metavar="DIR",
        default=None,
        help="store every fully passing notebook, with its outputs, in the Jupyter cache DIR",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--nbval-record"):
        RunningKernel.execute_cell_input = _execute_recorded
        IPyNbFile.get_kernel_message = _get_message_recorded
        config.stash[_RUNS] = {}


_RUNS = pytest.StashKey[dict]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if _RUNS not in item.config.stash or not isinstance(item, IPyNbCell):
        return
    report = outcome.get_result()
    run = item.config.stash[_RUNS].setdefault(item.parent, _Run())
    if report.failed or report.skipped:
        run.ok = False
    if call.when == "call" and report.passed:
        run.msg_ids[item.cell_num] = item.parent.kernel.vidbook_last_msg_id
        run.finished = time.perf_counter()


class _NoKernel:
    """Stands in for the kernel connection while recorded messages are replayed.

    nbclient mimics a browser for the Output widget (``interact`` draws into one): each output
    it captures is also sent back to the kernel as a widget-state update. The kernel has shut
    down by the time the messages are replayed, and the state those updates carry is stored in
    the notebook's widget metadata anyway, so they are dropped here.
    """

    class _Session:
        def msg(self, msg_type: str, **fields) -> dict:
            return {"msg_type": msg_type, **fields}

    class _Channel:
        def send(self, msg: dict) -> None:
            pass

    session = _Session()
    shell_channel = _Channel()


def executed_notebook(path: Path, messages: list[dict], msg_ids: dict[int, str]):
    """The notebook at ``path`` with the outputs and widget state its kernel messages give."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, record_timing=False)
    client.kc = _NoKernel()
    by_parent: dict[str, list[dict]] = {}
    for msg in messages:
        by_parent.setdefault(msg["parent_header"].get("msg_id"), []).append(msg)
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if len(code_cells) != len(msg_ids):
        raise ValueError(f"{path}: {len(code_cells)} code cells but {len(msg_ids)} were run")
    for number, (index, cell) in enumerate(code_cells):
        cell.outputs = []
        client.clear_before_next_output = False  # nbclient resets this per cell
        for msg in by_parent.get(msg_ids[number], []):
            try:
                client.process_message(msg, cell, index)
            except CellExecutionComplete:
                break
    client.set_widgets_metadata()
    return nb


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _RUNS not in config.stash:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(config.getoption("--nbval-record"))
    for nbfile, run in config.stash[_RUNS].items():
        path = Path(str(nbfile.fspath))
        if not run.ok:
            print(f"\nnbval_record: {path.name} not cached (a cell failed or was skipped)")
            continue
        try:
            nb = executed_notebook(path, nbfile.__dict__.get("vidbook_messages", []), run.msg_ids)
        except Exception as error:  # the site build then executes this notebook itself
            print(
                f"\nnbval_record: {path.name} not cached: replaying its messages failed: {error!r}"
            )
            continue
        seconds = run.finished - run.started
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}),
            check_validity=False,
            overwrite=True,
        )
        print(f"\nnbval_record: cached {path.name} ({seconds:.0f} s of cells)")
