//! The deployment template (`deploy/template.yaml`) and the packaging checks.
//!
//! The template is parsed with `serde_yaml_ng`, which keeps CloudFormation's short-form tags
//! (`!Ref`, `!Sub`, `!If`, ...) as tagged values, turned into their long form (`Ref`,
//! `Fn::Sub`, ...) and then *resolved* for a given set of parameters, as CloudFormation does
//! at deploy time: conditions are evaluated, `AWS::NoValue` drops the entry, `!Sub` is expanded.
//! A resource of the stack stands for itself as `<Logical>` (`!Ref`) or `<Logical.Attr>`
//! (`!GetAtt`). So the assertions read like the deployed stack: "the function may invoke
//! `arn:aws:lambda:us-west-1:123456789012:function:scheduled_snapshot:prod`".
//!
//! Conditional resources (the source rules, the webhook function) are checked in stacks that
//! create them: [`variants`] sets every condition both ways, and the scanners also run on a
//! copy of the template whose defaults turn everything on ([`all_on_template`]).
//!
//! moto's CloudFormation cannot create this stack: moto 5.2 has no `AWS::IoT::TopicRule`,
//! `AWS::Lambda::EventInvokeConfig`, `AWS::S3::BucketPolicy` or `AWS::SQS::QueuePolicy`, and
//! CreateStack fails on the `!GetAtt PressRule.Arn` the invoke permission needs. A test on a
//! template with those removed would test another template, so there is none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clickrules_aws::settings::Settings;
use serde_json::{Map, Value, json};

const REGION: &str = "us-west-1";
const ACCOUNT: &str = "123456789012";

/// Actions without resource-level permissions: only these may have `Resource: "*"`. None is
/// used today; X-Ray tracing would need the first two.
const NO_RESOURCE_LEVEL_ACTIONS: &[&str] = &["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

fn template_path() -> PathBuf {
    repo_root().join("deploy/template.yaml")
}

// ---------------------------------------------------------------------------------------------
// Parsing: YAML with short-form tags -> JSON with long-form intrinsic functions.

fn template() -> Value {
    let text = std::fs::read_to_string(template_path()).expect("deploy/template.yaml is readable");
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("template is YAML");
    long_form(yaml)
}

fn long_form(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).expect("a YAML number is a JSON number"),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(long_form).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let Y::String(k) = k else {
                        panic!("a template key that is not a string: {k:?}")
                    };
                    (k, long_form(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = long_form(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: value }),
                // `!GetAtt A.B` is the string form of `Fn::GetAtt: [A, B]`.
                "GetAtt" => {
                    let Value::String(s) = &value else {
                        return json!({ "Fn::GetAtt": value });
                    };
                    let (resource, attribute) = s.split_once('.').expect("!GetAtt Resource.Attr");
                    json!({ "Fn::GetAtt": [resource, attribute] })
                }
                "Sub" | "If" | "Equals" | "Not" | "And" | "Or" | "Join" | "Select" | "Split"
                | "FindInMap" | "Base64" | "Cidr" | "GetAZs" | "ImportValue" => {
                    json!({ format!("Fn::{name}"): value })
                }
                _ => panic!("unknown CloudFormation tag {tag}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving: the template as CloudFormation would deploy it with some parameters.

struct Stack {
    template: Value,
    parameters: BTreeMap<String, String>,
}

impl Stack {
    /// The stack with the parameters' defaults and the required code location, overridden by
    /// `overrides`.
    fn with(overrides: &[(&str, &str)]) -> Self {
        let template = template();
        let mut parameters = BTreeMap::new();
        for (name, spec) in template["Parameters"]
            .as_object()
            .expect("template has Parameters")
        {
            if let Some(default) = spec.get("Default") {
                parameters.insert(name.clone(), scalar(default));
            }
        }
        parameters.insert("CodeS3Bucket".into(), "artifacts".into());
        parameters.insert("CodeS3KeyPrefix".into(), "clickrules/0123abcd/".into());
        for (name, value) in overrides {
            assert!(
                template["Parameters"].get(*name).is_some(),
                "no parameter {name}"
            );
            parameters.insert(name.to_string(), value.to_string());
        }
        Self {
            template,
            parameters,
        }
    }

    fn condition(&self, name: &str) -> bool {
        let spec = self.template["Conditions"]
            .get(name)
            .unwrap_or_else(|| panic!("no condition {name}"));
        self.truth(spec)
    }

    fn truth(&self, spec: &Value) -> bool {
        let (function, args) = single_entry(spec);
        match function {
            "Condition" => self.condition(args.as_str().expect("condition name")),
            "Fn::Not" => !self.truth(&args[0]),
            "Fn::And" => args.as_array().unwrap().iter().all(|a| self.truth(a)),
            "Fn::Or" => args.as_array().unwrap().iter().any(|a| self.truth(a)),
            "Fn::Equals" => self.resolve(&args[0]) == self.resolve(&args[1]),
            _ => panic!("not a condition function: {function}"),
        }
    }

    /// Whether the stack creates `logical` (its `Condition`, if any, holds).
    fn creates(&self, logical: &str) -> bool {
        let resource = &self.template["Resources"][logical];
        assert!(resource.is_object(), "no resource {logical}");
        resource
            .get("Condition")
            .is_none_or(|c| self.condition(c.as_str().unwrap()))
    }

    /// The resource's properties, resolved.
    fn properties(&self, logical: &str) -> Value {
        assert!(self.creates(logical), "{logical} is not created");
        self.resolve(&self.template["Resources"][logical]["Properties"])
            .unwrap_or(Value::Null)
    }

    fn resources_of_type(&self, resource_type: &str) -> Vec<String> {
        self.template["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, r)| r["Type"] == resource_type && self.creates(name))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `None` is `AWS::NoValue`: the enclosing entry disappears.
    fn resolve(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            Value::Object(map) if map.len() == 1 && is_intrinsic(map.keys().next().unwrap()) => {
                self.intrinsic(value)
            }
            Value::Object(map) => Some(Value::Object(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
                    .collect::<Map<_, _>>(),
            )),
            other => Some(other.clone()),
        }
    }

    fn intrinsic(&self, value: &Value) -> Option<Value> {
        let (function, args) = single_entry(value);
        Some(match function {
            "Ref" => return self.reference(args.as_str().expect("!Ref name")),
            "Fn::GetAtt" => json!(format!("<{}.{}>", args[0].as_str()?, args[1].as_str()?)),
            "Fn::If" => {
                let chosen = if self.condition(args[0].as_str().expect("condition")) {
                    &args[1]
                } else {
                    &args[2]
                };
                return self.resolve(chosen);
            }
            "Fn::Sub" => match args {
                Value::String(text) => json!(self.substitute(text, &BTreeMap::new())),
                // `!Sub [template, {Name: value}]`: the names are resolved first.
                Value::Array(parts) => {
                    let text = parts[0].as_str().expect("!Sub template");
                    let vars = parts[1]
                        .as_object()
                        .expect("!Sub variables")
                        .iter()
                        .map(|(k, v)| (k.clone(), scalar(&self.resolve(v).expect("a value"))))
                        .collect();
                    json!(self.substitute(text, &vars))
                }
                other => panic!("!Sub {other}"),
            },
            "Fn::Select" => {
                let index = scalar(&args[0]).parse::<usize>().expect("!Select index");
                let list = self.resolve(&args[1])?;
                let items = list.as_array().expect("!Select from a list");
                // CloudFormation fails the stack on an index out of range.
                items
                    .get(index)
                    .unwrap_or_else(|| panic!("!Select {index} out of range of {list}"))
                    .clone()
            }
            "Fn::Split" => {
                let delimiter = args[0].as_str().expect("!Split delimiter");
                let text = scalar(&self.resolve(&args[1])?);
                json!(text.split(delimiter).collect::<Vec<_>>())
            }
            "Fn::Join" => {
                let parts = self.resolve(&args[1])?;
                let parts: Vec<String> = parts.as_array()?.iter().map(scalar).collect();
                json!(parts.join(args[0].as_str()?))
            }
            _ => panic!("the tests do not resolve {function}; teach them"),
        })
    }

    fn reference(&self, name: &str) -> Option<Value> {
        Some(json!(match name {
            "AWS::NoValue" => return None,
            "AWS::Partition" => "aws".to_string(),
            "AWS::Region" => REGION.to_string(),
            "AWS::AccountId" => ACCOUNT.to_string(),
            "AWS::StackName" => "clickrules".to_string(),
            _ => match self.parameters.get(name) {
                Some(value) => value.clone(),
                None => {
                    assert!(self.creates(name), "!Ref {name}: not created");
                    format!("<{name}>")
                }
            },
        }))
    }

    fn substitute(&self, text: &str, vars: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("unclosed ${") + start;
            let name = &rest[start + 2..end];
            let value = match name.split_once('.') {
                _ if vars.contains_key(name) => vars[name].clone(),
                Some((resource, attribute)) if !name.starts_with("AWS::") => {
                    format!("<{resource}.{attribute}>")
                }
                _ => scalar(&self.reference(name).expect("${AWS::NoValue} in !Sub")),
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn function_environment(&self) -> BTreeMap<String, String> {
        self.environment("Function")
    }

    /// A function's environment variables, resolved (a `AWS::NoValue` one is absent).
    fn environment(&self, function: &str) -> BTreeMap<String, String> {
        let function = self.properties(function);
        function["Environment"]["Variables"]
            .as_object()
            .expect("the function has environment variables")
            .iter()
            .map(|(k, v)| (k.clone(), scalar(v)))
            .collect()
    }

    /// Every `Allow` statement of every identity policy, resolved: (where, actions, resources).
    fn allow_statements(&self) -> Vec<Statement> {
        let mut out = Vec::new();
        for role in self.resources_of_type("AWS::IAM::Role") {
            let properties = self.properties(&role);
            for policy in properties["Policies"].as_array().into_iter().flatten() {
                let name = format!("{role}/{}", scalar(&policy["PolicyName"]));
                out.extend(statements(&name, &policy["PolicyDocument"]));
            }
            assert!(
                properties.get("ManagedPolicyArns").is_none(),
                "{role} attaches managed policies, which this test cannot see into"
            );
        }
        for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
            for policy in self.resources_of_type(kind) {
                out.extend(statements(
                    &policy,
                    &self.properties(&policy)["PolicyDocument"],
                ));
            }
        }
        out.retain(|s| s.allow);
        out
    }

    /// The statements of the function's own role that allow `action`.
    fn function_grants(&self, action: &str) -> Vec<Statement> {
        let role = self.properties("Function")["Role"].clone();
        assert_eq!(role, json!("<FunctionRole.Arn>"));
        self.role_grants("FunctionRole", action)
    }

    /// The statements that allow `action` to `role`: its inline policies and the stack's
    /// `AWS::IAM::Policy` resources attached to it.
    fn role_grants(&self, role: &str, action: &str) -> Vec<Statement> {
        let attached: Vec<String> = self
            .resources_of_type("AWS::IAM::Policy")
            .into_iter()
            .filter(|p| {
                self.properties(p)["Roles"]
                    .as_array()
                    .is_some_and(|roles| roles.contains(&json!(format!("<{role}>"))))
            })
            .collect();
        self.allow_statements()
            .into_iter()
            .filter(|s| s.place.starts_with(&format!("{role}/")) || attached.contains(&s.place))
            .filter(|s| s.allows(action))
            .collect()
    }

    /// The `AWS::Lambda::Permission` resources created for `function` (`<Logical>` or
    /// `<Logical.Arn>`), by logical id.
    fn permissions_of(&self, function: &str) -> BTreeMap<String, Value> {
        self.resources_of_type("AWS::Lambda::Permission")
            .into_iter()
            .map(|p| (p.clone(), self.properties(&p)))
            .filter(|(_, p)| {
                p["FunctionName"] == format!("<{function}>")
                    || p["FunctionName"] == format!("<{function}.Arn>")
            })
            .collect()
    }
}

#[derive(Debug)]
struct Statement {
    place: String,
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
}

impl Statement {
    fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|a| {
            a.eq_ignore_ascii_case(action)
                || a.strip_suffix('*').is_some_and(|prefix| {
                    action
                        .to_ascii_lowercase()
                        .starts_with(&prefix.to_ascii_lowercase())
                })
        })
    }
}

fn statements(place: &str, document: &Value) -> Vec<Statement> {
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(items) => items.iter().map(scalar).collect(),
            Value::Null => Vec::new(),
            one => vec![scalar(one)],
        }
    };
    let statements = match &document["Statement"] {
        Value::Array(items) => items.clone(),
        one => vec![one.clone()],
    };
    statements
        .iter()
        .map(|s| {
            assert!(
                s.get("NotAction").is_none() && s.get("NotResource").is_none(),
                "{place}: NotAction/NotResource grant more than they name"
            );
            Statement {
                place: place.to_string(),
                allow: s["Effect"] == "Allow",
                actions: list(&s["Action"]),
                resources: list(&s["Resource"]),
            }
        })
        .collect()
}

fn single_entry(value: &Value) -> (&str, &Value) {
    let map = value.as_object().expect("an intrinsic function");
    assert_eq!(map.len(), 1, "{value}");
    let (k, v) = map.iter().next().unwrap();
    (k.as_str(), v)
}

fn is_intrinsic(key: &str) -> bool {
    key == "Ref" || key == "Condition" || key.starts_with("Fn::")
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other}"),
    }
}

