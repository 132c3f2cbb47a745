//! The parts of `press` and `upload` that reach AWS directly: presses sent to the deployed
//! Lambda, and uploads. Credentials and region come from the usual AWS chain.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use aws_sdk_lambda::primitives::Blob;
use clickrules_aws::{AwsClients, S3Uri};

/// A one-thread runtime: the CLI makes a handful of sequential calls.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Invokes the deployed function with `event` and returns the record it answers with.
pub fn invoke(function: &str, event: &[u8]) -> anyhow::Result<Result<serde_json::Value, String>> {
    runtime()?.block_on(async {
        let config = clickrules_aws::config_loader().load().await;
        let lambda = aws_sdk_lambda::Client::new(&config);
        let response = lambda
            .invoke()
            .function_name(function)
            .payload(Blob::new(event))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot invoke {function}: {}",
                    clickrules_aws::sdk_error_text(&e)
                )
            })?;
        let payload = response
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&payload).into_owned())
        });
        Ok(match response.function_error() {
            None => Ok(body),
            Some(kind) => Err(format!(
                "{function} failed ({kind}): {}",
                body.get("errorMessage")
                    .and_then(|m| m.as_str())
                    .unwrap_or(&body.to_string())
            )),
        })
    })
}

/// The deployed function's configuration (`lambda:GetFunctionConfiguration`): its environment,
/// whose `CLICKRULES_*` variables are its settings, its region and its memory.
pub fn function_configuration(function: &str) -> anyhow::Result<crate::args::DeployedFunction> {
    runtime()?.block_on(async {
        let config = clickrules_aws::config_loader().load().await;
        let lambda = aws_sdk_lambda::Client::new(&config);
        let got = lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot read the configuration of function {function}: {}",
                    clickrules_aws::sdk_error_text(&e)
                )
            })?;
        let environment = got.environment();
        if let Some(error) = environment.and_then(|e| e.error()) {
            // Lambda could not decrypt the variables (KMS): the settings are unknown.
            anyhow::bail!(
                "cannot read the environment of function {function}: {}: {}",
                error.error_code().unwrap_or("error"),
                error.message().unwrap_or("no message")
            );
        }
        let arn = got.function_arn().map(str::to_string);
        // arn:aws:lambda:REGION:ACCOUNT:function:NAME
        let region = arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(3))
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .or_else(|| config.region().map(|r| r.to_string()));
        Ok(crate::args::DeployedFunction {
            arn,
            region,
            memory_mb: got.memory_size().and_then(|mb| u64::try_from(mb).ok()),
            environment: environment
                .and_then(|e| e.variables())
                .cloned()
                .unwrap_or_default(),
        })
    })
}

/// One object for `upload` to put.
#[derive(Debug)]
pub struct Object {
    pub uri: S3Uri,
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    /// SHA-256 of the guest's `.wasm` (for an artifact too), kept as object metadata.
    pub sha256: String,
}

/// What `upload` reports per object.
#[derive(Debug, serde::Serialize)]
pub struct Uploaded {
    pub uri: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// Puts the objects in order, stopping at the first failure, with a bar over their bytes.
pub fn upload(
    objects: Vec<Object>,
    progress: &crate::progress::Progress,
) -> anyhow::Result<Vec<Uploaded>> {
    let count = objects.len();
    let total: u64 = objects.iter().map(|o| o.bytes.len() as u64).sum();
    let first = objects
        .first()
        .map(|o| o.uri.to_string())
        .unwrap_or_default();
    let bar = progress.bytes(total, format!("uploading {first}"));
    let uploaded = runtime()?.block_on(async {
        let clients = AwsClients::from_env().await;
        let mut uploaded = Vec::with_capacity(objects.len());
        let mut offset = 0;
        for object in objects {
            let size_bytes = object.bytes.len() as u64;
            bar.set_message(format!("uploading {}", object.uri));
            let put = clients
                .s3
                .put_object()
                .bucket(&object.uri.bucket)
                .key(&object.uri.key)
                .content_type(object.content_type)
                .metadata("sha256", &object.sha256)
                .body(object.bytes.into())
                .customize()
                .interceptor(crate::progress::CountUpload::new(&bar, offset))
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot upload to {}: {}",
                        object.uri,
                        clickrules_aws::sdk_error_text(&e)
                    )
                })?;
            uploaded.push(Uploaded {
                uri: object.uri.to_string(),
                sha256: object.sha256,
                size_bytes,
                etag: put.e_tag().map(str::to_string),
                version_id: put.version_id().map(str::to_string),
            });
            offset += size_bytes;
            bar.set_position(offset);
        }
        anyhow::Ok(uploaded)
    })?;
    bar.finish(format!(
        "uploaded {count} object{} ({})",
        if count == 1 { "" } else { "s" },
        crate::progress::size(total)
    ));
    Ok(uploaded)
}

