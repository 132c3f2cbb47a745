//! `clickrules-local-lambda`: runs the real Lambda binary (`bootstrap`) on this machine for one
//! event, as Lambda runs it: a stand-in of the Lambda Runtime API hands it the event, and the
//! function's response (the press record) and the record it logged are printed.
//!
//! ```sh
//! cargo run -p clickrules-test-support --bin clickrules-local-lambda -- \
//!     --event tests/fixtures/events/iot-button-single.json
//! ```
//!
//! AWS calls the function makes (the snapshot's Lambda Invoke, SNS, S3...) go by default to a
//! stand-in on 127.0.0.1 that accepts every request (HTTP 200, `{}`) and lists it, so no AWS
//! account is needed; `--aws-endpoint URL` sends them to an emulator such as moto instead, and
//! `--real-aws` to AWS with your credentials. The function's settings are the `CLICKRULES_*`
//! variables of this environment plus `--env KEY=VALUE`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clickrules_test_support::runtime_api::RuntimeApi;

const USAGE: &str = "\
usage: clickrules-local-lambda [--event FILE|-] [--env KEY=VALUE]... [--aws-endpoint URL | --real-aws]
                               [--bootstrap PATH] [--request-id ID] [--logs]

Runs the Lambda function (the bootstrap binary) for one event through a stand-in of the Lambda
Runtime API, then prints the function's response and the press record it logged.

  --event FILE|-       the event (default: a SINGLE press of a classic IoT button)
  --env KEY=VALUE      a variable of the function, e.g. CLICKRULES_GUEST=my_guest.wasm (repeatable;
                       the CLICKRULES_* variables of this environment apply too)
  --aws-endpoint URL   send the function's AWS calls there (e.g. moto: http://127.0.0.1:5000)
  --real-aws           send them to AWS, with your credentials and region
                       (default: a local stand-in that answers every call with 200 {} and lists it)
  --bootstrap PATH     the function binary (default: cargo build -p clickrules-lambda, then the
                       bootstrap next to this binary)
  --request-id ID      the invocation's request id (default: local-1)
  --logs               also print every line the function logged
";

/// How long the function gets for the one event (its init included).
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Options {
    event: Option<PathBuf>,
    env: Vec<(String, String)>,
    aws_endpoint: Option<String>,
    real_aws: bool,
    bootstrap: Option<PathBuf>,
    request_id: Option<String>,
    logs: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--event" => options.event = Some(value("--event")?.into()),
            "--env" => {
                let pair = value("--env")?;
                let (key, val) = pair
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("--env {pair}: expected KEY=VALUE"))?;
                options.env.push((key.to_string(), val.to_string()));
            }
            "--aws-endpoint" => options.aws_endpoint = Some(value("--aws-endpoint")?),
            "--real-aws" => options.real_aws = true,
            "--bootstrap" => options.bootstrap = Some(value("--bootstrap")?.into()),
            "--request-id" => options.request_id = Some(value("--request-id")?),
            "--logs" => options.logs = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.real_aws && options.aws_endpoint.is_some() {
        return Err("--aws-endpoint and --real-aws exclude each other".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) if why.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("clickrules-local-lambda: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(code) => code,
        Err(why) => {
            eprintln!("clickrules-local-lambda: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<ExitCode, String> {
    let event = match &options.event {
        Some(path) if path.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read the event from stdin: {e}"))?;
            buf
        }
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read the event {}: {e}", path.display()))?,
        None => {
            br#"{"serialNumber":"G030LOCAL0000001","clickType":"SINGLE","batteryVoltage":"1705mV"}"#
                .to_vec()
        }
    };
    let bootstrap = match &options.bootstrap {
        Some(path) => path.clone(),
        None => build_bootstrap()?,
    };
    let request_id = options.request_id.as_deref().unwrap_or("local-1");

    let stand_in = match (&options.aws_endpoint, options.real_aws) {
        (None, false) => Some(AwsStandIn::start()?),
        _ => None,
    };
    let api = RuntimeApi::start(vec![(request_id, event)]);

    let mut command = Command::new(&bootstrap);
    command
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", "clickrules-local")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        command.env("AWS_REGION", "us-east-1");
    }
    let endpoint = match (&stand_in, &options.aws_endpoint) {
        (Some(stand_in), _) => Some(stand_in.endpoint()),
        (None, Some(url)) => Some(url.clone()),
        (None, None) => None,
    };
    if let Some(endpoint) = &endpoint {
        // An emulator takes any credentials; never send real ones to it.
        for name in ["AWS_PROFILE", "AWS_SESSION_TOKEN"] {
            command.env_remove(name);
        }
        command
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true");
    }
    command
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bootstrap.display()))?;

    // The reply, or the function ending without one (a failed init exits).
    let started = Instant::now();
    let mut exited = None;
    while api.reply_count() == 0 && exited.is_none() && started.elapsed() < WAIT {
        exited = child.try_wait().map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(20));
    }
    let replies = if api.reply_count() > 0 {
        api.replies(1)
    } else {
        Vec::new()
    };
    if exited.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let logs = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    println!(
        "function   {} ({} AWS calls)",
        bootstrap.display(),
        match (&stand_in, &endpoint) {
            (Some(_), _) => "stand-in answering".to_string(),
            (None, Some(url)) => format!("{url} answering"),
            (None, None) => "real".to_string(),
        }
    );
    let mut code = ExitCode::SUCCESS;
    match replies.first() {
        Some(reply) => {
            println!("--- the function's {} to {}", reply.kind, reply.request_id);
            println!("{}", pretty(&reply.body));
            let ok = reply.body.get("ok").and_then(serde_json::Value::as_bool);
            if reply.kind != "response" || ok == Some(false) {
                code = ExitCode::FAILURE;
            }
        }
        None => {
            let why = match exited {
                Some(status) => format!("the function exited ({status}) without answering"),
                None => format!("the function did not answer within {WAIT:?}"),
            };
            println!("--- no response: {why}");
            code = ExitCode::FAILURE;
        }
    }
    // The record's log line as CloudWatch Logs gets it: one JSON line, with its metrics.
    let records: Vec<&str> = logs
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .is_ok_and(|line| line["target"] == "clickrules::record")
        })
        .collect();
    for record in &records {
        println!("--- the press record it logged (one line; in AWS, in the function's log group)");
        println!("{record}");
    }
    if let Some(stand_in) = &stand_in {
        let calls = stand_in.calls();
        println!(
            "--- AWS calls it made ({}, each answered 200 {{}})",
            calls.len()
        );
        for call in calls {
            println!("{call}");
        }
    }
    if options.logs || code != ExitCode::SUCCESS && records.is_empty() {
        println!("--- the function's log");
        print!("{logs}{stderr}");
    }
    Ok(code)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Builds `bootstrap` with cargo (quick when it is up to date) into the target directory this