fn snapshot_arn(rest: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{rest}")
}

/// A Secrets Manager secret's full ARN (with the random suffix IAM needs).
const SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-west-1:123456789012:secret:clickrules/webhook-AbC123";
/// Another one, for the Flic key.
const FLIC_KEY_ARN: &str =
    "arn:aws:secretsmanager:us-west-1:123456789012:secret:clickrules/flic-key-XyZ789";

/// Every source rule, the webhook function and both secret references on.
const ALL_ON: &[(&str, &str)] = &[
    ("TopicFilter", "iotbutton/+"),
    ("ShellyGen1TopicFilter", "shellies/+/input_event/+"),
    ("ShellyGen2TopicFilter", "+/events/rpc"),
    ("Zigbee2MqttTopicFilter", "zigbee2mqtt/+"),
    (
        "AllowedDevices",
        "shelly-gen2:shellyplusi4-a8032ab12345,zigbee2mqtt:hall switch",
    ),
    ("EnableWebhook", "true"),
    ("WebhookSources", "webhook,flic"),
    ("WebhookSecretParameter", "ssm:/clickrules/webhook-secret"),
    (
        "FlicButtons",
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f",
    ),
    ("FlicPublicKeyParameter", FLIC_KEY_ARN),
    ("WebhookReservedConcurrency", "5"),
];

