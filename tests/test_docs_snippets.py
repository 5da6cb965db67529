"""Every Python block in README.md and docs/*.md runs as written, and passes mypy --strict;
the API reference page and ``sns_subscriber.__all__`` name the same things.

Each block is written to a file of its own in a fresh folder and run there with this Python:
a block defining ``test_*`` functions runs under pytest (the sns-subscriber plugin's fixtures
available), any other block as a script (servers wait behind ``if __name__ == "__main__"``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


_INCLUDE = re.compile(r'^--8<-- "([^"]+)"\n', re.MULTILINE)


def python_blocks() -> list[tuple[str, str]]:
    """(an id like README.md:3, code) for every ```python block; a block that includes a file
    of the repository (``--8<-- "examples/..."``, as the MkDocs site does) holds that file."""
    blocks = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for number, match in enumerate(_BLOCK.finditer(doc.read_text(encoding="utf-8")), start=1):
            code = _INCLUDE.sub(lambda m: (ROOT / m.group(1)).read_text(encoding="utf-8"), match.group(1))
            blocks.append((f"{doc.relative_to(ROOT)}:{number}", code))
    return blocks


BLOCKS = python_blocks()


def test_the_readme_has_blocks_to_check() -> None:
    assert sum(name.startswith("README.md") for name, _ in BLOCKS) >= 4


@pytest.mark.slow
@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_block_runs_as_written(name: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    if re.search(r"^def test_", code, re.MULTILINE):
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", script.name]
    else:
        # Imported, not run as __main__: what waits behind `if __name__ == "__main__"` stays put.
        command = [sys.executable, "-c", "import snippet"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{name}\n{result.stdout}\n{result.stderr}"


@pytest.mark.slow
def test_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    """The README's typed pattern (`Delivery[BudgetAlert]`) holds under mypy --strict."""
    files = []
    for number, (_, code) in enumerate(BLOCKS):
        # One folder per block: blocks are separate programs that may reuse names.
        folder = tmp_path / f"block{number}"
        folder.mkdir()
        (folder / f"block{number}.py").write_text(code, encoding="utf-8")
        files.append(str(folder / f"block{number}.py"))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), "--strict", *files],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = result.stdout
    for number, (name, _) in enumerate(BLOCKS):
        report = report.replace(f"{files[number]}", name).replace(f"block{number}/block{number}.py", name)
    assert result.returncode == 0, report


def test_api_reference_and_dunder_all_agree_both_ways() -> None:
    import importlib

    import sns_subscriber

    targets = re.findall(
        r"^::: ([\w.]+)$", (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), re.MULTILINE
    )
    documented = {target.rpartition(".")[2] for target in targets}
    assert documented == set(sns_subscriber.__all__) - {"__version__"}
    for target in targets:
        module, _, name = target.rpartition(".")
        # The page documents the very object the package root exports.
        assert getattr(importlib.import_module(module), name) is getattr(sns_subscriber, name), target
