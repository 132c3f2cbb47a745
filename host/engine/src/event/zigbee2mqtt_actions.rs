//! Zigbee2MQTT's `action` values for buttons and remotes, and the gesture each is: the one
//! table to edit when a converter renames a value. Zigbee2MQTT 2.0 renamed several
//! (zigbee-herdsman-converters PR #8291 turned Tuya TS0218's `click` into `emergency`; the Hue
//! dimmer's 1.x `on-press` family became `on_press`, `on_press_release`, ...), and Aqara
//! buttons stopped sending the 1.x `click` field; both spellings stay here so an upgrade
//! changes nothing. A value not in the table is an error naming the accepted ones, never a
//! silent non-press. Sources: tests/fixtures/sources/zigbee2mqtt/ACTIONS.md.

use super::ClickType;

/// What an action value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Z2mGesture {
    /// A press of this click type.
    Press(ClickType),
    /// Reported, but not a press: a release after a hold, a button-down edge.
    NotAPress,
    /// A gesture the contract has no click type for (quadruple, shake).
    Unsupported,
}

use ClickType::{Double, Long, Single, Triple};
use Z2mGesture::{NotAPress, Press, Unsupported};

/// `(action, gesture, button, devices)`. `button` names which button of a multi-button remote
/// it was when that is not the main one; the press's device is then `<name>:<button>`, so each
/// button of an IKEA E1743 or a Hue dimmer is its own button to the guest.
pub const ZIGBEE2MQTT_ACTIONS: &[(&str, Z2mGesture, Option<&str>, &str)] = &[
    (
        "single",
        Press(Single),
        None,
        "Aqara WXKG01LM/11LM/12LM, Tuya TS0041, Sonoff SNZB-01",
    ),
    (
        "double",
        Press(Double),
        None,
        "Aqara, Tuya TS0041, Sonoff SNZB-01",
    ),
    ("triple", Press(Triple), None, "Aqara WXKG01LM, WXKG11LM"),
    ("hold", Press(Long), None, "Aqara, Tuya TS0041"),
    ("long", Press(Long), None, "Sonoff SNZB-01"),
    ("release", NotAPress, None, "Aqara: the end of a hold"),
    ("quadruple", Unsupported, None, "Aqara WXKG01LM, WXKG11LM"),
    ("many", Unsupported, None, "Aqara WXKG01LM: five or more"),
    ("shake", Unsupported, None, "Aqara WXKG12LM"),
    ("click", Press(Single), None, "Tuya TS0218 (1.x, legacy on)"),
    (
        "emergency",
        Press(Single),
        None,
        "Tuya TS0218 (2.x, PR #8291), TS0215A_sos",
    ),
    ("on", Press(Single), None, "IKEA E1743 I button, E1812"),
    ("off", Press(Single), Some("off"), "IKEA E1743 O button"),
    (
        "brightness_move_up",
        Press(Long),
        None,
        "IKEA E1743 I held, E1812 held",
    ),
    (
        "brightness_move_down",
        Press(Long),
        Some("off"),
        "IKEA E1743 O held",
    ),
    (
        "brightness_stop",
        NotAPress,
        None,
        "IKEA: the end of a hold",
    ),
    (
        "on_press",
        NotAPress,
        None,
        "Hue dimmer (2.x): the button-down edge, before the gesture is known",
    ),
    ("on_press_release", Press(Single), None, "Hue dimmer (2.x)"),
    (
        "on_hold",
        Press(Long),
        None,
        "Hue dimmer (2.x): repeated about once a second while held",
    ),
    ("on_hold_release", NotAPress, None, "Hue dimmer (2.x)"),
    (
        "on-press",
        Press(Single),
        None,
        "Hue dimmer (1.x): counter 2 and 3 make it double and triple",
    ),
    ("on-hold", Press(Long), None, "Hue dimmer (1.x)"),
    ("on-hold-release", NotAPress, None, "Hue dimmer (1.x)"),
    (
        "off_press",
        NotAPress,
        Some("off"),
        "Hue dimmer (2.x): the button-down edge, before the gesture is known",
    ),
    (
        "off_press_release",
        Press(Single),
        Some("off"),
        "Hue dimmer (2.x)",
    ),
    (
        "off_hold",
        Press(Long),
        Some("off"),
        "Hue dimmer (2.x): repeated about once a second while held",
    ),
    (
        "off_hold_release",
        NotAPress,
        Some("off"),
        "Hue dimmer (2.x)",
    ),
    (
        "off-press",
        Press(Single),
        Some("off"),
        "Hue dimmer (1.x): counter 2 and 3 make it double and triple",
    ),
    ("off-hold", Press(Long), Some("off"), "Hue dimmer (1.x)"),
    (
        "off-hold-release",
        NotAPress,
        Some("off"),
        "Hue dimmer (1.x)",
    ),
    (
        "up_press",
        NotAPress,
        Some("up"),
        "Hue dimmer (2.x): the button-down edge, before the gesture is known",
    ),
    (
        "up_press_release",
        Press(Single),
        Some("up"),
        "Hue dimmer (2.x)",
    ),
    (
        "up_hold",
        Press(Long),
        Some("up"),
        "Hue dimmer (2.x): repeated about once a second while held",
    ),
    ("up_hold_release", NotAPress, Some("up"), "Hue dimmer (2.x)"),
    (
        "up-press",
        Press(Single),
        Some("up"),
        "Hue dimmer (1.x): counter 2 and 3 make it double and triple",
    ),
    ("up-hold", Press(Long), Some("up"), "Hue dimmer (1.x)"),
    ("up-hold-release", NotAPress, Some("up"), "Hue dimmer (1.x)"),
    (
        "down_press",
        NotAPress,
        Some("down"),
        "Hue dimmer (2.x): the button-down edge, before the gesture is known",
    ),
    (
        "down_press_release",
        Press(Single),
        Some("down"),
        "Hue dimmer (2.x)",
    ),
    (
        "down_hold",
        Press(Long),
        Some("down"),
        "Hue dimmer (2.x): repeated about once a second while held",
    ),
    (
        "down_hold_release",
        NotAPress,
        Some("down"),
        "Hue dimmer (2.x)",
    ),
    (
        "down-press",
        Press(Single),
        Some("down"),
        "Hue dimmer (1.x): counter 2 and 3 make it double and triple",
    ),
    ("down-hold", Press(Long), Some("down"), "Hue dimmer (1.x)"),
    (
        "down-hold-release",
        NotAPress,
        Some("down"),
        "Hue dimmer (1.x)",
    ),
];