/// The variants of the stack the policy checks run on: every condition both ways.
fn variants() -> Vec<Stack> {
    vec![
        Stack::with(&[]),
        Stack::with(ALL_ON),
        // The webhook function alone: no MQTT rule, the secret in Secrets Manager, the Flic
        // key in SSM, no Flic buttons, no reserved concurrency ("0" reserves none).
        Stack::with(&[
            ("TopicFilter", ""),
            ("EnableWebhook", "true"),
            ("WebhookSecretParameter", SECRET_ARN),
            ("FlicPublicKeyParameter", "ssm:/clickrules/flic-public-key"),
            ("WebhookReservedConcurrency", "0"),
            ("SnapshotQualifier", ""),
        ]),
        Stack::with(&[
            ("SnapshotQualifier", ""),
            ("GuestObject", ""),
            ("NotifyEmail", "ops@example.com"),
        ]),
        Stack::with(&[
            (
                "NotifyTopicArn",
                "arn:aws:sns:us-west-1:123456789012:existing",
            ),
            ("GuestSettingRegion", "eu-west-1"),
            ("GuestSettingSecondRegion", "eu-central-1"),
            ("GuestSettingLowBatteryMv", "1600"),
        ]),
    ]
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// A copy of the template whose parameter defaults are [`ALL_ON`], so that tools that read
/// the defaults to decide which resources exist (checkov does) see every resource. `name`
/// keeps concurrent tests apart.
fn all_on_template(name: &str) -> PathBuf {
    let mut text = std::fs::read_to_string(template_path()).expect("template is readable");
    for (parameter, value) in ALL_ON {
        let head = format!("\n  {parameter}:\n    Type: String\n    Default: ");
        let start = text
            .find(&head)
            .unwrap_or_else(|| panic!("no `{parameter}: Type: String, Default:` in the template"))
            + head.len();
        let end = start + text[start..].find('\n').expect("a line end");
        // A JSON string is a YAML double-quoted scalar.
        text.replace_range(start..end, &json!(value).to_string());
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("template-all-on-{name}.yaml"));
    std::fs::write(&path, text).expect("the copy is written");
    path
}

#[test]
fn all_on_template_defaults_to_the_all_on_stack() {
    let text = std::fs::read_to_string(all_on_template("defaults")).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let copy = long_form(yaml);
    for (parameter, value) in ALL_ON {
        assert_eq!(
            copy["Parameters"][parameter]["Default"], *value,
            "{parameter}"
        );
    }
}

#[test]
fn template_passes_cfn_lint() {
    for path in [template_path(), all_on_template("cfn-lint")] {
        cfn_lint(&path);
    }
}

/// The linter pinned in `tests/tools/NAME.txt`, installed into a virtual environment under
/// target/ on first use (checkov pins boto3 and botocore versions of its own, so each tool has
/// its own); `None`, said loudly, only when Python is missing outside CI.
fn linter(name: &str, executable: &str) -> Option<PathBuf> {
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tools/{name}.txt"));
    match clickrules_guest_build::python_tool(&requirements, executable) {
        Ok(path) => Some(path),
        Err(e @ clickrules_guest_build::ProvisionError::RuntimeMissing { .. })
            if !clickrules_guest_build::in_ci() =>
        {
            clickrules_guest_build::shout(&format!(
                "SKIPPED the {name} check of the template: {e}"
            ));
            None
        }
        Err(e) => panic!("cannot install {name}: {e}"),
    }
}

fn cfn_lint(path: &Path) {
    let Some(cfn_lint) = linter("cfn-lint", "cfn-lint") else {
        return;
    };
    let output = Command::new(&cfn_lint)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{} could not be run: {e}", cfn_lint.display()));
    assert!(
        output.status.success(),
        "cfn-lint found problems in {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// checkov 3.x, the scanner many users put in front of CloudFormation: no finding, and every
/// check the template skips carries its reason in the template. checkov leaves out resources
/// whose condition is false with the parameters' defaults, so it also scans the all-on copy.
#[test]
fn template_passes_checkov() {
    if checkov(&template_path()).is_none() {
        return;
    }
    let scanned = checkov(&all_on_template("checkov")).expect("checkov ran on the template");
    for resource in [
        "AWS::Lambda::Function.WebhookFunction",
        "AWS::Lambda::Url.WebhookFunctionUrl",
        "AWS::IAM::Role.WebhookFunctionRole",
        "AWS::IAM::Policy.WebhookSecretReadPolicy",
        "AWS::Lambda::Permission.Zigbee2MqttPressRulePermission",
    ] {
        assert!(
            scanned.contains(resource),
            "checkov did not scan {resource}: {scanned:#?}"
        );
    }
}

/// The resources checkov checked (`None`: checkov is not installed, outside CI).
fn checkov(path: &Path) -> Option<std::collections::BTreeSet<String>> {
    let checkov = linter("checkov", "checkov")?;
    let output = match Command::new(&checkov)
        .args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "-o",
            "json",
            "-f",
        ])
        .arg(path)
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!("{} could not be run: {e}", checkov.display()),
    };
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON report ({e}):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let results = &report["results"];
    let failed = results["failed_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let named: Vec<String> = failed
        .iter()
        .map(|c| format!("{} on {}", c["check_id"], c["resource"]))
        .collect();
    assert!(
        failed.is_empty(),
        "checkov findings in {}: {named:#?}",
        path.display()
    );
    for skipped in results["skipped_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let reason = skipped["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or("");
        assert!(
            reason.len() > 20,
            "{} is skipped without a reason",
            skipped["check_id"]
        );
    }
    assert!(
        results["passed_checks"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "checkov ran no checks: {report}"
    );
    let mut scanned = std::collections::BTreeSet::new();
    for kind in ["passed_checks", "skipped_checks"] {
        for check in results[kind].as_array().into_iter().flatten() {
            scanned.insert(scalar(&check["resource"]));
        }
    }
    Some(scanned)
}

#[test]
fn alarms_watch_the_dead_letter_queue_and_failed_presses() {
    let stack = Stack::with(&[]);
    let dlq = stack.properties("DeadLetterAlarm");
    assert_eq!(dlq["Namespace"], "AWS/SQS");
    assert_eq!(dlq["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(dlq["Dimensions"][0]["Value"], "<DeadLetterQueue.QueueName>");
    assert_eq!(dlq["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(dlq["Threshold"], serde_json::json!(0));
    let failed = stack.properties("FailedPressAlarm");
    // The metric the record lines publish (Embedded Metric Format), per function.
    assert_eq!(failed["Namespace"], clickrules_aws::METRICS_NAMESPACE);
    assert_eq!(failed["MetricName"], "Failures");
    assert_eq!(failed["Dimensions"][0]["Name"], "function");
    assert_eq!(failed["Dimensions"][0]["Value"], "<Function>");
    // Without an alarm topic the alarms have no actions; with one, both notify it.
    assert!(dlq.get("AlarmActions").is_none_or(Value::is_null), "{dlq}");
    let topic = "arn:aws:sns:us-east-1:123456789012:ops";
    let stack = Stack::with(&[("AlarmTopicArn", topic)]);
    for alarm in ["DeadLetterAlarm", "FailedPressAlarm"] {
        assert_eq!(
            stack.properties(alarm)["AlarmActions"],
            serde_json::json!([topic]),
            "{alarm}"
        );
    }
}

#[test]
fn the_notification_topic_is_encrypted_and_presses_no_retry_can_fix_are_dead_lettered() {
    let stack = Stack::with(&[]);
    assert_eq!(
        stack.properties("NotifyTopic")["KmsMasterKeyId"],
        "alias/aws/sns"
    );
    let env = stack.function_environment();
    assert_eq!(env["CLICKRULES_DEAD_LETTER_QUEUE_URL"], "<DeadLetterQueue>");
    let concurrency = Stack::with(&[("ReservedConcurrency", "5")]).properties("Function");
    assert_eq!(concurrency["ReservedConcurrentExecutions"], "5");
    let none = stack.properties("Function");
    assert!(
        none.get("ReservedConcurrentExecutions")
            .is_none_or(Value::is_null)
    );
}

/// The press ledger: an on-demand table keyed by `pk` with TTL on `ttl`, kept when the stack
/// goes, with point-in-time recovery; the function may make only the two item calls the ledger
/// makes, on that table, and is told its name and retention.
#[test]
fn the_press_ledger_table_is_least_privilege_and_kept() {
    let stack = Stack::with(&[("LedgerRetentionHours", "24")]);
    let table = stack.properties("LedgerTable");
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["KeySchema"],
        serde_json::json!([{"AttributeName": "pk", "KeyType": "HASH"}])
    );
    assert_eq!(
        table["AttributeDefinitions"],
        serde_json::json!([
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "device", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
            {"AttributeName": "day", "AttributeType": "S"},
        ])
    );
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], "ttl");
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        assert_eq!(
            stack.template["Resources"]["LedgerTable"][policy], "Retain",
            "{policy}"
        );
    }
    // DeleteItem: a device counter's press replaces the earlier press that reused it.
    for action in [
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ] {
        let found = stack.function_grants(action);
        assert_eq!(found.len(), 1, "{action}: {found:#?}");
        assert_eq!(found[0].resources, ["<LedgerTable.Arn>"], "{action}");
    }
    for denied in [
        "dynamodb:PutItem",
        "dynamodb:Scan",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteTable",
    ] {
        assert!(
            stack.function_grants(denied).is_empty(),
            "{denied} must not be granted"
        );
    }
    let env = stack.function_environment();
    assert_eq!(env["CLICKRULES_LEDGER_TABLE"], "<LedgerTable>");
    assert_eq!(env["CLICKRULES_LEDGER_RETENTION_HOURS"], "24");
}

/// Press history: two sparse indexes on the ledger table, on demand like it, projecting the
/// records; the retention of each kind of press reaches both functions; the operators get a
/// managed policy of item calls on the table and queries of exactly the two indexes.
#[test]
fn press_history_has_its_indexes_retention_and_operator_policy() {
    let mut overrides = ALL_ON.to_vec();
    overrides.extend([
        ("HistoryOkRetentionDays", "3"),
        ("HistoryFailedRetentionDays", "90"),
    ]);
    let stack = Stack::with(&overrides);
    let table = stack.properties("LedgerTable");
    let index = |hash: &str| {
        json!({
            "KeySchema": [
                {"AttributeName": hash, "KeyType": "HASH"},
                {"AttributeName": "at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        })
    };
    let indexes: BTreeMap<String, Value> = table["GlobalSecondaryIndexes"]
        .as_array()
        .expect("the ledger table has global secondary indexes")
        .iter()
        .map(|i| {
            let mut i = i.clone();
            let name = i["IndexName"].as_str().unwrap().to_string();
            i.as_object_mut().unwrap().remove("IndexName");
            (name, i)
        })
        .collect();
    assert_eq!(
        indexes,
        BTreeMap::from([
            (clickrules_aws::BY_DEVICE_INDEX.to_string(), index("device")),
            (clickrules_aws::BY_DAY_INDEX.to_string(), index("day")),
        ]),
        "on demand: no throughput of their own"
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"],
        json!({"PointInTimeRecoveryEnabled": true})
    );
    for function in ["Function", "WebhookFunction"] {
        let env = stack.environment(function);
        assert_eq!(env["CLICKRULES_HISTORY_OK_DAYS"], "3", "{function}");
        assert_eq!(env["CLICKRULES_HISTORY_FAILED_DAYS"], "90", "{function}");
        let settings = Settings::from_env(&env).unwrap();
        assert_eq!(
            settings.history_retention.failed,
            std::time::Duration::from_secs(90 * 86_400)
        );
    }
    let defaults = Stack::with(&[]).function_environment();
    assert_eq!(defaults["CLICKRULES_HISTORY_OK_DAYS"], "7");
    assert_eq!(defaults["CLICKRULES_HISTORY_FAILED_DAYS"], "30");
    let group = stack.template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|g| {
            let names: Vec<&str> = g["Parameters"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            names.contains(&"LedgerRetentionHours").then_some(names)
        })
        .expect("a group holds LedgerRetentionHours");
    let at = group
        .iter()
        .position(|p| *p == "LedgerRetentionHours")
        .unwrap();
    assert_eq!(
        group[at + 1..at + 3],
        ["HistoryOkRetentionDays", "HistoryFailedRetentionDays"]
    );

    // The operators' policy: exactly these, on exactly these.
    let operator: Vec<Statement> = stack
        .allow_statements()
        .into_iter()
        .filter(|s| s.place == "OperatorPolicy")
        .collect();
    let granted: BTreeMap<&str, Vec<&str>> = operator
        .iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .map(|a| (a.as_str(), s.resources.iter().map(String::as_str).collect()))
        })
        .collect();
    let table_arn = vec!["<LedgerTable.Arn>"];
    assert_eq!(
        granted,
        BTreeMap::from([
            ("dynamodb:BatchWriteItem", table_arn.clone()),
            ("dynamodb:DeleteItem", table_arn.clone()),
            ("dynamodb:GetItem", table_arn.clone()),
            (
                "dynamodb:Query",
                vec![
                    "<LedgerTable.Arn>/index/by-device",
                    "<LedgerTable.Arn>/index/by-day"
                ]
            ),
            ("dynamodb:UpdateItem", table_arn),
        ])
    );
    assert!(
        stack.properties("OperatorPolicy").get("Users").is_none(),
        "attached by the operators to their own role or group"
    );
    assert_eq!(
        stack.template["Outputs"]["OperatorPolicyArn"]["Value"],
        json!({"Ref": "OperatorPolicy"})
    );

    // Nothing anywhere reaches the table more broadly than the table and its two indexes.
    let allowed = [
        "<LedgerTable.Arn>",
        "<LedgerTable.Arn>/index/by-device",
        "<LedgerTable.Arn>/index/by-day",
    ];
    for stack in variants() {
        for s in stack.allow_statements() {
            for resource in &s.resources {
                if resource.contains("LedgerTable") || resource.contains(":dynamodb:") {
                    assert!(
                        allowed.contains(&resource.as_str()),
                        "{}: {resource} is broader than the ledger table and its indexes",
                        s.place
                    );
                }
                if resource.ends_with("/index/by-device") || resource.ends_with("/index/by-day") {
                    assert_eq!(
                        s.actions,
                        ["dynamodb:Query"],
                        "{}: only queries on an index",
                        s.place
                    );
                }
            }
        }
    }
}

#[test]
fn no_policy_grants_a_wildcard_resource_where_an_arn_exists() {
    for stack in variants() {
        let statements = stack.allow_statements();
        assert!(statements.len() >= 6, "{statements:#?}");
        for s in &statements {
            assert!(!s.resources.is_empty(), "{}: no Resource", s.place);
            for action in &s.actions {
                assert!(
                    !action.contains('*'),
                    "{}: wildcard action {action}",
                    s.place
                );
            }
            for resource in &s.resources {
                if resource == "*" {
                    assert!(
                        s.actions
                            .iter()
                            .all(|a| NO_RESOURCE_LEVEL_ACTIONS.contains(&a.as_str())),
                        "{}: Resource \"*\" for {:?}, which support resource-level permissions",
                        s.place,
                        s.actions
                    );
                    continue;
                }
                // A stack resource's own ARN, or an ARN spelled out in full.
                let is_arn = (resource.starts_with('<') && resource.contains('>'))
                    || resource.starts_with("arn:aws:");
                assert!(is_arn, "{}: {resource} is not an ARN", s.place);
                // The one pattern allowed: the object keys under the guest prefix.
                let wildcard_ok = resource == "<GuestBucket.Arn>/guests/*";
                assert!(
                    wildcard_ok || !resource.contains('*'),
                    "{}: wildcard in {resource}",
                    s.place
                );
            }
        }
    }
}

#[test]
fn invoke_permission_names_the_snapshot_function_as_it_is_invoked() {
    let cases = [
        (vec![], "scheduled_snapshot:prod"),
        (vec![("SnapshotQualifier", "")], "scheduled_snapshot"),
        (
            vec![
                ("SnapshotFunctionName", "backup"),
                ("SnapshotQualifier", "7"),
            ],
            "backup:7",
        ),
    ];
    for (overrides, expected) in cases {
        let stack = Stack::with(&overrides);
        let grants = stack.function_grants("lambda:InvokeFunction");
        assert_eq!(grants.len(), 1, "{grants:#?}");
        assert_eq!(
            grants[0].resources,
            [snapshot_arn(expected)],
            "{overrides:?}"
        );
        assert_eq!(grants[0].actions, ["lambda:InvokeFunction"]);

        // ... and it is the function and qualifier the Lambda is told to invoke.
        let env = stack.function_environment();
        let invoked = match env["CLICKRULES_SNAPSHOT_QUALIFIER"].as_str() {
            "" => env["CLICKRULES_SNAPSHOT_FUNCTION"].clone(),
            q => format!("{}:{q}", env["CLICKRULES_SNAPSHOT_FUNCTION"]),
        };
        assert_eq!(snapshot_arn(&invoked), snapshot_arn(expected));
    }
    // The default is the original Lambda's call: scheduled_snapshot, Qualifier='prod'.
    let env = Stack::with(&[]).function_environment();
    assert_eq!(env["CLICKRULES_SNAPSHOT_FUNCTION"], "scheduled_snapshot");
    assert_eq!(env["CLICKRULES_SNAPSHOT_QUALIFIER"], "prod");
    assert_eq!(env["CLICKRULES_INVOCATION_TYPE"], "RequestResponse");
}

#[test]
fn guest_reads_are_limited_to_the_guest_prefix() {
    let stack = Stack::with(&[]);
    let s3: Vec<Statement> = stack
        .allow_statements()
        .into_iter()
        .filter(|s| s.actions.iter().any(|a| a.starts_with("s3:")))
        .collect();
    assert_eq!(s3.len(), 1, "{s3:#?}");
    assert_eq!(s3[0].place, "FunctionRole/clickrules");
    assert_eq!(s3[0].actions, ["s3:GetObject", "s3:GetObjectVersion"]);
    assert_eq!(s3[0].resources, ["<GuestBucket.Arn>/guests/*"]);
    assert_eq!(
        stack.function_environment()["CLICKRULES_GUEST"],
        "s3://<GuestBucket>/guests/guest.wasm"
    );

    let moved = Stack::with(&[("GuestPrefix", "rules/button/"), ("GuestObject", "v2.wasm")]);
    let s3 = moved.function_grants("s3:GetObject");
    assert_eq!(s3[0].resources, ["<GuestBucket.Arn>/rules/button/*"]);
    assert_eq!(
        moved.function_environment()["CLICKRULES_GUEST"],
        "s3://<GuestBucket>/rules/button/v2.wasm"
    );

    // No guest object: the built-in default guest, which an empty variable selects.
    let builtin = Stack::with(&[("GuestObject", "")]);
    assert_eq!(builtin.function_environment()["CLICKRULES_GUEST"], "");

    // A shadow guest under the same prefix (so the same read grant), for both functions;
    // none by default.
    assert_eq!(stack.function_environment()["CLICKRULES_SHADOW_GUEST"], "");
    let mut shadowed = ALL_ON.to_vec();
    shadowed.push(("ShadowObject", "candidate.wasm"));
    let shadowed = Stack::with(&shadowed);
    for function in ["Function", "WebhookFunction"] {
        assert_eq!(
            shadowed.environment(function)["CLICKRULES_SHADOW_GUEST"],
            "s3://<GuestBucket>/guests/candidate.wasm",
            "{function}"
        );
    }
}

#[test]
fn sns_publish_is_limited_to_the_notification_topic() {
    let created = Stack::with(&[]);
    let grants = created.function_grants("sns:Publish");
    assert_eq!(grants.len(), 1, "{grants:#?}");
    assert_eq!(grants[0].resources, ["<NotifyTopic>"]);
    assert_eq!(
        created.function_environment()["CLICKRULES_NOTIFY_TOPIC_ARN"],
        "<NotifyTopic>"
    );

    let existing_arn = "arn:aws:sns:us-west-1:123456789012:existing";
    let existing = Stack::with(&[("NotifyTopicArn", existing_arn)]);
    assert!(!existing.creates("NotifyTopic"));
    assert_eq!(
        existing.function_grants("sns:Publish")[0].resources,
        [existing_arn]
    );
    assert_eq!(
        existing.function_environment()["CLICKRULES_NOTIFY_TOPIC_ARN"],
        existing_arn
    );
    let all: Vec<_> = existing
        .allow_statements()
        .into_iter()
        .filter(|s| s.actions.iter().any(|a| a.starts_with("sns:")))
        .collect();
    assert_eq!(all.len(), 1, "{all:#?}");
}

#[test]
fn function_runs_bootstrap_on_al2023_with_the_packaged_zip() {
    for arch in ["arm64", "x86_64"] {
        let stack = Stack::with(&[("Architecture", arch)]);
        let f = stack.properties("Function");
        assert_eq!(f["Runtime"], "provided.al2023");
        assert_eq!(f["Handler"], "bootstrap");
        assert_eq!(f["Architectures"], json!([arch]));
        // deploy/package.sh writes deploy/dist/<arch>/bootstrap.zip; the README uploads dist/.
        assert_eq!(
            f["Code"],
            json!({ "S3Bucket": "artifacts", "S3Key": format!("clickrules/0123abcd/{arch}/bootstrap.zip") })
        );
        assert!(
            f["MemorySize"]
                .as_str()
                .is_some_and(|m| m.parse::<u32>().unwrap() >= 128)
        );
        assert!(
            f["Timeout"]
                .as_str()
                .is_some_and(|t| t.parse::<u32>().unwrap() >= 3)
        );
    }
    assert_eq!(
        Stack::with(&[]).properties("Function")["Architectures"],
        json!(["arm64"])
    );
}

#[test]
fn function_gets_only_variables_it_reads() {
    for stack in variants() {
        let env = stack.function_environment();
        for (name, value) in &env {
            if let Some(key) = name.strip_prefix("CLICKRULES_CONFIG_") {
                // Guest settings are served even when empty, so only set ones are passed.
                assert!(!key.is_empty() && !value.is_empty(), "{name}={value:?}");
            }
        }
        // The Lambda's own parser: every variable known, every value accepted, for both
        // functions (the webhook function is the same binary).
        for function in ["Function", "WebhookFunction"] {
            if !stack.creates(function) {
                continue;
            }
            let env = stack.environment(function);
            let settings = Settings::from_env(&env).unwrap_or_else(|e| {
                panic!("the template's environment of {function} fails init: {e}")
            });
            assert!(
                settings.unknown_variables.is_empty(),
                "{function} does not read {:?}",
                settings.unknown_variables
            );
        }
    }
    let set = &variants()[4];
    let env = set.function_environment();
    assert_eq!(env["CLICKRULES_CONFIG_REGION"], "eu-west-1");
    assert_eq!(env["CLICKRULES_CONFIG_SECOND_REGION"], "eu-central-1");
    assert_eq!(env["CLICKRULES_CONFIG_LOW_BATTERY_MV"], "1600");
    assert!(
        !Stack::with(&[])
            .function_environment()
            .contains_key("CLICKRULES_CONFIG_REGION")
    );
}

/// `GuestSettings` passes any number of guest settings to both functions, read by the Lambda's
/// own parser; the older one-setting parameters win over the same key.
#[test]
fn guest_settings_reach_both_functions() {
    let mut overrides = ALL_ON.to_vec();
    overrides.extend([
        (
            "GuestSettings",
            r"Region=us-east-2, mode=a=b,regions=us-west-1\,us-east-1,low_battery_mv=1500",
        ),
        ("GuestSettingLowBatteryMv", "1600"),
    ]);
    let stack = Stack::with(&overrides);
    for function in ["Function", "WebhookFunction"] {
        let settings = Settings::from_env(stack.environment(function)).unwrap();
        let served: Vec<(&str, &str)> = settings
            .guest_settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            served,
            [
                ("low_battery_mv", "1600"),
                ("mode", "a=b"),
                ("region", "us-east-2"),
                ("regions", "us-west-1,us-east-1"),
            ],
            "{function}"
        );
    }
    // Unset, the list is empty and serves nothing.
    let defaults = Stack::with(&[]);
    assert_eq!(defaults.function_environment()["CLICKRULES_CONFIG"], "");
    assert!(
        Settings::from_env(defaults.function_environment())
            .unwrap()
            .guest_settings
            .is_empty()
    );
}

/// The fields every source rule adds, and the guard that drops a payload bringing its own.
const SELECT: &str = "SELECT *, topic() AS clickrules_topic, traceid() AS clickrules_trace_id";
const SPOOF_GUARD: &str = "isUndefined(clickrules_topic) AND isUndefined(clickrules_trace_id)";

/// Each MQTT source: (rule, its topic-filter parameter, the filter, what its WHERE keeps
/// before the spoof guard).
const SOURCE_RULES: &[(&str, &str, &str, &str)] = &[
    ("PressRule", "TopicFilter", "iotbutton/+", ""),
    (
        "ShellyGen1PressRule",
        "ShellyGen1TopicFilter",
        "shellies/+/input_event/+",
        "event <> '' AND ",
    ),
    (
        "ShellyGen2PressRule",
        "ShellyGen2TopicFilter",
        "+/events/rpc",
        "method = 'NotifyEvent' AND ",
    ),
    (
        "Zigbee2MqttPressRule",
        "Zigbee2MqttTopicFilter",
        "zigbee2mqtt/+",
        "action <> '' AND NOT isNull(action) AND ",
    ),
];

/// One topic rule per MQTT source, each adding the topic and the trace id, filtering out what
/// is not a press and what spoofs either field, dead-lettering what IoT cannot deliver, and
/// each the only invoker its own permission lets in.
#[test]
fn each_mqtt_source_has_its_own_guarded_rule_and_permission() {
    let stack = Stack::with(ALL_ON);
    let mut rule_permissions = Vec::new();
    for (rule, parameter, filter, press_filter) in SOURCE_RULES {
        assert_eq!(stack.parameters[*parameter], *filter);
        let payload = stack.properties(rule)["TopicRulePayload"].clone();
        let sql = format!("{SELECT} FROM '{filter}' WHERE {press_filter}{SPOOF_GUARD}");
        assert_eq!(payload["Sql"], sql, "{rule}");
        // isUndefined needs SQL 2016-03-23; the WHERE sees the payload as published.
        assert_eq!(payload["AwsIotSqlVersion"], "2016-03-23", "{rule}");
        assert_eq!(payload["RuleDisabled"], false, "{rule}");
        assert_eq!(
            payload["Actions"],
            json!([{ "Lambda": { "FunctionArn": "<Function.Arn>" } }]),
            "{rule}"
        );
        assert_eq!(
            payload["ErrorAction"],
            json!({ "Sqs": {
                "QueueUrl": "<DeadLetterQueue>",
                "RoleArn": "<PressRuleErrorRole.Arn>",
                "UseBase64": false,
            }}),
            "{rule}"
        );

        let permission = format!("{rule}Permission");
        assert_eq!(
            stack.properties(&permission),
            json!({
                "Action": "lambda:InvokeFunction",
                "FunctionName": "<Function.Arn>",
                "Principal": "iot.amazonaws.com",
                "SourceArn": format!("<{rule}.Arn>"),
                "SourceAccount": ACCOUNT,
            }),
            "{permission}"
        );
        rule_permissions.push(permission);

        // The filter empty: neither the rule nor its permission.
        let off = Stack::with(&[(parameter, "")]);
        assert!(!off.creates(rule), "{rule} without a topic filter");
        assert!(!off.creates(&format!("{rule}Permission")));
    }
    // No other invoker of the button function.
    let invokers: Vec<String> = stack.permissions_of("Function").into_keys().collect();
    rule_permissions.sort();
    assert_eq!(invokers, rule_permissions);

    // Existing stacks keep their rule (same logical id), now adding the topic too.
    let default = Stack::with(&[]);
    assert_eq!(
        default.properties("PressRule")["TopicRulePayload"]["Sql"],
        format!("{SELECT} FROM 'iotbutton/+' WHERE {SPOOF_GUARD}")
    );
    assert_eq!(
        default
            .permissions_of("Function")
            .into_keys()
            .collect::<Vec<_>>(),
        ["PressRulePermission"]
    );
    for (rule, ..) in &SOURCE_RULES[1..] {
        assert!(!default.creates(rule), "{rule} is off by default");
    }
    let other = Stack::with(&[("TopicFilter", "buttons/+/press")]);
    assert_eq!(
        other.properties("PressRule")["TopicRulePayload"]["Sql"],
        format!("{SELECT} FROM 'buttons/+/press' WHERE {SPOOF_GUARD}")
    );

    // The error actions' role may only send to the dead-letter queue.
    let errors = stack.role_grants("PressRuleErrorRole", "sqs:SendMessage");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].actions, ["sqs:SendMessage"]);
    assert_eq!(errors[0].resources, ["<DeadLetterQueue.Arn>"]);
    let all: Vec<Statement> = stack
        .allow_statements()
        .into_iter()
        .filter(|s| s.place.starts_with("PressRuleErrorRole/"))
        .collect();
    assert_eq!(all.len(), 1, "{all:#?}");
}

/// The variables both functions get for which presses count.
#[test]
fn both_functions_get_the_press_filters() {
    let stack = Stack::with(&[
        ("Zigbee2MqttBaseTopic", "home/z2m"),
        ("DedupeWindowSeconds", "120"),
        ("RateLimitPerMinute", "0"),
        ("AllowedDevices", "shelly-gen1:shellybutton1-E8DB84AA1234"),
        ("EnableWebhook", "true"),
    ]);
    for function in ["Function", "WebhookFunction"] {
        let env = stack.environment(function);
        assert_eq!(env["CLICKRULES_Z2M_BASE_TOPIC"], "home/z2m", "{function}");
        assert_eq!(env["CLICKRULES_DEDUPE_WINDOW_SECONDS"], "120", "{function}");
        assert_eq!(env["CLICKRULES_RATE_LIMIT_PER_MINUTE"], "0", "{function}");
        assert_eq!(
            env["CLICKRULES_ALLOWED_DEVICES"], "shelly-gen1:shellybutton1-E8DB84AA1234",
            "{function}"
        );
    }
    let env = Stack::with(&[]).function_environment();
    assert_eq!(env["CLICKRULES_Z2M_BASE_TOPIC"], "zigbee2mqtt");
    assert_eq!(env["CLICKRULES_DEDUPE_WINDOW_SECONDS"], "60");
    assert_eq!(env["CLICKRULES_RATE_LIMIT_PER_MINUTE"], "30");
    assert_eq!(env["CLICKRULES_ALLOWED_DEVICES"], "");
}

/// Everything of the webhook function exists only with EnableWebhook=true.
const WEBHOOK_RESOURCES: &[&str] = &[
    "WebhookFunctionRole",
    "WebhookFunction",
    "WebhookFunctionUrl",
    "WebhookUrlPermission",
    "WebhookInvokePermission",
    "WebhookFailedPressAlarm",
];

/// The webhook function: the button function's code and handler started as the HTTPS entry,
/// behind a function URL with AuthType NONE and exactly the two statements AWS requires of
/// public function URLs since October 2025.
#[test]
fn the_webhook_function_has_a_public_url_with_both_permissions() {
    let off = Stack::with(&[]);
    for resource in WEBHOOK_RESOURCES {
        assert!(!off.creates(resource), "{resource} without EnableWebhook");
        let condition = &off.template["Resources"][resource]["Condition"];
        assert_eq!(condition, "WebhookEnabled", "{resource}");
    }
    assert_eq!(
        off.template["Outputs"]["WebhookUrl"]["Condition"],
        "WebhookEnabled"
    );

    let stack = Stack::with(&[("EnableWebhook", "true")]);
    let main = stack.properties("Function");
    let webhook = stack.properties("WebhookFunction");
    for same in [
        "Runtime",
        "Handler",
        "Architectures",
        "Code",
        "MemorySize",
        "Timeout",
        "LoggingConfig",
    ] {
        assert_eq!(webhook[same], main[same], "{same}");
    }
    assert_eq!(webhook["Role"], "<WebhookFunctionRole.Arn>");
    assert!(
        webhook
            .get("ReservedConcurrentExecutions")
            .is_none_or(Value::is_null)
    );

    // Function's variables with the same values, and the entry's own.
    let env = stack.environment("WebhookFunction");
    let main_env = stack.function_environment();
    for (name, value) in &main_env {
        assert_eq!(env.get(name), Some(value), "{name}");
    }
    let own: BTreeMap<&str, &str> = env
        .iter()
        .filter(|(name, _)| !main_env.contains_key(*name))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        own,
        BTreeMap::from([
            ("CLICKRULES_ENTRY", "webhook"),
            ("CLICKRULES_SOURCES", "webhook"),
        ]),
        "nothing configured: no secret, Flic key or button variables"
    );

    let all = Stack::with(ALL_ON);
    let env = all.environment("WebhookFunction");
    assert_eq!(env["CLICKRULES_ENTRY"], "webhook");
    assert_eq!(env["CLICKRULES_SOURCES"], "webhook,flic");
    assert_eq!(
        env["CLICKRULES_WEBHOOK_SECRET"],
        "ssm:/clickrules/webhook-secret"
    );
    assert_eq!(
        env["CLICKRULES_FLIC_BUTTONS"],
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f"
    );
    assert_eq!(env["CLICKRULES_FLIC_PUBLIC_KEY"], FLIC_KEY_ARN);
    assert!(!all.function_environment().contains_key("CLICKRULES_ENTRY"));
    // A webhook flood cannot take the button function's concurrency once this is set.
    assert_eq!(
        all.properties("WebhookFunction")["ReservedConcurrentExecutions"],
        "5"
    );
    let zero = Stack::with(&[
        ("EnableWebhook", "true"),
        ("WebhookReservedConcurrency", "0"),
    ]);
    assert!(
        zero.properties("WebhookFunction")
            .get("ReservedConcurrentExecutions")
            .is_none_or(Value::is_null),
        "0 reserves none (a reservation of 0 would stop the function)"
    );

    // Our own verification: Lambda authenticates nothing.
    assert_eq!(
        stack.properties("WebhookFunctionUrl"),
        json!({
            "TargetFunctionArn": "<WebhookFunction.Arn>",
            "AuthType": "NONE",
            "InvokeMode": "BUFFERED",
        })
    );
    let permissions = stack.permissions_of("WebhookFunction");
    assert_eq!(
        permissions,
        BTreeMap::from([
            (
                "WebhookInvokePermission".to_string(),
                json!({
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": "<WebhookFunction>",
                    "Principal": "*",
                    "InvokedViaFunctionUrl": true,
                })
            ),
            (
                "WebhookUrlPermission".to_string(),
                json!({
                    "Action": "lambda:InvokeFunctionUrl",
                    "FunctionName": "<WebhookFunction>",
                    "Principal": "*",
                    "FunctionUrlAuthType": "NONE",
                })
            ),
        ])
    );
    // The button function stays private: only its rules may invoke it.
    assert!(
        stack
            .permissions_of("Function")
            .values()
            .all(|p| p["Principal"] == "iot.amazonaws.com")
    );
    assert_eq!(
        stack.resolve(&stack.template["Outputs"]["WebhookUrl"]["Value"]),
        Some(json!("<WebhookFunctionUrl.FunctionUrl>"))
    );

    let alarm = stack.properties("WebhookFailedPressAlarm");
    assert_eq!(alarm["Namespace"], clickrules_aws::METRICS_NAMESPACE);
    assert_eq!(alarm["MetricName"], "Failures");
    assert_eq!(alarm["Dimensions"][0]["Value"], "<WebhookFunction>");
}

