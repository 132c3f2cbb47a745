"""Runs cases.toml against the component with `clickrules test`, which presses it through the
clickrules engine with the Lambda's limits and checks. The component is built first when a
source is newer than it, so `python -m unittest` (or `pytest`) is the only command. CLICKRULES
names the clickrules binary when it is not on PATH."""

import os
import shutil
import subprocess
import unittest
from pathlib import Path

import build

CLICKRULES = os.environ.get("CLICKRULES", "clickrules")
CASES = Path(__file__).resolve().parent / "cases.toml"


class Cases(unittest.TestCase):
    def test_cases(self) -> None:
        # Before the build, which takes half a minute: a missing binary is the likelier mistake.
        clickrules = shutil.which(CLICKRULES)
        if clickrules is None:
            self.fail(
                f"cannot find the clickrules binary ({CLICKRULES}): install it with "
                "`cargo install --path host/cli` (from the clickrules checkout), or set "
                "CLICKRULES=/path/to/clickrules"
            )
        wasm = build.build_if_stale()
        run = subprocess.run(
            [clickrules, "test", str(wasm), str(CASES)], capture_output=True, text=True
        )
        if run.returncode != 0:
            self.fail(f"clickrules test failed:\n{run.stdout}{run.stderr}")
        print(run.stdout)


if __name__ == "__main__":
    unittest.main()
