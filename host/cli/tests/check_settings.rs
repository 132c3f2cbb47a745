//! `clickrules check` and `upload` judge a guest as the deployment will: under the settings of
//! a deployed function (`--function`, against the moto emulator) or of the environment, with
//! the Lambda's preflight check, the user's own devices and events, and guests from S3.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use clickrules_aws::AwsClients;
use clickrules_test_support::Moto;
use clickrules_test_support::run;
use clickrules_tests::{fixtures_dir, guest_bytes, guests};
use serde_json::Value;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:presses";

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "clickrules exited {}:\n{}{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Runs `clickrules` locally with only `env` of the CLICKRULES_* variables set.
fn local(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clickrules"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("CLICKRULES_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("run clickrules");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait for clickrules")
}

/// The table's rows: the lines after the header line, up to the blank line.
fn rows(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|l| !l.starts_with("click "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

/// The table without the figures that change from run to run: each row cut before its cost
/// columns, and without the guest line (which names where the guest came from) and the
/// highest-use line.
fn stable_table(text: &str) -> Vec<String> {
    let header = text
        .lines()
        .find(|l| l.starts_with("click "))
        .unwrap_or_else(|| panic!("no table in:\n{text}"));
    // "instructions" is right-aligned in 14 columns.
    let costs = header.find("instructions").unwrap() - 2;
    text.lines()
        .filter(|l| !l.starts_with("guest ") && !l.starts_with("highest use:"))
        .map(|l| {
            l.chars()
                .take(costs)
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

/// A moto server with SDK clients pointing at it, for one test.
struct Aws {
    moto: Moto,
    rt: tokio::runtime::Runtime,
    clients: AwsClients,
    endpoint: String,
}

impl Aws {
    fn start(test: &str) -> Option<Self> {
        let moto = Moto::start(test)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = rt.block_on(moto.sdk_config());
        Some(Self {
            clients: AwsClients::from_sdk_config(&config, true),
            endpoint: moto.endpoint(),
            moto,
            rt,
        })
    }

    fn clickrules(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        run::against(env!("CARGO_BIN_EXE_clickrules"), args, &self.endpoint, env)
    }

    /// A deployed clickrules function with these environment variables (moto stores it; with
    /// Docker off it never runs it).
    fn function(&self, name: &str, variables: &[(&str, &str)]) {
        self.rt.block_on(
            self.moto
                .clickrules_function(&self.clients.lambda, name, variables),
        );
    }

    fn bucket(&self, name: &str) {
        self.rt
            .block_on(self.clients.s3.create_bucket().bucket(name).send())
            .expect("create bucket");
    }

    fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.rt
            .block_on(
                self.clients
                    .s3
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(bytes.into())
                    .send(),
            )
            .expect("put object");
    }

    fn keys(&self, bucket: &str) -> Vec<String> {
        let listed = self
            .rt
            .block_on(self.clients.s3.list_objects_v2().bucket(bucket).send())
            .expect("list objects");
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }
}

#[test]
fn check_with_function_judges_the_guest_under_the_function_settings() {
    let Some(aws) = Aws::start("check_with_function_judges_the_guest_under_the_function_settings")
    else {
        return;
    };
    aws.function(
        "clickrules-prod",
        &[("CLICKRULES_ALLOWED_REGIONS", "eu-west-1")],
    );

    // The default guest backs up us-west-1, which the function does not allow.
    let out = aws.clickrules(
        &["check", guests::DEFAULT, "--function", "clickrules-prod"],
        &[],
    );
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert_eq!(
        text.lines().next(),
        Some("settings   from function clickrules-prod (us-east-1)"),
        "{text}"
    );
    let table = rows(&text);
    assert_eq!(table.len(), 24, "{text}");
    assert!(
        table.iter().all(|r| r
            .contains("  FAIL    invalid_actions: the guest's actions were rejected: action 1")),
        "{text}"
    );
    // The table cuts the message; under it, it is in full.
    assert!(
        text.lines().any(|l| l
            == "failed     invalid_actions (24 presses): the guest's actions were rejected: action 1 \
                (snapshot): region us-west-1 is not in the allowed regions (eu-west-1)"),
        "{text}"
    );
    assert_eq!(stderr(&out), "error: 24 of 24 presses failed\n");

    // The same as JSON.
    let out = aws.clickrules(
        &[
            "check",
            guests::DEFAULT,
            "--function",
            "clickrules-prod",
            "--json",
        ],
        &[],
    );
    assert_exit(&out, 1);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["settings"]["from"], "function");
    assert_eq!(report["settings"]["function"], "clickrules-prod");
    assert_eq!(report["settings"]["region"], "us-east-1");
    assert_eq!(
        report["settings"]["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:clickrules-prod"
    );
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 24);
    assert!(rows.iter().all(|r| r["result"] == "fail"
        && r["failure"]["kind"] == "invalid_actions"
        && r["decision"]["error"]["kind"] == "invalid_actions"));

    // An option given on the command line overrides the function's setting.
    let out = aws.clickrules(
        &[
            "check",
            guests::DEFAULT,
            "--function",
            "clickrules-prod",
            "--allowed-regions",
            "us-west-1",
        ],
        &[],
    );
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out).lines().next(),
        Some(
            "settings   from function clickrules-prod (us-east-1), overridden by --allowed-regions"
        )
    );

    // The environment's settings are not the function's: without --function they apply.
    let out = aws.clickrules(&["check", guests::DEFAULT], &[]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert_eq!(text.lines().next(), Some("settings   from the environment"));
    assert!(
        text.contains("24 presses: 24 ok, 0 failed, 0 skipped"),
        "{text}"
    );
    let out = aws.clickrules(
        &["check", guests::DEFAULT, "--json"],
        &[("CLICKRULES_ALLOWED_REGIONS", "eu-west-1")],
    );
    assert_exit(&out, 1);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["settings"],
        serde_json::json!({"from": "environment", "overrides": []})
    );
    // ... and with --function the environment's do not.
    let out = aws.clickrules(
        &[
            "check",
            "builtin:default",
            "--function",
            "clickrules-prod",
            "--allowed-regions",
            "us-west-1",
        ],
        &[("CLICKRULES_ALLOWED_REGIONS", "eu-west-1")],
    );
    assert_exit(&out, 0);

    // A function that cannot be read is an error, not the environment's settings.
    let out = aws.clickrules(
        &["check", guests::DEFAULT, "--function", "no-such-function"],
        &[],
    );
    assert_exit(&out, 1);
    assert!(
        stderr(&out)
            .starts_with("error: cannot read the configuration of function no-such-function: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn check_fails_presses_that_notify_when_there_is_no_topic() {
    let out = local(&["check", guests::BY_CLICK], &[], None);
    assert_exit(&out, 1);
    let text = stdout(&out);
    let table = rows(&text);
    assert_eq!(table.len(), 24, "{text}");
    let long: Vec<&&str> = table.iter().filter(|r| r.starts_with("LONG ")).collect();
    assert_eq!(long.len(), 8, "{text}");
    assert!(
        // The table cuts the message; the lines under it give it in full.
        long.iter().all(|r| r
            .contains("  FAIL    preflight: the guest asked for 1 notification(s) but")
            || r.contains("  FAIL    preflight: the guest asked for 2 notification(s) but")),
        "{text}"
    );
    // A press that only backs up passes; every one that notifies fails.
    for row in &table {
        assert_eq!(row.contains("  ok  "), !row.contains("  FAIL  "), "{row}");
    }
    assert!(table[0].contains("  ok      snapshot us-west-1"), "{text}");
    let failed = table.iter().filter(|r| r.contains("  FAIL  ")).count();
    assert!(failed >= 8, "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("failed     preflight (")
            && l.ends_with("but CLICKRULES_NOTIFY_TOPIC_ARN is not set; no action was executed")),
        "{text}"
    );
    assert_eq!(
        stderr(&out),
        format!("error: {failed} of 24 presses failed\n")
    );

    let out = local(
        &["check", guests::BY_CLICK, "--json"],
        &[("CLICKRULES_NOTIFY_TOPIC_ARN", TOPIC)],
        None,
    );
    assert_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["result"] == "ok"), "{report:#}");
    // What a dry run says each action would do, under the deployment's targets.
    let long = rows.iter().find(|r| r["click_type"] == "LONG").unwrap();
    assert_eq!(long["outcomes"][0]["receipt"]["kind"], "would_publish");
    assert_eq!(long["outcomes"][0]["receipt"]["topic_arn"], TOPIC);
}

#[test]
fn check_presses_as_each_serial_and_with_each_event() {
    let event = fixtures_dir().join("iot-button-double.json");
    let event = event.to_str().unwrap();
    let out = local(
        &[
            "check",
            guests::BY_CLICK,
            "--serial",
            "G030MYBUTTON0001",
            "--serial",
            "G030MYBUTTON0002",
            "--event",
            event,
        ],
        &[("CLICKRULES_NOTIFY_TOPIC_ARN", TOPIC)],
        None,
    );
    assert_exit(&out, 0);
    let text = stdout(&out);
    let table = rows(&text);
    assert_eq!(table.len(), 49, "{text}");
    for (serial, rows) in [
        ("G030MYBUTTON0001", &table[..24]),
        ("G030MYBUTTON0002", &table[24..48]),
    ] {
        assert!(
            rows.iter()
                .all(|r| r.split_whitespace().nth(1) == Some(serial)),
            "{text}"
        );
        assert!(
            rows[16].contains(&format!(r#"notify "Button {serial} held""#)),
            "{text}"
        );
    }
    assert!(!text.contains("G030SIMULATED001"), "{text}");
    let last = table[48];
    assert!(
        last.starts_with("event iot-button-double.json  G030JF055364XVRB  "),
        "{text}"
    );
    assert!(
        last.contains("1705 mV  ok      snapshot us-east-1"),
        "{text}"
    );
    assert!(
        text.contains("49 presses: 49 ok, 0 failed, 0 skipped"),
        "{text}"
    );

    // The event's row in JSON, and an event from stdin; a bad event fails its row.
    let out = local(
        &[
            "check",
            guests::DEFAULT,
            "--event",
            event,
            "--event",
            "-",
            "--json",
        ],
        &[],
        Some(br#"{"serialNumber":"G1","clickType":"HELD"}"#),
    );
    assert_exit(&out, 1);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 26);
    assert_eq!(rows[24]["event"], event);
    assert_eq!(rows[24]["click_type"], "DOUBLE");
    assert_eq!(rows[24]["serial_number"], "G030JF055364XVRB");
    assert_eq!(rows[24]["result"], "ok");
    assert_eq!(rows[25]["event"], "-");
    assert_eq!(rows[25]["result"], "fail");
    assert_eq!(rows[25]["failure"]["kind"], "bad_event");
    assert_eq!(stderr(&out), "error: 1 of 26 presses failed\n");
}

#[test]
fn check_of_a_guest_in_s3_prints_the_table_of_the_local_file() {
    let Some(aws) = Aws::start("check_of_a_guest_in_s3_prints_the_table_of_the_local_file") else {
        return;
    };
    aws.bucket("guests");
    aws.put("guests", "by-click.wasm", guest_bytes(guests::BY_CLICK));
    let env = [("CLICKRULES_NOTIFY_TOPIC_ARN", TOPIC)];

    let from_s3 = aws.clickrules(&["check", "s3://guests/by-click.wasm"], &env);
    assert_exit(&from_s3, 0);
    let local = aws.clickrules(&["check", guests::BY_CLICK], &env);
    assert_exit(&local, 0);
    let text = stdout(&from_s3);
    assert_eq!(stable_table(&text), stable_table(&stdout(&local)));
    assert!(
        text.lines()
            .any(|l| l.starts_with("guest s3://guests/by-click.wasm (sha256 ")),
        "{text}"
    );
    assert_eq!(rows(&text).len(), 24, "{text}");

    // Without the topic the same presses fail in both, the same way.
    let from_s3 = aws.clickrules(&["check", "s3://guests/by-click.wasm"], &[]);
    let local = aws.clickrules(&["check", guests::BY_CLICK], &[]);
    assert_exit(&from_s3, 1);
    assert_exit(&local, 1);
    assert_eq!(
        stable_table(&stdout(&from_s3)),
        stable_table(&stdout(&local))
    );
    assert_eq!(stderr(&from_s3), stderr(&local));

    let out = aws.clickrules(&["check", "s3://guests/missing.wasm"], &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("s3://guests/missing.wasm"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn upload_with_function_refuses_a_guest_the_function_settings_reject() {
    let Some(aws) = Aws::start("upload_with_function_refuses_a_guest_the_function_settings_reject")
    else {
        return;
    };
    aws.bucket("guests");
    aws.function(
        "clickrules-prod",
        &[
            ("CLICKRULES_GUEST", "s3://guests/guest.wasm"),
            ("CLICKRULES_ALLOWED_REGIONS", "eu-west-1"),
        ],
    );

    let out = aws.clickrules(
        &[
            "upload",
            guests::DEFAULT,
            "s3://guests/guest.wasm",
            "--function",
            "clickrules-prod",
        ],
        &[],
    );
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert_eq!(
        text.lines().next(),
        Some("settings   from function clickrules-prod (us-east-1)"),
        "{text}"
    );
    assert!(text.contains("FAIL    invalid_actions: "), "{text}");
    assert_eq!(
        stderr(&out),
        format!(
            "error: not uploading {}: 24 of 24 presses failed\n",
            guests::DEFAULT
        )
    );
    assert!(aws.keys("guests").is_empty(), "nothing was uploaded");

    // A guest the function accepts is uploaded, saying whose settings it was checked under.
    let out = aws.clickrules(
        &[
            "upload",
            guests::DEFAULT,
            "s3://guests/guest.wasm",
            "--function",
            "clickrules-prod",
            "--allowed-regions",
            "us-west-1",
        ],
        &[],
    );
    assert_exit(&out, 0);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "settings   from function clickrules-prod (us-east-1), overridden by --allowed-regions"
        )
    );
    assert_eq!(lines.next(), Some("checked    24 presses ok"));
    assert_eq!(stderr(&out), "");
    assert_eq!(aws.keys("guests"), ["guest.wasm"]);

    // --json says so too; an upload to where the function does not read is warned about.
    let out = aws.clickrules(
        &[
            "upload",
            guests::DEFAULT,
            "s3://guests/other.wasm",
            "--function",
            "clickrules-prod",
            "--allowed-regions",
            "us-west-1",
            "--json",
        ],
        &[],
    );
    assert_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["settings"]["from"], "function");
    assert_eq!(
        report["settings"]["overrides"],
        serde_json::json!(["--allowed-regions"])
    );
    assert_eq!(report["guest"]["uri"], "s3://guests/other.wasm");
    assert_eq!(
        stderr(&out),
        "warning: function clickrules-prod reads its guest from s3://guests/guest.wasm \
         (CLICKRULES_GUEST), not s3://guests/other.wasm: this upload does not change what it \
         runs\n"
    );
}