/// The webhook role has the button function role's grants, and reads exactly the configured
/// secret and Flic key, from the store the reference names; nothing reads any other secret.
#[test]
fn the_webhook_role_reads_only_the_configured_secret() {
    const SHARED: &[&str] = &[
        "lambda:InvokeFunction",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "sns:Publish",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "sqs:SendMessage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ];
    const SECRET_READS: &[&str] = &["ssm:GetParameter", "secretsmanager:GetSecretValue"];
    for stack in variants() {
        if !stack.creates("WebhookFunction") {
            continue;
        }
        for action in SHARED {
            let ours: Vec<Vec<String>> = stack
                .role_grants("WebhookFunctionRole", action)
                .into_iter()
                .map(|s| s.resources)
                .collect();
            let main: Vec<Vec<String>> = stack
                .function_grants(action)
                .into_iter()
                .map(|s| s.resources)
                .collect();
            assert_eq!(ours, main, "{action}");
        }
        // The role's own policy holds only the shared grants; the read policies one read each.
        for s in stack.allow_statements() {
            let allowed: &[&str] = match s.place.as_str() {
                p if p.starts_with("WebhookFunctionRole/") => SHARED,
                "WebhookSecretReadPolicy" | "FlicPublicKeyReadPolicy" => {
                    assert_eq!(s.actions.len(), 1, "{s:?}");
                    assert_eq!(s.resources.len(), 1, "{s:?}");
                    SECRET_READS
                }
                _ => continue,
            };
            for action in &s.actions {
                assert!(allowed.contains(&action.as_str()), "{}: {action}", s.place);
            }
        }
    }

    let parameter_arn = |name: &str| format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}");
    // (overrides, what may be read with GetParameter, with GetSecretValue)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<String>, Vec<String>);
    let cases: Vec<Case> = vec![
        (vec![("EnableWebhook", "true")], vec![], vec![]),
        (
            vec![
                ("EnableWebhook", "true"),
                ("WebhookSecretParameter", "ssm:/clickrules/webhook-secret"),
            ],
            vec![parameter_arn("/clickrules/webhook-secret")],
            vec![],
        ),
        (
            vec![
                ("EnableWebhook", "true"),
                ("WebhookSecretParameter", SECRET_ARN),
            ],
            vec![],
            vec![SECRET_ARN.to_string()],
        ),
        (
            vec![
                ("EnableWebhook", "true"),
                ("WebhookSecretParameter", SECRET_ARN),
                ("FlicPublicKeyParameter", "ssm:/flic/public-key"),
            ],
            vec![parameter_arn("/flic/public-key")],
            vec![SECRET_ARN.to_string()],
        ),
        (
            ALL_ON.to_vec(),
            vec![parameter_arn("/clickrules/webhook-secret")],
            vec![FLIC_KEY_ARN.to_string()],
        ),
        // Without the webhook function nothing reads a secret, whatever is configured.
        (
            vec![
                ("WebhookSecretParameter", SECRET_ARN),
                ("FlicPublicKeyParameter", "ssm:/flic/public-key"),
            ],
            vec![],
            vec![],
        ),
    ];
    for (overrides, parameters, secrets) in cases {
        let stack = Stack::with(&overrides);
        let reads = |action: &str| -> Vec<String> {
            let mut all: Vec<String> = stack
                .allow_statements()
                .into_iter()
                .filter(|s| s.allows(action))
                .flat_map(|s| s.resources)
                .collect();
            all.sort();
            all
        };
        let mut expected = parameters;
        expected.sort();
        assert_eq!(reads("ssm:GetParameter"), expected, "{overrides:?}");
        let mut expected = secrets;
        expected.sort();
        assert_eq!(
            reads("secretsmanager:GetSecretValue"),
            expected,
            "{overrides:?}"
        );
        for other in [
            "ssm:GetParameters",
            "ssm:GetParametersByPath",
            "kms:Decrypt",
        ] {
            assert!(reads(other).is_empty(), "{other}: {overrides:?}");
        }
        // ... and it is the webhook role that may, never the button function's.
        for action in ["ssm:GetParameter", "secretsmanager:GetSecretValue"] {
            assert!(stack.function_grants(action).is_empty(), "{action}");
            if stack.creates("WebhookFunctionRole") {
                let ours: usize = stack
                    .role_grants("WebhookFunctionRole", action)
                    .iter()
                    .map(|s| s.resources.len())
                    .sum();
                assert_eq!(ours, reads(action).len(), "{action}: {overrides:?}");
            }
        }
    }
}

