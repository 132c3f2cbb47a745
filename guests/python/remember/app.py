"""The remember example (contract 0.2.0) in Python: each button keeps its own state. It must
decide exactly as guests/remember/src/lib.rs does: tests/tests/remember.rs runs all three
languages against one table.

DOUBLE toggles the button's maintenance mode and says so. SINGLE backs up `region` (default
us-west-1) at most once per `cooldown_seconds` (default 600); while maintenance is on it only
notifies. LONG backs up at once and starts a new cooldown.

Contract 0.2.0 exports `handle` through the `handler` interface, so this module defines a
`Handler` class; state is the `state` import. `set` raises its error, which fails the press.
"""

import re
from typing import List

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, state
from wit_world.imports.types import (
    Action,
    Action_Ignore,
    Action_Notify,
    Action_Snapshot,
    Click,
    ClickType,
    Notification,
)

DEFAULT_REGION = "us-west-1"
DEFAULT_COOLDOWN_SECONDS = 600
_U32 = re.compile(r"\+?[0-9]+")


class Handler(exports.Handler):
    def handle(self, click: Click) -> List[Action]:
        serial = click.serial_number
        maintenance = state.get("maintenance") == "on"
        if click.click_type == ClickType.DOUBLE:
            now = "off" if maintenance else "on"
            state.set("maintenance", now, None)
            return [
                notify(
                    f"Button {serial}: maintenance {now}",
                    f"A double press turned maintenance {now} for button {serial}.",
                )
            ]
        if click.click_type == ClickType.SINGLE:
            if maintenance:
                return [
                    notify(
                        f"Button {serial} pressed during maintenance",
                        f"No backup was started: button {serial} is in maintenance mode.",
                    )
                ]
            last = state.get("last_backup_ms")
            if last is not None:
                if not last.isascii() or not last.isdigit():
                    raise Err(f"state last_backup_ms {last!r}: invalid digit found in string")
                cooldown = cooldown_seconds()
                left = max(int(last) + cooldown * 1000 - click.received_at_ms, 0) // 1000
                return [
                    Action_Ignore(
                        "cooling down: the last backup from this button was less than "
                        f"{cooldown} s ago ({left} s left)"
                    )
                ]
            return backup(click)
        if click.click_type == ClickType.LONG:
            return backup(click)
        return [Action_Ignore("triple press: no rule")]


def backup(click: Click) -> List[Action]:
    state.set("last_backup_ms", str(click.received_at_ms), cooldown_seconds())
    region = host.config("region")
    return [Action_Snapshot(DEFAULT_REGION if region is None else region)]


def cooldown_seconds() -> int:
    raw = host.config("cooldown_seconds")
    if raw is None:
        return DEFAULT_COOLDOWN_SECONDS
    trimmed = raw.strip()
    if _U32.fullmatch(trimmed) and 0 < int(trimmed) <= 4294967295:
        return int(trimmed)
    raise Err(
        f"setting cooldown_seconds must be a whole number of seconds above 0, got {raw!r}"
    )


def notify(subject: str, message: str) -> Action:
    return Action_Notify(Notification(subject=subject, message=message))
