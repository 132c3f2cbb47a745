//! Actions out: the host's own action type and the all-or-nothing validation of a guest's list.

use serde::{Deserialize, Serialize};

use crate::regions::is_known_region;

/// An AWS IoT rule allows ten actions; a press may not fan out further.
pub const MAX_ACTIONS: usize = 10;
/// SNS `Subject`: 1 to 100 printable ASCII characters.
pub const MAX_SUBJECT_CHARS: usize = 100;
/// Notification bodies stay small enough to read on a phone and to log.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// `ignore` reasons are logged, not stored elsewhere.
pub const MAX_IGNORE_REASON_BYTES: usize = 256;
/// Longest excerpt of a guest-supplied string quoted back in an error.
const MAX_QUOTED: usize = 64;

/// One thing a press asks the host to do. Deliberately exhaustive (unlike the error enums):
/// a new action must be handled by every executor, so adding one should not compile until it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Invoke the snapshot function with `{"region": region}`.
    Snapshot {
        /// The AWS region to back up.
        region: String,
    },
    /// Publish to the deployment's notification topic.
    Notify {
        /// SNS subject.
        subject: String,
        /// SNS message body.
        message: String,
    },
    /// Do nothing, on purpose; the reason is logged.
    Ignore {
        /// Why.
        reason: String,
    },
}

impl Action {
    /// `snapshot(region)`.
    pub fn snapshot(region: impl Into<String>) -> Self {
        Action::Snapshot {
            region: region.into(),
        }
    }

    /// `notify({subject, message})`.
    pub fn notify(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Action::Notify {
            subject: subject.into(),
            message: message.into(),
        }
    }

    /// `ignore(reason)`.
    pub fn ignore(reason: impl Into<String>) -> Self {
        Action::Ignore {
            reason: reason.into(),
        }
    }
}

/// Deployment-level rules for actions beyond the fixed limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// When set, `snapshot` may only name these regions.
    pub allowed_regions: Option<Vec<String>>,
    /// Accept any well-formed region code, not only [`KNOWN_REGIONS`](crate::KNOWN_REGIONS):
    /// the opt-out for a region AWS opened after this release.
    pub allow_unlisted_regions: bool,
}