/// No parameter or variable carries a secret: those whose names say SECRET or KEY hold a
/// reference (ssm:/..., a secret's ARN) or are known not to be secret.
#[test]
fn no_parameter_or_variable_carries_a_secret_value() {
    // Named KEY, and no secret: an S3 key prefix, and Ed25519 public keys.
    const NOT_SECRET: &[&str] = &["CodeS3KeyPrefix", "TrustedKeys", "CLICKRULES_TRUSTED_KEYS"];
    let looks_secret = |name: &str| {
        let upper = name.to_ascii_uppercase();
        upper.contains("SECRET")
            || upper.contains("KEY")
            || upper.contains("PASSWORD")
            || upper.contains("TOKEN")
    };
    let template = template();
    let mut references = Vec::new();
    for (name, spec) in template["Parameters"].as_object().unwrap() {
        if !looks_secret(name) || NOT_SECRET.contains(&name.as_str()) {
            continue;
        }
        // The pattern's alternatives: empty, ssm:/<name> or an ARN; never free text.
        let pattern = spec["AllowedPattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} accepts any text"));
        let inner = pattern
            .strip_prefix("^(")
            .and_then(|p| p.strip_suffix(")$"))
            .unwrap_or_else(|| panic!("{name}: {pattern} is not ^(alternatives)$"));
        let alternatives = top_level_alternatives(inner);
        assert!(alternatives.len() >= 2, "{name}: {pattern}");
        for alternative in alternatives {
            assert!(
                alternative.is_empty()
                    || alternative.starts_with("ssm:/")
                    || alternative.starts_with("arn:aws[a-z-]*:secretsmanager:")
                    || alternative.starts_with("arn:aws[a-z-]*:ssm:"),
                "{name} admits {alternative:?}, which is not a reference"
            );
        }
        assert_eq!(spec["Default"], "", "{name}");
        references.push(name.clone());
    }
    assert_eq!(
        references,
        ["FlicPublicKeyParameter", "WebhookSecretParameter"]
    );
    // The public keys are base64, nothing else.
    assert_eq!(
        template["Parameters"]["TrustedKeys"]["AllowedPattern"],
        "^[A-Za-z0-9+/=, ]*$"
    );

    for stack in variants() {
        for function in ["Function", "WebhookFunction"] {
            if !stack.creates(function) {
                continue;
            }
            for (name, value) in stack.environment(function) {
                if !looks_secret(&name) || NOT_SECRET.contains(&name.as_str()) {
                    continue;
                }
                assert!(
                    value.starts_with("ssm:/")
                        || value.starts_with("secretsmanager:")
                        || value.starts_with("arn:aws:secretsmanager:")
                        || value.starts_with("arn:aws:ssm:"),
                    "{function}: {name}={value:?} is not a reference"
                );
            }
        }
    }
}

