//! `deploy/deploy.sh`, with `aws` and `clickrules` replaced by stubs on `PATH` that record
//! their arguments: the calls it makes, in order, with the bucket, the key with the build id,
//! the stack, the parameter overrides and the guest upload; and that it stops, naming the step,
//! when a call fails, and refuses a command line without a stack.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ACCOUNT: &str = "123456789012";
const FUNCTION: &str = "demo-Function-AbC123";
const GUEST_LOCATION: &str = "s3://demo-guestbucket-1a2b/guests/guest.wasm";
const LOG_GROUP: &str = "/clickrules/demo";
const PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/// Separates the arguments of one recorded call (none contains it).
const SEP: char = '\u{1f}';

/// The stub `aws`: answers what deploy.sh asks; `STUB_FAIL="<service> <command>"` makes that
/// call fail as the CLI does, `STUB_BUCKET_EXISTS` makes `head-bucket` succeed.
const AWS_STUB: &str = r#"#!/usr/bin/env bash
set -u
(IFS=$'\x1f'; echo "aws$IFS$*") >>"$STUB_LOG"
if [ -n "${STUB_FAIL:-}" ] && [ "$1 $2" = "$STUB_FAIL" ]; then
    echo "An error occurred (AccessDenied) when calling the $2 operation: stub refuses" >&2
    exit 254
fi
case "$1 $2" in
    "sts get-caller-identity") echo "$STUB_ACCOUNT" ;;
    "configure get") exit 1 ;;
    "s3api head-bucket") [ -n "${STUB_BUCKET_EXISTS:-}" ] || exit 254 ;;
    "s3 mb") echo "make_bucket: ${3#s3://}" ;;
    "s3 cp") echo "upload: $3 to $4" ;;
    "cloudformation deploy") echo "Successfully created/updated stack - stub" ;;
    "cloudformation describe-stacks")
        case "$*" in
            *"'FunctionName'"*) echo "$STUB_FUNCTION" ;;
            *"'GuestLocation'"*) echo "$STUB_GUEST_LOCATION" ;;
            *"'LogGroupName'"*) echo "$STUB_LOG_GROUP" ;;
            *"'PressTopic'"*) echo "iotbutton/+" ;;
            *) echo None ;;
        esac
        ;;
    *) echo "stub aws: unexpected call: $*" >&2; exit 2 ;;
esac
"#;

const CLICKRULES_STUB: &str = r#"#!/usr/bin/env bash
set -u
(IFS=$'\x1f'; echo "clickrules$IFS$*") >>"$STUB_LOG"
case "$1" in
    key) printf 'public key %s\nkey id     0123abcd\n' "$STUB_PUBLIC_KEY" ;;
    upload) echo "uploaded   $3" ;;
    *) echo "stub clickrules: unexpected call: $*" >&2; exit 2 ;;
esac
"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// A scratch directory with the stubs, a prebuilt zip, a guest and a key.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deploy-script-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("dist/arm64")).unwrap();
        for (tool, script) in [("aws", AWS_STUB), ("clickrules", CLICKRULES_STUB)] {
            let path = dir.join("bin").join(tool);
            std::fs::write(&path, script).unwrap();
            make_executable(&path);
        }
        std::fs::write(
            dir.join("dist/arm64/bootstrap.zip"),
            b"PK\x05\x06 not a real zip",
        )
        .unwrap();
        std::fs::write(dir.join("guest.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("signing.pem"), b"-----BEGIN PRIVATE KEY-----").unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Runs deploy.sh with `args`, the stubs first on PATH, and `env`.
    fn deploy(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        self.deploy_with_path(args, env, &path)
    }

    fn deploy_with_path(&self, args: &[&str], env: &[(&str, &str)], path: &str) -> Output {
        let mut command = Command::new("bash");
        command.arg(repo_root().join("deploy/deploy.sh")).args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") || key.starts_with("CLICKRULES_") || key.starts_with("STUB_")
            {
                command.env_remove(key);
            }
        }
        command
            .env("PATH", path)
            .env("STUB_LOG", self.dir.join("calls.log"))
            .env("STUB_ACCOUNT", ACCOUNT)
            .env("STUB_FUNCTION", FUNCTION)
            .env("STUB_GUEST_LOCATION", GUEST_LOCATION)
            .env("STUB_LOG_GROUP", LOG_GROUP)
            .env("STUB_PUBLIC_KEY", PUBLIC_KEY)
            .envs(env.iter().copied())
            .current_dir(&self.dir)
            .output()
            .expect("bash runs deploy.sh")
    }

    /// The recorded calls, each as [tool, args...].
    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| line.split(SEP).map(str::to_string).collect())
            .collect()
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// deploy.sh's build id: the first 16 hex digits of the zip's SHA-256.
fn build_id(zip: &str) -> String {
    let out = Command::new("sha256sum").arg(zip).output().unwrap();
    text(&out.stdout)[..16].to_string()
}

