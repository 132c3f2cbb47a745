"""Builds dist/{{crate}}.wasm from app.py and wit/ with componentize-py: `python build.py`
always builds; the tests call `build_if_stale()`, which builds only when a source is newer
than the component."""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WASM = HERE / "dist" / "{{crate}}.wasm"
SOURCES = ["app.py", "wit", "build.py", "requirements.txt"]


def build() -> Path:
    WASM.parent.mkdir(exist_ok=True)
    # componentize-py from this interpreter's packages, so a virtual environment's copy is used
    # even when its bin/ is not on PATH.
    run = [
        sys.executable,
        "-c",
        "import sys, componentize_py; sys.argv[0] = 'componentize-py'; componentize_py.script()",
        "-d", "wit", "-w", "click-handler", "componentize", "app", "-o", str(WASM),
    ]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    try:
        subprocess.run(run, cwd=HERE, env=env, check=True)
    except subprocess.CalledProcessError as e:
        raise SystemExit(
            f"componentize-py failed ({e.returncode}); is it installed? "
            "pip install -r requirements.txt"
        ) from e
    return WASM


def _newest(path: Path) -> float:
    if not path.exists():
        return 0.0
    if path.is_file():
        return path.stat().st_mtime
    return max([path.stat().st_mtime] + [_newest(p) for p in path.iterdir()])


def build_if_stale() -> Path:
    built = _newest(WASM)
    if built == 0.0 or max(_newest(HERE / s) for s in SOURCES) > built:
        build()
    return WASM


if __name__ == "__main__":
    print(f"wrote {build()}")