/// `a|(b|c)|d` -> `a`, `(b|c)`, `d`.
fn top_level_alternatives(pattern: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut escaped) = (0i32, 0, false);
    for (i, c) in pattern.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '|' if depth == 0 => {
                out.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&pattern[start..]);
    out
}

#[test]
fn failed_presses_are_retried_then_dead_lettered() {
    let stack = Stack::with(&[
        ("MaximumRetryAttempts", "1"),
        ("MaximumEventAgeInSeconds", "600"),
    ]);
    let config = stack.properties("FunctionEventInvokeConfig");
    assert_eq!(config["FunctionName"], "<Function>");
    // IoT invokes the unqualified function, which is $LATEST.
    assert_eq!(config["Qualifier"], "$LATEST");
    assert_eq!(config["MaximumRetryAttempts"], "1");
    assert_eq!(config["MaximumEventAgeInSeconds"], "600");
    assert_eq!(
        config["DestinationConfig"]["OnFailure"]["Destination"],
        "<DeadLetterQueue.Arn>"
    );
    // Lambda sends to the destination with the function's own role.
    let grants = stack.function_grants("sqs:SendMessage");
    assert_eq!(grants.len(), 1, "{grants:#?}");
    assert_eq!(grants[0].resources, ["<DeadLetterQueue.Arn>"]);

    let defaults = Stack::with(&[]).properties("FunctionEventInvokeConfig");
    assert_eq!(defaults["MaximumRetryAttempts"], "2");
    assert_eq!(defaults["MaximumEventAgeInSeconds"], "3600");
}