/// An id for a press made here: `cli-<ms since the epoch>`.
pub fn request_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("cli-{ms}")
}

/// One stored version of an S3 object, newest first in [`versions`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ObjectVersion {
    pub version_id: String,
    pub is_latest: bool,
    /// When it was stored, ms since the epoch.
    pub last_modified_ms: Option<i64>,
    pub size_bytes: Option<i64>,
    /// SHA-256 of the guest, from the `sha256` metadata `upload` stores (absent for objects
    /// put another way).
    pub sha256: Option<String>,
}

/// Every stored version of `uri`, newest first (`ListObjectVersions`, then `HeadObject` per
/// version for its `sha256` metadata).
pub fn versions(uri: &S3Uri) -> anyhow::Result<Vec<ObjectVersion>> {
    runtime()?.block_on(async {
        let clients = AwsClients::from_env().await;
        let mut versions = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let listed = clients
                .s3
                .list_object_versions()
                .bucket(&uri.bucket)
                .prefix(&uri.key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot list the versions of {uri}: {}",
                        clickrules_aws::sdk_error_text(&e)
                    )
                })?;
            for v in listed.versions() {
                // The prefix also matches longer keys (the artifacts beside the guest).
                if v.key() != Some(uri.key.as_str()) {
                    continue;
                }
                let Some(version_id) = v.version_id().filter(|id| *id != "null") else {
                    continue;
                };
                versions.push(ObjectVersion {
                    version_id: version_id.to_string(),
                    is_latest: v.is_latest().unwrap_or(false),
                    last_modified_ms: v.last_modified().and_then(|t| t.to_millis().ok()),
                    size_bytes: v.size(),
                    sha256: None,
                });
            }
            if listed.is_truncated() != Some(true) {
                break;
            }
            key_marker = listed.next_key_marker().map(str::to_string);
            version_marker = listed.next_version_id_marker().map(str::to_string);
        }
        for version in &mut versions {
            let head = clients
                .s3
                .head_object()
                .bucket(&uri.bucket)
                .key(&uri.key)
                .version_id(&version.version_id)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read version {} of {uri}: {}",
                        version.version_id,
                        clickrules_aws::sdk_error_text(&e)
                    )
                })?;
            version.sha256 = head.metadata().and_then(|m| m.get("sha256")).cloned();
        }
        versions.sort_by(|a, b| {
            b.is_latest
                .cmp(&a.is_latest)
                .then(b.last_modified_ms.cmp(&a.last_modified_ms))
        });
        Ok(versions)
    })
}

/// The bytes of `uri` (of one version of it, when given).
pub fn download(uri: &S3Uri, version_id: Option<&str>) -> anyhow::Result<Vec<u8>> {
    runtime()?.block_on(async {
        let clients = AwsClients::from_env().await;
        let got = clients
            .s3
            .get_object()
            .bucket(&uri.bucket)
            .key(&uri.key)
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot download {uri}{}: {}",
                    version_id.map_or_else(String::new, |v| format!(" version {v}")),
                    clickrules_aws::sdk_error_text(&e)
                )
            })?;
        // Bounded before reading, as the Lambda bounds its own reads.
        let limit = clickrules_engine::MAX_GUEST_BYTES as i64;
        if let Some(length) = got.content_length()
            && length > limit
        {
            anyhow::bail!("{uri} is {length} bytes; a guest is at most {limit}");
        }
        let bytes = got
            .body
            .collect()
            .await
            .with_context(|| format!("cannot read {uri}"))?;
        Ok(bytes.into_bytes().to_vec())
    })
}