fn strs(call: &[String]) -> Vec<&str> {
    call.iter().map(String::as_str).collect()
}

#[test]
fn deploys_in_order_with_the_build_id_the_guest_settings_and_the_signed_guest() {
    let s = Scratch::new("full");
    let zip = s.path("dist/arm64/bootstrap.zip");
    let (guest, key) = (s.path("guest.wasm"), s.path("signing.pem"));
    let dist = s.path("dist");
    let out = s.deploy(
        &[
            "demo",
            "--guest",
            &guest,
            "--signing-key",
            &key,
            "--region",
            "us-west-1",
            "--zip-dir",
            &dist,
            "--guest-settings",
            r"region=eu-west-1,regions=us-west-1\,us-east-1",
            "--parameter",
            "NotifyEmail=ops@example.com",
        ],
        &[],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");

    let id = build_id(&zip);
    let bucket = format!("clickrules-artifacts-{ACCOUNT}-us-west-1");
    let prefix = format!("clickrules/{id}/");
    let key_uri = format!("s3://{bucket}/{prefix}arm64/bootstrap.zip");
    let template = repo_root()
        .join("deploy/template.yaml")
        .display()
        .to_string();
    let outputs = |name: &str| {
        vec![
            "aws".to_string(),
            "cloudformation".into(),
            "describe-stacks".into(),
            "--stack-name".into(),
            "demo".into(),
            "--region".into(),
            "us-west-1".into(),
            "--query".into(),
            format!("Stacks[0].Outputs[?OutputKey=='{name}'].OutputValue"),
            "--output".into(),
            "text".into(),
        ]
    };
    let calls = s.calls();
    let expected: Vec<Vec<String>> = vec![
        strs_owned(&[
            "aws",
            "sts",
            "get-caller-identity",
            "--query",
            "Account",
            "--output",
            "text",
        ]),
        strs_owned(&[
            "aws",
            "s3api",
            "head-bucket",
            "--bucket",
            &bucket,
            "--region",
            "us-west-1",
        ]),
        strs_owned(&[
            "aws",
            "s3",
            "mb",
            &format!("s3://{bucket}"),
            "--region",
            "us-west-1",
        ]),
        strs_owned(&["aws", "s3", "cp", &zip, &key_uri, "--region", "us-west-1"]),
        strs_owned(&["clickrules", "key", "public", &key]),
        strs_owned(&[
            "aws",
            "cloudformation",
            "deploy",
            "--stack-name",
            "demo",
            "--template-file",
            &template,
            "--region",
            "us-west-1",
            "--s3-bucket",
            &bucket,
            "--s3-prefix",
            &format!("clickrules/{id}"),
            "--capabilities",
            "CAPABILITY_IAM",
            "--no-fail-on-empty-changeset",
            "--parameter-overrides",
            "NotifyEmail=ops@example.com",
            &format!("CodeS3Bucket={bucket}"),
            &format!("CodeS3KeyPrefix={prefix}"),
            "Architecture=arm64",
            r"GuestSettings=region=eu-west-1,regions=us-west-1\,us-east-1",
            &format!("TrustedKeys={PUBLIC_KEY}"),
        ]),
        outputs("FunctionName"),
        outputs("GuestLocation"),
        outputs("LogGroupName"),
        outputs("PressTopic"),
        strs_owned(&[
            "clickrules",
            "upload",
            &guest,
            GUEST_LOCATION,
            "--function",
            FUNCTION,
            "--signing-key",
            &key,
        ]),
    ];
    for (i, (got, want)) in calls.iter().zip(&expected).enumerate() {
        assert_eq!(strs(got), strs(want), "call {i}\n{stderr}");
    }
    assert_eq!(calls.len(), expected.len(), "{calls:#?}");

    // Each step is announced; then what to press, and where the records are.
    for step in [
        "--- code bucket",
        "--- deploying stack demo in us-west-1",
        "--- uploading the guest",
    ] {
        assert!(stderr.contains(step), "{step}: {stderr}");
    }
    for line in [
        format!(
            "aws lambda invoke --region us-west-1 --function-name {FUNCTION} --cli-binary-format raw-in-base64-out --payload '{{\"serialNumber\":\"G030DEPLOYTEST01\",\"clickType\":\"SINGLE\"}}' record.json && cat record.json"
        ),
        "--topic iotbutton/G030DEPLOYTEST01 ".to_string(),
        "$(aws iot describe-endpoint --region us-west-1 --endpoint-type iot:Data-ATS".to_string(),
        format!(
            "aws logs tail {LOG_GROUP} --region us-west-1 --follow --filter-pattern '{{ $.target = \"clickrules::record\" }}'"
        ),
    ] {
        assert!(stdout.contains(&line), "{line}\n{stdout}");
    }
}

fn strs_owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// A given bucket is used as it is (no account lookup, not created when it exists), a
/// `--parameter` wins over what the script sets, and without a guest nothing is uploaded and
/// the output says what to upload.
#[test]
fn a_given_bucket_and_parameters_are_used_as_given() {
    let s = Scratch::new("given");
    let dist = s.path("dist");
    let out = s.deploy(
        &[
            "demo",
            "--code-bucket",
            "my-artifacts",
            "--zip-dir",
            &dist,
            "--guest-settings",
            "mode=script",
            "--parameter",
            "GuestSettings=mode=given",
        ],
        &[("AWS_REGION", "eu-central-1"), ("STUB_BUCKET_EXISTS", "1")],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let calls = s.calls();
    let commands: Vec<String> = calls.iter().map(|c| c[..3].join(" ")).collect();
    assert_eq!(
        commands,
        [
            "aws s3api head-bucket",
            "aws s3 cp",
            "aws cloudformation deploy",
            "aws cloudformation describe-stacks",
            "aws cloudformation describe-stacks",
            "aws cloudformation describe-stacks",
            "aws cloudformation describe-stacks",
        ]
    );
    let deploy = &calls[2];
    assert!(deploy.contains(&"eu-central-1".to_string()), "{deploy:?}");
    let overrides = &deploy[deploy
        .iter()
        .position(|a| a == "--parameter-overrides")
        .unwrap()
        + 1..];
    assert_eq!(overrides[0], "GuestSettings=mode=given");
    assert!(overrides.contains(&"CodeS3Bucket=my-artifacts".to_string()));
    assert_eq!(
        overrides
            .iter()
            .filter(|o| o.starts_with("GuestSettings="))
            .count(),
        1
    );
    assert!(!overrides.iter().any(|o| o.starts_with("TrustedKeys=")));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "clickrules upload guest.wasm {GUEST_LOCATION} --function {FUNCTION}"
        )),
        "{stdout}"
    );
}