#[test]
fn guest_bucket_is_versioned_private_and_encrypted() {
    let bucket = Stack::with(&[]).properties("GuestBucket");
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    let block = &bucket["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting], true, "{setting}");
    }
    let encryption = &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
    assert_eq!(
        encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
}

#[test]
fn logs_go_to_the_stack_log_group_only() {
    let stack = Stack::with(&[]);
    assert_eq!(
        stack.properties("Function")["LoggingConfig"]["LogGroup"],
        "<LogGroup>"
    );
    let grants = stack.function_grants("logs:PutLogEvents");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].resources, ["<LogGroup.Arn>"]);
    assert!(stack.function_grants("logs:CreateLogGroup").is_empty());
}

// ---------------------------------------------------------------------------------------------
// deploy/check-binary.sh, which deploy/package.sh and .ci/run use: it must be able to fail.

fn check_binary(args: &[&str]) -> std::process::Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    Command::new("bash")
        .arg(repo_root().join("deploy/check-binary.sh"))
        .arg(exe)
        .args(args)
        .output()
        .expect("bash runs")
}

fn readelf_available() -> bool {
    let found = Command::new("readelf").arg("--version").output().is_ok();
    if !found && std::env::var_os("CI").is_some() {
        panic!("CI is set and readelf (binutils) is missing");
    }
    if !found {
        eprintln!("SKIPPED: readelf not found (apt-get install binutils)");
    }
    found
}

#[test]
fn glibc_check_rejects_a_binary_that_needs_a_newer_glibc() {
    if !readelf_available() {
        return;
    }
    // Every glibc binary needs at least GLIBC_2.2.5 (x86_64) or 2.17 (aarch64), so a ceiling
    // of 2.0 must fail and name what is needed.
    let too_old = check_binary(&["", "2.0"]);
    assert!(!too_old.status.success());
    let stderr = String::from_utf8_lossy(&too_old.stderr);
    assert!(stderr.contains("newer than 2.0"), "{stderr}");

    // A ceiling far above anything released passes and reports the newest version needed.
    let ok = check_binary(&["", "99.0"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("newest glibc symbol version GLIBC_2."));
}

#[test]
fn glibc_check_rejects_the_wrong_architecture() {
    if !readelf_available() {
        return;
    }
    let wrong = if cfg!(target_arch = "aarch64") {
        "x86_64"
    } else {
        "arm64"
    };
    let output = check_binary(&[wrong, "99.0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("not {wrong}")));
}
