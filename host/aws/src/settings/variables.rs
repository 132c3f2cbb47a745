//! Every `CLICKRULES_*` variable: its name, what it means and its default, in one table that
//! the typo check, the README's table and the template test are derived from.

/// One deployment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The full name, `CLICKRULES_...`.
    pub name: &'static str,
    /// What it sets, in a few words.
    pub meaning: &'static str,
    /// What applies when it is unset.
    pub default: &'static str,
}

macro_rules! variables {
    ($($(#[$doc:meta])* $ident:ident = $name:literal, $meaning:literal, $default:literal;)*) => {
        $( $(#[$doc])* pub const $ident: &str = $name; )*
        /// Every variable, in the order the docs list them.
        pub const VARIABLES: &[Variable] = &[
            $( Variable { name: $name, meaning: $meaning, default: $default }, )*
        ];
    };
}

variables! {
    /// Where the guest comes from.
    GUEST = "CLICKRULES_GUEST",
        "the guest: `s3://bucket/key`, a path to a `.wasm`, or `builtin:default`",
        "the built-in default guest";
    /// A candidate guest run beside the active one on every press, never acted on.
    SHADOW_GUEST = "CLICKRULES_SHADOW_GUEST",
        "a candidate guest run beside the active one on every press; its actions are never executed and its state never committed (same forms as `CLICKRULES_GUEST`)",
        "none: no shadow";
    /// The function `snapshot` invokes.
    SNAPSHOT_FUNCTION = "CLICKRULES_SNAPSHOT_FUNCTION",
        "the function `snapshot` invokes (name or ARN)", "`scheduled_snapshot`";
    /// The alias or version `snapshot` invokes; empty means unqualified.
    SNAPSHOT_QUALIFIER = "CLICKRULES_SNAPSHOT_QUALIFIER",
        "its alias or version; empty invokes it unqualified", "`prod`";
    /// `RequestResponse` or `Event`.
    INVOCATION_TYPE = "CLICKRULES_INVOCATION_TYPE",
        "`RequestResponse` (wait and see errors) or `Event` (queue)", "`RequestResponse`";
    /// The SNS topic `notify` publishes to.
    NOTIFY_TOPIC_ARN = "CLICKRULES_NOTIFY_TOPIC_ARN",
        "the SNS topic `notify` publishes to", "none: a press that notifies fails before acting";
    /// Comma-separated regions `snapshot` may name.
    ALLOWED_REGIONS = "CLICKRULES_ALLOWED_REGIONS",
        "comma-separated regions `snapshot` may name", "any known AWS region";
    /// `true`: accept well-formed region codes missing from the engine's list of known regions.
    ALLOW_UNLISTED_REGIONS = "CLICKRULES_ALLOW_UNLISTED_REGIONS",
        "`true` accepts well-formed region codes newer than this release", "`false`";
    /// Per-press wall-clock deadline in milliseconds.
    TIMEOUT_MS = "CLICKRULES_TIMEOUT_MS", "per-press wall-clock deadline, ms", "`1000`";
    /// Guest memory cap in MiB.
    MEMORY_MB = "CLICKRULES_MEMORY_MB", "guest memory cap, MiB", "`128`";
    /// Fuel per press.
    FUEL = "CLICKRULES_FUEL", "fuel (instructions) per press", "10^12";
    /// `fail` or `builtin`.
    ON_GUEST_ERROR = "CLICKRULES_ON_GUEST_ERROR",
        "`fail`, or `builtin` to let the built-in guest decide when the guest fails", "`fail`";
    /// Comma-separated base64 Ed25519 public keys whose signed precompiled artifacts may be loaded.
    TRUSTED_KEYS = "CLICKRULES_TRUSTED_KEYS",
        "Ed25519 public keys (base64, comma-separated) whose signed artifacts load", "none";
    /// `true`: refuse a guest that has no valid signed artifact rather than compile it.
    REQUIRE_SIGNED = "CLICKRULES_REQUIRE_SIGNED",
        "`true` refuses a guest without a valid signed artifact", "`false`";
    /// The DynamoDB table of the press ledger.
    LEDGER_TABLE = "CLICKRULES_LEDGER_TABLE",
        "DynamoDB table of the press ledger (exactly-once effects)", "off";
    /// How long the ledger keeps a finished press, in hours.
    LEDGER_RETENTION_HOURS = "CLICKRULES_LEDGER_RETENTION_HOURS",
        "hours the ledger keeps a press (at least the 6 h a retry can come)", "`168`";
    /// Days history keeps a press that succeeded, was ignored or was no press.
    HISTORY_OK_DAYS = "CLICKRULES_HISTORY_OK_DAYS",
        "days press history keeps a press that did not fail; never less than the ledger retention",
        "`7`";
    /// Days history keeps a press that failed.
    HISTORY_FAILED_DAYS = "CLICKRULES_HISTORY_FAILED_DAYS",
        "days press history keeps a failed press; never less than the ledger retention",
        "`30`";
    /// The IANA time zone whose UTC offset guests see with each press.
    TIMEZONE = "CLICKRULES_TIMEZONE",
        "IANA time zone (e.g. `Europe/Berlin`) of the UTC offset guests see, daylight saving included",
        "`UTC`";
    /// The SQS queue presses that cannot succeed on retry are sent to.
    DEAD_LETTER_QUEUE_URL = "CLICKRULES_DEAD_LETTER_QUEUE_URL",
        "SQS queue for presses no retry can fix (sent with their record)",
        "none: such presses fail their invocation";
    /// Which deliveries the function serves: `events` or `webhook`.
    ENTRY = "CLICKRULES_ENTRY",
        "`events` (button events from IoT topic rules) or `webhook` (HTTPS through a Function URL)",
        "`events`";
    /// The button sources this function accepts.
    SOURCES = "CLICKRULES_SOURCES",
        "comma-separated sources accepted: `iot-button`, `iot-1-click`, `shelly-gen1`, `shelly-gen2`, `zigbee2mqtt` (events); `flic`, `webhook` (webhook)",
        "every events source; `webhook` for the webhook entry";
    /// Zigbee2MQTT's `mqtt.base_topic`.
    Z2M_BASE_TOPIC = "CLICKRULES_Z2M_BASE_TOPIC",
        "Zigbee2MQTT's `mqtt.base_topic`: its device topics are `<base>/<friendly name>`", "`zigbee2mqtt`";
    /// Comma-separated `SOURCE:DEVICE` entries allowed to press.
    ALLOWED_DEVICES = "CLICKRULES_ALLOWED_DEVICES",
        "comma-separated `SOURCE:DEVICE` allowed to press; a source not listed allows every device",
        "every device";
    /// Presses a device may make per minute; 0 turns the limit off.
    RATE_LIMIT_PER_MINUTE = "CLICKRULES_RATE_LIMIT_PER_MINUTE",
        "presses per device per minute (counted in the ledger table); excess presses are recorded as `rate_limited`; 0 is no limit",
        "`30`";
    /// How long a device's own event counter identifies a press, in seconds.
    DEDUPE_WINDOW_SECONDS = "CLICKRULES_DEDUPE_WINDOW_SECONDS",
        "seconds a device counter (Shelly `event_cnt`, Gen2 `ts`, `Idempotency-Key`) identifies a press",
        "`60`";
    /// Where the generic webhook's HMAC secret is: `ssm:NAME` or a Secrets Manager ARN.
    WEBHOOK_SECRET = "CLICKRULES_WEBHOOK_SECRET",
        "where the webhook's HMAC secret is (`ssm:NAME`, `secretsmanager:NAME` or an ARN); fetched on the first webhook",
        "none: the webhook source cannot be on";
    /// Seconds a signed webhook's timestamp may be from now.
    WEBHOOK_TOLERANCE_SECONDS = "CLICKRULES_WEBHOOK_TOLERANCE_SECONDS",
        "seconds a signed webhook's timestamp may be from now (its replay window)", "`300`";
    /// The Flic buttons (`buttonUuid`s) accepted.
    FLIC_BUTTONS = "CLICKRULES_FLIC_BUTTONS",
        "comma-separated Flic `buttonUuid`s accepted (required with the flic source)",
        "none: the flic source cannot be on";
    /// Where a key replacing Flic's published public key is.
    FLIC_PUBLIC_KEY = "CLICKRULES_FLIC_PUBLIC_KEY",
        "where a PEM key replacing Flic's published one is (`ssm:NAME` or an ARN), for rotation",
        "Flic's published key, built in";
    /// Any number of guest settings in one variable: `key=value,key=value` (the template's
    /// `GuestSettings`). See [`parse_guest_settings`](super::parse_guest_settings).
    CONFIG = "CLICKRULES_CONFIG",
        "guest settings `key=value,key=value` (keys lowercased; the value runs to the next unescaped comma, `\\,` is a comma in a value); a `CLICKRULES_CONFIG_<KEY>` of the same key wins",
        "none";
}

/// Prefix of guest settings: `CLICKRULES_CONFIG_SECOND_REGION` is served as `second_region`.
pub const CONFIG_PREFIX: &str = "CLICKRULES_CONFIG_";

/// Whether `name` is a variable this release reads (guest settings aside).
pub fn is_known(name: &str) -> bool {
    VARIABLES.iter().any(|v| v.name == name)
}

/// The variables as a Markdown table, as the README shows it.
pub fn markdown_table() -> String {
    let mut table = String::from("| variable | meaning | default |\n|---|---|---|\n");
    for v in VARIABLES {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            v.name, v.meaning, v.default
        ));
    }
    table.push_str(&format!(
        "| `{CONFIG_PREFIX}<KEY>` | guest setting `<key>` (lowercased), served by `host.config` | unset |\n"
    ));
    table
}
