//! What an authenticated request yields: one click and the id it is recorded under.

use clickrules_engine::{Click, MAX_SERIAL_BYTES};

/// An authenticated press, normalised to the click every other source gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPress {
    /// The press: `source` is `flic` or `webhook`, `press_id` is [`Self::press_id`],
    /// `received_at_ms` is the `now_ms` given to [`crate::authenticate`] (not the sender's
    /// clock), UTC offset 0 for the caller to set.
    pub click: Click,
    /// The ledger's id for the press: `flic:<sha256 hex>` of the signed part of the token,
    /// `webhook:<device>:<Idempotency-Key>`, or `webhook:<sha256 hex>` of the signature.
    pub press_id: String,
    /// Whether [`Self::press_id`] identifies the press only within a short window (it comes
    /// from the sender's `Idempotency-Key`, which senders reuse); the caller applies the
    /// window, which must last at least until [`Self::replayable_until_ms`].
    pub windowed: bool,
    /// `flic` or `webhook`.
    pub source: &'static str,
    /// After this instant (ms since the epoch) the same request is refused as expired or
    /// stale, so a ledger record kept to catch replays need not outlive it.
    pub replayable_until_ms: u64,
}

/// What a device id may be made of, for error messages.
pub(crate) const SERIAL_CHARS: &str = "1 to 128 printable ASCII characters (letters, digits, \
                                       punctuation, inner spaces)";

/// The engine's rule for serial numbers: present, at most [`MAX_SERIAL_BYTES`], printable
/// ASCII with no space at either end. They are echoed into logs, records, terminals and SNS
/// messages, so control characters, bidi overrides and huge ids are refused at the door.
pub(crate) fn is_valid_serial(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_SERIAL_BYTES
        && raw.bytes().all(|b| (b' '..=b'~').contains(&b))
        && raw.trim() == raw
}

/// Seconds to milliseconds, saturating: configured windows and token times are untrusted
/// or unbounded, and overflow must not wrap a stale request into a fresh one.
pub(crate) fn ms(seconds: u64) -> u64 {
    seconds.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_follow_the_engine_rules() {
        for ok in ["BC44-B06243", "a", "living room button", &"S".repeat(128)] {
            assert!(is_valid_serial(ok), "{ok}");
        }
        for bad in [
            "",
            " a",
            "a ",
            "a\nb",
            "caf\u{e9}",
            "a\u{202e}b",
            &"S".repeat(129),
        ] {
            assert!(!is_valid_serial(bad), "{bad:?}");
        }
    }
}
