"""{{name}}: a clickrules guest. It starts as the default behaviour: every press backs up
us-west-1 (or the deployment's `region` setting). Change `handle` to decide otherwise.

componentize-py generates the `wit_world` package from wit/ when it builds; run
`componentize-py -d wit -w click-handler bindings .` to get it for your editor. Raise
`componentize_py_types.Err("why")` to refuse a press.
"""

from typing import List

import wit_world
from wit_world.imports import host
from wit_world.imports.types import Action, Action_Snapshot, Click

# The region backed up when the deployment sets no `region`.
DEFAULT_REGION = "us-west-1"


class WitWorld(wit_world.WitWorld):
    def handle(self, click: Click) -> List[Action]:
        region = host.config("region")
        host.log(host.Level.DEBUG, f"{click.click_type.name} press from {click.serial_number}")
        return [Action_Snapshot(DEFAULT_REGION if region is None else region)]