/// binary is in, and returns its path.
fn build_bootstrap() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    // <target dir>/<profile>/clickrules-local-lambda
    let profile_dir = exe.parent().ok_or("this binary has no directory")?;
    let target_dir = profile_dir
        .parent()
        .ok_or("this binary is not in a target directory")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "-p",
            "clickrules-lambda",
            "--bin",
            "bootstrap",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        command.arg("--release");
    }
    eprintln!("building   bootstrap (cargo build -p clickrules-lambda --bin bootstrap)");
    let status = command.status().map_err(|e| {
        format!("cannot run cargo to build bootstrap: {e} (or pass --bootstrap PATH)")
    })?;
    if !status.success() {
        return Err(format!(
            "cargo build -p clickrules-lambda failed ({status}); pass --bootstrap PATH to use a built one"
        ));
    }
    let bootstrap = profile_dir.join("bootstrap");
    if !bootstrap.is_file() {
        return Err(format!(
            "{} was not built; pass --bootstrap PATH",
            bootstrap.display()
        ));
    }
    Ok(bootstrap)
}

/// Accepts every AWS request with 200 `{}` and keeps `METHOD PATH BODY` of each.
struct AwsStandIn {
    port: u16,
    calls: Arc<Mutex<Vec<String>>>,
}

impl AwsStandIn {
    fn start() -> Result<Self, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&calls);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || answer(stream, &shared));
            }
        });
        Ok(Self { port, calls })
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Answers each request of a connection (the SDK keeps connections open between calls) and
/// keeps `METHOD PATH (X-Amz-Target) BODY` of each.
fn answer(stream: TcpStream, calls: &Mutex<Vec<String>>) -> Option<()> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).ok()? == 0 {
            return Some(());
        }
        let (mut length, mut target) = (0usize, String::new());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("x-amz-target") {
                    target = format!(" ({})", value.trim());
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        let mut words = request_line.split_whitespace();
        let call = format!(
            "{} {}{target} {}",
            words.next().unwrap_or("?"),
            words.next().unwrap_or("?"),
            String::from_utf8_lossy(&body)
        );
        calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call.trim_end().to_string());
        writer
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            )
            .ok()?;
    }
}
