"""The by-click guest in Python: SINGLE backs up the primary region, DOUBLE a second region,
LONG notifies; a battery below `low_battery_mv` adds a warning so the button is replaced before
it dies. It must decide exactly as guests/by-click/src/lib.rs does: the shared behaviour table
in tests/tests/behaviour.rs runs both.

Settings (all optional): `region` (default us-west-1), `second_region` (default us-east-1),
`low_battery_mv` (default 1500).

componentize-py generates the `wit_world` package from wit/ at build time; `result<_, string>`
is a returned list or a raised `Err(message)`.
"""

import re
from typing import List, Optional

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import (
    Action,
    Action_Notify,
    Action_Snapshot,
    Click,
    ClickType,
    Notification,
)

DEFAULT_REGION = "us-west-1"
DEFAULT_SECOND_REGION = "us-east-1"
# Below this the AAA cells of an IoT button are close to the device's cut-off.
DEFAULT_LOW_BATTERY_MV = 1500
U32_MAX = 4294967295

# Rust's `char::is_whitespace` (the Unicode White_Space property). Python's `str.strip()`
# differs: it also strips U+001C..U+001F.
_RUST_WHITESPACE = (
    "[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
_TRIM = re.compile(f"^{_RUST_WHITESPACE}+|{_RUST_WHITESPACE}+$")
# ASCII digits only: `int()` also accepts "1_500", "-0" and non-ASCII digits.
_U32 = re.compile(r"\+?[0-9]+")


class WitWorld(wit_world.WitWorld):
    def handle(self, click: Click) -> List[Action]:
        serial = click.serial_number
        # Guest stdout goes into the press's decision record.
        print(f"by-click: {click.click_type.name.lower()} press from {serial}", flush=True)
        actions: List[Action] = []
        if click.click_type == ClickType.SINGLE:
            actions.append(Action_Snapshot(setting("region", DEFAULT_REGION)))
        elif click.click_type == ClickType.DOUBLE:
            actions.append(Action_Snapshot(setting("second_region", DEFAULT_SECOND_REGION)))
        else:
            actions.append(
                Action_Notify(
                    Notification(
                        subject=f"Button {serial} held",
                        message=f"Button {serial} was held (LONG press). No backup was started.",
                    )
                )
            )

        threshold = low_battery_threshold()
        mv: Optional[int] = click.battery_mv
        if mv is not None and mv < threshold:
            host.log(host.Level.WARN, f"battery at {mv} mV, below {threshold} mV")
            actions.append(
                Action_Notify(
                    Notification(
                        subject=f"Button {serial} battery low",
                        message=f"Button {serial} reports {mv} mV, below the {threshold} mV "
                        "threshold. Replace it soon.",
                    )
                )
            )
        return actions


def setting(key: str, default: str) -> str:
    # An empty string is a value, as in the Rust guest: only an unset key falls back.
    value = host.config(key)
    return default if value is None else value


def low_battery_threshold() -> int:
    """Parses the setting the way Rust's `raw.trim().parse::<u32>()` does."""
    raw = host.config("low_battery_mv")
    if raw is None:
        return DEFAULT_LOW_BATTERY_MV
    digits = _TRIM.sub("", raw)
    if _U32.fullmatch(digits) and int(digits) <= U32_MAX:
        return int(digits)
    raise Err(
        "setting low_battery_mv must be a whole number of millivolts, "
        f"got {rust_debug(raw)}"
    )


def rust_debug(s: str) -> str:
    """The string as Rust's `{:?}` prints it: quoted, with quotes, backslashes and control
    characters escaped."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
    out = []
    for ch in s:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\u{{{code:x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