/// The gestures multi-button remotes compose with a button: `1_single` (Tuya TS0041-TS0044,
/// TS004F, LoraTap), `button_2_double` (Aqara Opple), `single_left` / `hold_both` (Aqara
/// double rockers WXKG02LM, WXKG07LM).
const BUTTON_GESTURES: &[(&str, Z2mGesture)] = &[
    ("single", Press(Single)),
    ("double", Press(Double)),
    ("triple", Press(Triple)),
    ("hold", Press(Long)),
    ("long", Press(Long)),
    ("release", NotAPress),
    ("quadruple", Unsupported),
];

/// The gesture and button of an action value, if the table knows it: the button is `None`
/// for a remote's first (or only) button, so a one-button device keeps its bare name.
pub(crate) fn lookup(action: &str) -> Option<(Z2mGesture, Option<String>)> {
    if let Some((_, g, b, _)) = ZIGBEE2MQTT_ACTIONS
        .iter()
        .find(|(name, ..)| *name == action)
    {
        return Some((*g, b.map(str::to_string)));
    }
    let gesture = |word: &str| {
        BUTTON_GESTURES
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, g)| *g)
    };
    let numbered = |n: &str| -> Option<Option<String>> {
        let n: u8 = n.parse().ok().filter(|n| (1..=8).contains(n))?;
        Some((n > 1).then(|| n.to_string()))
    };
    let body = action.strip_prefix("button_").unwrap_or(action);
    if let Some((n, word)) = body.split_once('_')
        && let (Some(button), Some(g)) = (numbered(n), gesture(word))
    {
        return Some((g, button));
    }
    if let Some((word, side)) = action.split_once('_')
        && let Some(g) = gesture(word)
    {
        return match side {
            "left" => Some((g, None)),
            "right" | "both" => Some((g, Some(side.to_string()))),
            _ => None,
        };
    }
    None
}

/// Hue dimmer 1.x `<button>-press` carries the number of presses in `counter`.
pub(crate) fn counted(gesture: Z2mGesture, action: &str, counter: Option<u64>) -> Z2mGesture {
    match (gesture, counter) {
        (Press(Single), Some(n)) if action.ends_with("-press") => match n {
            0 | 1 => Press(Single),
            2 => Press(Double),
            3 => Press(Triple),
            _ => Unsupported,
        },
        _ => gesture,
    }
}

/// Every accepted value, for the unknown-gesture error.
pub(crate) fn accepted() -> String {
    let mut names: Vec<&str> = ZIGBEE2MQTT_ACTIONS.iter().map(|(name, ..)| *name).collect();
    names.push("<n>_single|double|triple|hold|release (buttons 1 to 8, also button_<n>_...)");
    names.push("single|double|hold|release_left|right|both");
    names.join(", ")
}
