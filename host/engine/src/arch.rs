//! The CPU architectures Lambda runs on, which a precompiled guest is made for.

use std::fmt;
use std::str::FromStr;

/// A CPU architecture Lambda runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Graviton (`arm64` in Lambda's terms).
    Aarch64,
    /// Intel and AMD.
    X86_64,
}

impl Arch {
    /// Both Lambda architectures.
    pub const ALL: [Arch; 2] = [Arch::Aarch64, Arch::X86_64];

    /// The name used in artifact file names and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// The Linux target the Lambda binary is built for.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// This process's architecture, if it is Linux on one Lambda offers; artifacts target
    /// Lambda and are not loaded anywhere else.
    pub fn host() -> Option<Arch> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else {
            None
        }
    }

    /// Where the artifact for a guest lives: beside it, `<guest>.<arch>.cwasm`.
    pub fn artifact_name(self, guest: &str) -> String {
        format!("{guest}.{}.cwasm", self.as_str())
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An architecture name that is neither arm64 nor x86_64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture `{0}`; expected arm64 (aarch64) or x86_64")]
pub struct UnknownArch(pub String);

impl FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(s: &str) -> Result<Self, UnknownArch> {
        match s.trim().to_ascii_lowercase().as_str() {
            "arm64" | "aarch64" => Ok(Arch::Aarch64),
            "x86_64" | "x86-64" | "amd64" => Ok(Arch::X86_64),
            _ => Err(UnknownArch(s.to_string())),
        }
    }
}
