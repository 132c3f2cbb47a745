"""Presses the built component through the clickrules press pipeline (`clickrules press --json`
prints the press record), with the Lambda's limits and checks. Build first: `./build.sh`. The
CLICKRULES variable names the clickrules binary when it is not on PATH."""

import json
import os
import subprocess
import unittest
from pathlib import Path

CLICKRULES = os.environ.get("CLICKRULES", "clickrules")
WASM = Path(__file__).parent / "dist" / "{{crate}}.wasm"


def press(*args: str) -> dict:
    run = subprocess.run(
        [CLICKRULES, "press", "--guest", str(WASM), "--json", *args],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise AssertionError(f"the press failed:\n{run.stdout}{run.stderr}")
    return json.loads(run.stdout)


class Guest(unittest.TestCase):
    def test_every_press_backs_up_us_west_1(self) -> None:
        for click in ["single", "double", "long"]:
            record = press("--click", click, "--battery-mv", "1400")
            self.assertEqual(
                record["decision"]["actions"], [{"kind": "snapshot", "region": "us-west-1"}]
            )

    def test_the_region_setting_wins(self) -> None:
        record = press("--click", "double", "--config", "region=eu-west-1")
        self.assertEqual(
            record["decision"]["actions"], [{"kind": "snapshot", "region": "eu-west-1"}]
        )


if __name__ == "__main__":
    unittest.main()