#[test]
fn without_a_stack_it_prints_the_usage_and_exits_2() {
    let s = Scratch::new("usage");
    for args in [
        &[][..],
        &["--region", "us-west-1"][..],
        &["demo", "--frobnicate"][..],
    ] {
        let out = s.deploy(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("usage: deploy/deploy.sh STACK"), "{stderr}");
    }
    assert!(text(&s.deploy(&["demo", "--region"], &[]).stderr).contains("--region needs a value"));
    assert!(s.calls().is_empty(), "{:?}", s.calls());
    let help = s.deploy(&["--help"], &[]);
    assert!(help.status.success());
    assert!(text(&help.stdout).contains("--signing-key KEY"));
}

/// The first failing call stops the script with its status, naming the step; nothing after
/// it runs (no guest is uploaded to a stack that did not deploy).
#[test]
fn a_failing_aws_call_stops_the_script_and_names_the_step() {
    let s = Scratch::new("fail");
    let (dist, guest) = (s.path("dist"), s.path("guest.wasm"));
    let out = s.deploy(
        &[
            "demo",
            "--region",
            "us-west-1",
            "--zip-dir",
            &dist,
            "--guest",
            &guest,
        ],
        &[("STUB_FAIL", "cloudformation deploy")],
    );
    assert_eq!(out.status.code(), Some(254));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "deploy.sh: step 'deploy stack' failed (exit 254): aws cloudformation deploy"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("stub refuses"), "{stderr}");
    let last = s.calls().last().cloned().unwrap();
    assert_eq!(last[..3], ["aws", "cloudformation", "deploy"]);
    assert!(!text(&out.stdout).contains("Press"));

    let s = Scratch::new("fail-upload");
    let out = s.deploy(
        &[
            "demo",
            "--region",
            "us-west-1",
            "--zip-dir",
            &s.path("dist"),
        ],
        &[("STUB_FAIL", "s3 cp")],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("step 'upload code' failed"),
        "{}",
        text(&out.stderr)
    );
    assert!(!s.calls().iter().any(|c| c[1] == "cloudformation"));
}