/// Why a guest's list of actions was rejected. `index` is the 0-based position in the list;
/// messages number actions from 1, as tables and records do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// More than `MAX_ACTIONS`.
    #[error("guest returned {count} actions; at most {max} are allowed per press")]
    TooManyActions {
        /// How many were returned.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Not shaped like an AWS region code.
    #[error(
        "action {} (snapshot): {region} is not an AWS region code such as us-west-1",
        index + 1
    )]
    InvalidRegion {
        /// Position in the list.
        index: usize,
        /// The region, quoted and truncated.
        region: String,
    },
    /// Shaped like a region code, but no AWS region this release knows.
    #[error(
        "action {} (snapshot): {region} is not a known AWS region; for a region opened \
         after this release, set CLICKRULES_ALLOW_UNLISTED_REGIONS=true",
        index + 1
    )]
    UnknownRegion {
        /// Position in the list.
        index: usize,
        /// The region, quoted.
        region: String,
    },
    /// A valid code outside the deployment's allow-list.
    #[error(
        "action {} (snapshot): region {region} is not in the allowed regions ({allowed})",
        index + 1
    )]
    RegionNotAllowed {
        /// Position in the list.
        index: usize,
        /// The region.
        region: String,
        /// The allow-list, comma separated.
        allowed: String,
    },
    /// Empty or over 100 characters.
    #[error(
        "action {} (notify): subject is {len} characters; it must be 1 to {max}",
        index + 1
    )]
    SubjectLength {
        /// Position in the list.
        index: usize,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// SNS subjects are printable ASCII only.
    #[error(
        "action {} (notify): subject contains {found:?} at character {position}; \
         only printable ASCII is allowed",
        index + 1
    )]
    SubjectNotPrintable {
        /// Position in the list.
        index: usize,
        /// The first offending character.
        found: char,
        /// Its character position in the subject.
        position: usize,
    },
    /// Empty or over 4096 bytes.
    #[error(
        "action {} (notify): message is {len} bytes; it must be 1 to {max}",
        index + 1
    )]
    MessageLength {
        /// Position in the list.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Over 256 bytes.
    #[error(
        "action {} (ignore): reason is {len} bytes; at most {max} are allowed",
        index + 1
    )]
    IgnoreReasonTooLong {
        /// Position in the list.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Checks every action; any failure rejects the whole list, so nothing is half-done.
pub fn validate_actions(
    actions: &[Action],
    policy: &ValidationPolicy,
) -> Result<(), ValidationError> {
    if actions.len() > MAX_ACTIONS {
        return Err(ValidationError::TooManyActions {
            count: actions.len(),
            max: MAX_ACTIONS,
        });
    }
    for (index, action) in actions.iter().enumerate() {
        match action {
            Action::Snapshot { region } => {
                if !validate_region(region) {
                    return Err(ValidationError::InvalidRegion {
                        index,
                        region: quote(region),
                    });
                }
                if !policy.allow_unlisted_regions && !is_known_region(region) {
                    return Err(ValidationError::UnknownRegion {
                        index,
                        region: quote(region),
                    });
                }
                if let Some(allowed) = &policy.allowed_regions
                    && !allowed.iter().any(|r| r == region)
                {
                    return Err(ValidationError::RegionNotAllowed {
                        index,
                        region: region.clone(),
                        allowed: allowed.join(", "),
                    });
                }
            }
            Action::Notify { subject, message } => {
                if let Some((position, found)) = subject
                    .chars()
                    .enumerate()
                    .find(|(_, c)| !(' '..='~').contains(c))
                {
                    return Err(ValidationError::SubjectNotPrintable {
                        index,
                        found,
                        position,
                    });
                }
                // All printable ASCII from here, so bytes are characters.
                if subject.is_empty() || subject.len() > MAX_SUBJECT_CHARS {
                    return Err(ValidationError::SubjectLength {
                        index,
                        len: subject.len(),
                        max: MAX_SUBJECT_CHARS,
                    });
                }
                if message.is_empty() || message.len() > MAX_MESSAGE_BYTES {
                    return Err(ValidationError::MessageLength {
                        index,
                        len: message.len(),
                        max: MAX_MESSAGE_BYTES,
                    });
                }
            }
            Action::Ignore { reason } => {
                if reason.len() > MAX_IGNORE_REASON_BYTES {
                    return Err(ValidationError::IgnoreReasonTooLong {
                        index,
                        len: reason.len(),
                        max: MAX_IGNORE_REASON_BYTES,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Whether `region` has the shape of an AWS region code: `us-west-1`, `ap-southeast-2`,
/// `us-gov-west-1`, `us-isob-east-1`, `eusc-de-east-1`. Shape only; validation also requires a
/// [known region](crate::KNOWN_REGIONS) unless the policy allows unlisted ones.
pub fn validate_region(region: &str) -> bool {
    if region.len() > 32 {
        return false;
    }
    let parts: Vec<&str> = region.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    let number_ok = !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0');
    let words_ok = (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && (2..=4).contains(&words[0].len());
    number_ok && words_ok
}

fn quote(raw: &str) -> String {
    quote_with_len(raw, raw.len())
}

/// `raw` quoted for an error, cut to [`MAX_QUOTED`] bytes, naming `len` (the length of the
/// whole value, of which `raw` may be only a prefix) when cut.
pub(crate) fn quote_with_len(raw: &str, len: usize) -> String {
    let mut end = raw.len().min(MAX_QUOTED);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    if end < len {
        format!("{:?}... ({len} bytes)", &raw[..end])
    } else {
        format!("{raw:?}")
    }
}

#[cfg(test)]
mod tests;
