"""What the committed notebooks hold: a picture next to every widget view, a bounded number of
stream outputs, no script from a CDN, and the kernel metadata JupyterLab writes (so opening a
notebook does not mark it modified)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser_env import committed_notebooks

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
REMOTE_SCRIPT = re.compile(r"""<script[^>]*src=["']https?://|https?://cdn\.plot\.ly/plotly-""")
MAX_STREAMS = 50


def _outputs(path: Path) -> list[dict]:
    cells = json.loads(path.read_text())["cells"]
    return [output for cell in cells for output in cell.get("outputs", [])]


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


@pytest.mark.parametrize("path", committed_notebooks())
def test_every_widget_output_carries_a_picture_or_readable_text(path):
    raw = [
        _text(o["data"].get("text/plain", ""))[:60]
        for o in _outputs(path)
        if WIDGET_VIEW in o.get("data", {})
        and "image/png" not in o["data"]
        and "children=" in _text(o["data"].get("text/plain", ""))
    ]
    assert not raw, f"{path.name}: widget outputs without a picture (re-execute the notebook): {raw}"


@pytest.mark.parametrize("path", committed_notebooks())
def test_stream_outputs_are_few_and_nothing_loads_from_a_cdn(path):
    outputs = _outputs(path)
    streams = sum(o["output_type"] == "stream" for o in outputs)
    assert streams <= MAX_STREAMS, f"{path.name}: {streams} stream outputs"
    remote = [o for o in outputs if REMOTE_SCRIPT.search(json.dumps(o.get("data", {})))]
    assert not remote, f"{path.name}: {len(remote)} outputs load scripts from a CDN (re-execute the notebook)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_kernel_metadata_is_complete(path):
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata["kernelspec"] == {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    info = metadata["language_info"]
    assert {
        "codemirror_mode",
        "file_extension",
        "mimetype",
        "name",
        "nbconvert_exporter",
        "pygments_lexer",
        "version",
    } <= set(info)