#[test]
fn missing_tools_and_files_are_named() {
    let s = Scratch::new("missing");
    let dist = s.path("dist");
    // No zip for the architecture asked for.
    let out = s.deploy(
        &[
            "demo",
            "--region",
            "us-west-1",
            "--zip-dir",
            &dist,
            "--arch",
            "x86_64",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("x86_64/bootstrap.zip not found"),
        "{}",
        text(&out.stderr)
    );
    let out = s.deploy(
        &["demo", "--region", "us-west-1", "--guest", "nope.wasm"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--guest nope.wasm: no such file"));

    // Without aws (and without clickrules, which a guest needs) on PATH.
    if ["/usr/bin/aws", "/bin/aws"]
        .iter()
        .any(|p| Path::new(p).exists())
    {
        eprintln!("SKIPPED the missing-aws case: an aws is installed in /usr/bin or /bin");
        return;
    }
    let out = s.deploy_with_path(
        &["demo", "--region", "us-west-1", "--zip-dir", &dist],
        &[],
        "/usr/bin:/bin",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("aws (the AWS CLI v2) not found"),
        "{}",
        text(&out.stderr)
    );
    assert!(s.calls().is_empty());
}

/// `--yes` reaches `clickrules upload`, which otherwise refuses (without a terminal) to
/// upload a guest whose decisions differ from the one it replaces.
#[test]
fn yes_lets_the_upload_change_decisions() {
    let s = Scratch::new("yes");
    let (guest, dist) = (s.path("guest.wasm"), s.path("dist"));
    let out = s.deploy(
        &["demo", "--guest", &guest, "--zip-dir", &dist, "--yes"],
        &[("AWS_REGION", "eu-central-1")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let calls = s.calls();
    let upload = calls.last().expect("calls");
    assert_eq!(
        strs(upload),
        [
            "clickrules",
            "upload",
            guest.as_str(),
            GUEST_LOCATION,
            "--function",
            FUNCTION,
            "--yes"
        ]
    );
}
