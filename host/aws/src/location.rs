//! Where a guest comes from: `CLICKRULES_GUEST` as a value.

use std::fmt;
use std::path::PathBuf;

use clickrules_builtin::DEFAULT_GUEST_URI;

/// An S3 object named `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Uri {
    /// The bucket.
    pub bucket: String,
    /// The object key (may contain `/`).
    pub key: String,
}

impl S3Uri {
    /// Parses `s3://bucket/key`; `None` when either part is missing.
    pub fn parse(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/')?;
        if bucket.is_empty() || key.is_empty() {
            return None;
        }
        Some(Self {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Where the guest that decides presses is loaded from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GuestLocation {
    /// The default guest compiled into the binary.
    #[default]
    Builtin,
    /// A component file on the local filesystem.
    Path(PathBuf),
    /// An S3 object, re-checked on every press so an upload takes effect on the next one.
    S3(S3Uri),
}

/// What `CLICKRULES_GUEST` (or the CLI's `--guest`) accepts, for error messages.
pub const GUEST_LOCATION_FORMS: &str =
    "s3://BUCKET/KEY, a path to a .wasm component, or builtin:default (the same as unset)";

impl GuestLocation {
    /// Parses a location. Anything starting with `s3:` must be a complete `s3://bucket/key`,
    /// so a typo is reported instead of being looked up as a local file.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.is_empty() || value == DEFAULT_GUEST_URI {
            return Some(Self::Builtin);
        }
        if value
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case("s3:"))
        {
            return S3Uri::parse(value).map(Self::S3);
        }
        Some(Self::Path(PathBuf::from(value)))
    }

    /// The URI recorded in decision records: `builtin:default`, the path, or `s3://...`.
    pub fn uri(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for GuestLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Builtin => f.write_str(DEFAULT_GUEST_URI),
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::S3(uri) => uri.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_need_bucket_and_key() {
        assert_eq!(
            GuestLocation::parse("s3://guests/rules/by-click.wasm"),
            Some(GuestLocation::S3(S3Uri {
                bucket: "guests".into(),
                key: "rules/by-click.wasm".into()
            }))
        );
        for bad in [
            "s3://",
            "s3://bucket",
            "s3://bucket/",
            "s3:///key",
            "S3:/bucket/key",
        ] {
            assert_eq!(GuestLocation::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_and_builtin_mean_the_builtin_guest() {
        assert_eq!(GuestLocation::parse(""), Some(GuestLocation::Builtin));
        assert_eq!(
            GuestLocation::parse(DEFAULT_GUEST_URI),
            Some(GuestLocation::Builtin)
        );
        assert_eq!(
            GuestLocation::parse("./guest.wasm"),
            Some(GuestLocation::Path("./guest.wasm".into()))
        );
    }

    #[test]
    fn display_round_trips() {
        for uri in ["s3://b/k/x.wasm", "builtin:default", "/tmp/g.wasm"] {
            assert_eq!(GuestLocation::parse(uri).unwrap().to_string(), uri);
        }
    }
}
