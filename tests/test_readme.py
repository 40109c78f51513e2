"""The README's tour code runs as written."""

import re
from pathlib import Path

README = (Path(__file__).parents[1] / "README.md").read_text("utf-8")


def test_readme_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    for block in blocks:
        lines = block.splitlines()
        code = "\n".join(line[3:] if line.startswith("   ") else line for line in lines)
        exec(compile(code, "README.md", "exec"), namespace)
    cfg = namespace["SEARCHER_ALPHA"]
    assert cfg.compute() is not None  # type: ignore[attr-defined]
    assert cfg.atlas() is None  # type: ignore[attr-defined]


def test_readme_names_the_two_commands() -> None:
    assert "make demo" in README
    assert "make test" in README
