"""The README's Python blocks run as written (one namespace, in order, on the small sizes they use)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_has_python_blocks():
    assert BLOCKS, "README.md lost its ```python examples"


@pytest.mark.slow
def test_the_readme_python_blocks_run(monkeypatch):
    torch.manual_seed(0)
    namespace: dict = {}
    for number, block in enumerate(BLOCKS, start=1):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
    assert set(namespace["losses"]) and len(namespace["preds"]) == 2
    assert namespace["assembler"].num_bases == 4 and namespace["assembler"].attn_size == 2
