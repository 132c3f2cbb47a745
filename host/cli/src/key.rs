//! `clickrules key`: the Ed25519 key that signs precompiled guests. The private key stays on the
//! machine that uploads; the Lambda gets the public key in `CLICKRULES_TRUSTED_KEYS`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use clickrules_engine::{ArtifactSigner, PublicKey};

use crate::render;

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a signing key (PKCS#8 PEM, readable only by you) and print its public key.
    New {
        /// Where to write the private key.
        file: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the public key of a signing key, for CLICKRULES_TRUSTED_KEYS.
    Public {
        /// The private key (PKCS#8 PEM, e.g. from `openssl genpkey -algorithm ed25519`).
        file: PathBuf,
    },
}

pub fn run(args: KeyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        KeyCommand::New { file, force } => {
            let signer = ArtifactSigner::generate()?;
            write_private(&file, &signer.to_pem()?, force)?;
            render::emit(&format!("wrote      {}\n", file.display()))?;
            render::emit(&describe(&signer.public_key()))?;
        }
        KeyCommand::Public { file } => {
            render::emit(&describe(&read_signer(&file)?.public_key()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a signing key file.
pub fn read_signer(file: &Path) -> anyhow::Result<ArtifactSigner> {
    let pem = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read signing key {}", file.display()))?;
    ArtifactSigner::from_pem(&pem).with_context(|| format!("signing key {}", file.display()))
}

fn describe(key: &PublicKey) -> String {
    format!(
        "public key {key}\nkey id     {}\nLambda     CLICKRULES_TRUSTED_KEYS={key}\n",
        key.key_id()
    )
}

fn write_private(file: &Path, pem: &str, force: bool) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(file).with_context(|| {
        if file.exists() && !force {
            format!(
                "{} already exists; pass --force to replace it (the old key's artifacts then no longer verify)",
                file.display()
            )
        } else {
            format!("cannot create {}", file.display())
        }
    })?;
    #[cfg(unix)]
    {
        // A replaced file keeps its old mode otherwise.
        use std::os::unix::fs::PermissionsExt;
        out.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {} to its owner", file.display()))?;
    }
    out.write_all(pem.as_bytes())
        .with_context(|| format!("cannot write {}", file.display()))
}
