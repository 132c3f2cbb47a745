//! `clickrules redrive`: the presses in the dead-letter queue, run again through the press
//! ledger once their cause is fixed. It shows first what each message will do (already done:
//! just removed; actions left: only those run; decided never: decided again), then runs each
//! through the deployment's own pipeline (its settings, ledger and actions), and removes a
//! message only once its press has succeeded. What fails stays in the queue.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use clickrules_aws::{DynamoLedger, Mode, PressStatus, StoredPress, compose_with};
use clickrules_engine::text::escape_control as esc;
use clickrules_engine::{EventFormat, NormalisedEvent};
use clickrules_pipeline::{NoSink, OutcomeStatus, PressRecord, PressRequest};
use serde::Serialize;

use crate::args::{EngineArgs, ProgressArgs, deployment};
use crate::{remote, render};

/// How long a received message stays hidden from other consumers while redrive works on it.
const VISIBILITY: Duration = Duration::from_secs(300);

#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The deployed function (NAME, NAME:ALIAS or ARN) whose dead-letter queue to redrive:
    /// its settings (CLICKRULES_DEAD_LETTER_QUEUE_URL, its ledger table, its actions) apply.
    #[arg(long, value_name = "FUNCTION")]
    function: String,
    /// The queue, when it is not the function's CLICKRULES_DEAD_LETTER_QUEUE_URL (Lambda's own
    /// on-failure destination, say).
    #[arg(long, value_name = "URL")]
    queue: Option<String>,
    /// Messages to take at most.
    #[arg(long, default_value_t = 100)]
    max: usize,
    /// Redrive without asking (for scripts).
    #[arg(long, short = 'y', conflicts_with = "dry_run")]
    yes: bool,
    /// Show what would be done, and leave every message in the queue.
    #[arg(long)]
    dry_run: bool,
    /// Print the plan and the results as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    output: ProgressArgs,
}

/// One dead-lettered press.
#[derive(Debug, Clone, Serialize)]
struct Letter {
    message_id: String,
    #[serde(skip)]
    receipt: String,
    press_id: String,
    /// The event as delivered.
    #[serde(skip)]
    event: Vec<u8>,
    /// The press's record when the message carries one (the function's own dead letters).
    #[serde(skip)]
    record: Option<PressRecord>,
    /// Why it was dead-lettered.
    failure: Option<String>,
    /// What redriving it does.
    plan: Plan,
    /// What came of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Outcome>,
}

/// What redriving one message will do, from what the ledger holds for its press.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "action")]
enum Plan {
    /// The press is complete and succeeded (a later delivery did it): only the message goes.
    Remove,
    /// Its decision is stored and these actions are not done: only they run.
    Resume { actions: Vec<String> },
    /// It was never decided for good (the guest failed, or it was turned away): decided again.
    Decide,
    /// Another delivery is running it now: left in the queue.
    Skip { reason: String },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
enum Outcome {
    /// The press succeeded; the message was removed.
    Done,
    /// It failed again; the message stays.
    Failed { kind: String, message: String },
    /// Left in the queue.
    Kept,
}

pub fn run(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let deployed = deployment(Some(&args.function), &EngineArgs::default())?;
    let settings = deployed.settings;
    let queue = args
        .queue
        .clone()
        .or_else(|| settings.dead_letter_queue_url.clone())
        .with_context(|| {
            format!(
                "function {} has no dead-letter queue (CLICKRULES_DEAD_LETTER_QUEUE_URL); name \
                 one with --queue",
                esc(&args.function)
            )
        })?;
    let runtime = remote::runtime()?;
    let clients = runtime.block_on(clickrules_aws::AwsClients::from_env());
    let ledger = settings
        .ledger_table
        .clone()
        .map(|table| DynamoLedger::new(clients.dynamodb.clone(), table, settings.ledger_retention));
    let mut letters = runtime.block_on(receive(&clients.sqs, &queue, args.max))?;
    for letter in &mut letters {
        letter.plan = runtime.block_on(plan(ledger.as_ref(), letter))?;
    }
    if letters.is_empty() {
        if args.json {
            render::emit("[]\n")?;
        } else {
            render::emit(&format!("no messages in {}\n", esc(&queue)))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        render::emit(&plan_table(&letters))?;
    }
    let go = !args.dry_run && (args.yes || confirm(letters.len())?);
    if !go {
        runtime.block_on(release(&clients.sqs, &queue, &letters));
        if args.json {
            render::emit(&format!("{}\n", serde_json::to_string_pretty(&letters)?))?;
        } else {
            eprintln!("nothing redriven; the messages stay in the queue");
        }
        return Ok(ExitCode::SUCCESS);
    }

    let composed = runtime
        .block_on(compose_with(
            &settings,
            Mode::Execute,
            NoSink,
            crate::local_tools::extras(None),
        ))
        .map_err(anyhow::Error::new)
        .context("cannot build the function's pipeline here")?;
    let mut failed = 0;
    for letter in &mut letters {
        let outcome = runtime.block_on(redrive_one(
            &composed.pipeline,
            ledger.as_ref(),
            &clients.sqs,
            &queue,
            letter,
        ))?;
        if matches!(outcome, Outcome::Failed { .. } | Outcome::Kept) {
            failed += 1;
        }
        letter.result = Some(outcome);
    }
    if args.json {
        render::emit(&format!("{}\n", serde_json::to_string_pretty(&letters)?))?;
    } else {
        render::emit(&result_table(&letters))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Takes up to `max` messages, hidden from other consumers while redrive works on them.
async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    max: usize,
) -> anyhow::Result<Vec<Letter>> {
    let mut letters = Vec::new();
    while letters.len() < max {
        let batch = (max - letters.len()).min(10) as i32;
        let got = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(batch)
            .visibility_timeout(VISIBILITY.as_secs() as i32)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot read {}: {}",
                    esc(queue),
                    clickrules_aws::sdk_error_text(&e)
                )
            })?;
        let messages = got.messages();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let (Some(id), Some(receipt), Some(body)) = (
                message.message_id(),
                message.receipt_handle(),
                message.body(),
            ) else {
                continue;
            };
            match parse_letter(id, receipt, body) {
                Ok(letter) => letters.push(letter),
                Err(e) => eprintln!(
                    "warning: message {} is not a dead-lettered press and stays in the queue: {e}",
                    esc(id)
                ),
            }
        }
    }
    Ok(letters)
}

/// A message in Lambda's destination shape (`requestContext`, `requestPayload`,
/// `responsePayload`): the function's own dead letters carry the press record as the
/// response; Lambda's on-failure destination carries the error instead, and then the press
/// id is the event's trace id, else the failed invocation's request id.
fn parse_letter(id: &str, receipt: &str, body: &str) -> anyhow::Result<Letter> {
    let value: serde_json::Value = serde_json::from_str(body).context("not JSON")?;
    let payload = value
        .get("requestPayload")
        .context("no requestPayload (the event)")?;
    let event = match payload {
        serde_json::Value::String(text) => text.clone().into_bytes(),
        other => serde_json::to_vec(other)?,
    };
    let record: Option<PressRecord> = value
        .get("responsePayload")
        .and_then(|r| serde_json::from_value(r.clone()).ok());
    let press_id = match &record {
        Some(record) => record.press_id.clone(),
        None => payload
            .get(clickrules_engine::TRACE_ID_FIELD)
            .and_then(|t| t.as_str())
            .or_else(|| value["requestContext"]["requestId"].as_str())
            .context("no press id: neither a record, a trace id nor a request id")?
            .to_string(),
    };
    let failure = record
        .as_ref()
        .and_then(|r| r.failure.as_ref().map(|f| f.kind.clone()))
        .or_else(|| {
            value["responseContext"]["functionError"]
                .as_str()
                .map(str::to_string)
        });
    Ok(Letter {
        message_id: id.to_string(),
        receipt: receipt.to_string(),
        press_id,
        event,
        record,
        failure,
        plan: Plan::Decide,
        result: None,
    })
}

/// What the ledger holds for the letter's press decides what redriving it does.
async fn plan(ledger: Option<&DynamoLedger>, letter: &Letter) -> anyhow::Result<Plan> {
    let Some(ledger) = ledger else {
        // Without a ledger nothing is remembered: the press runs in full.
        return Ok(Plan::Decide);
    };
    let stored = ledger
        .inspect(&letter.press_id)
        .await
        .with_context(|| format!("cannot read press {} in the ledger", letter.press_id))?;
    Ok(match stored {
        None => Plan::Decide,
        Some(StoredPress {
            status: PressStatus::Running { lease_until_ms },
            ..
        }) if lease_until_ms > crate::check::now_ms() => Plan::Skip {
            reason: "another delivery is running it".into(),
        },
        Some(StoredPress {
            status: PressStatus::Complete,
            record: Some(record),
        }) if record.ok => Plan::Remove,
        // Open with its decision stored: some actions are not done.
        Some(StoredPress {
            status: PressStatus::Open,
            record: Some(record),
        }) => {
            let left: Vec<String> = record
                .actions()
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    record
                        .outcomes
                        .get(*i)
                        .is_none_or(|o| o.status != OutcomeStatus::Done)
                })
                .map(|(i, a)| format!("{}. {}", i + 1, render::action(a)))
                .collect();
            if left.is_empty() {
                Plan::Remove
            } else {
                Plan::Resume { actions: left }
            }
        }
        // Ended without a decision to keep (the guest failed, an action was refused), or
        // open without one, or a lease that expired: decided again.
        Some(_) => Plan::Decide,
    })
}

/// Runs one letter's press again through the ledger, and removes the message once it
/// succeeded; otherwise makes it visible again.
async fn redrive_one(
    pipeline: &clickrules_aws::DeploymentPipeline<NoSink>,
    ledger: Option<&DynamoLedger>,
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    letter: &Letter,
) -> anyhow::Result<Outcome> {
    if let Plan::Skip { .. } = letter.plan {
        release(sqs, queue, std::slice::from_ref(letter)).await;
        return Ok(Outcome::Kept);
    }
    if letter.plan != Plan::Remove {
        if letter.plan == Plan::Decide
            && let Some(ledger) = ledger
        {
            // A press dead-lettered before any action ran was ended for good; open it so this
            // delivery decides it again (a stored decision with actions left is kept, so only
            // those run).
            ledger
                .reopen(&letter.press_id)
                .await
                .with_context(|| format!("cannot reopen press {}", letter.press_id))?;
        }
        let request_id = format!("redrive-{}", letter.message_id);
        // The press as it was normalised when it arrived (a webhook's was verified then), so
        // its id and click are the original's.
        let normalised = letter.record.as_ref().and_then(|r| {
            let click = r.click.clone()?;
            Some(NormalisedEvent::one(
                r.event_format.unwrap_or(EventFormat::IotButton),
                click,
                None,
            ))
        });
        let result = pipeline
            .press(PressRequest {
                press_id: Some(&letter.press_id),
                received_at_ms: letter
                    .record
                    .as_ref()
                    .and_then(|r| r.click.as_ref().map(|c| c.received_at_ms)),
                normalised: normalised.as_ref(),
                ..PressRequest::new(&request_id, &letter.event)
            })
            .await;
        if let Some(failure) = &result.record.failure {
            release(sqs, queue, std::slice::from_ref(letter)).await;
            return Ok(Outcome::Failed {
                kind: failure.kind.clone(),
                message: failure.message.clone(),
            });
        }
    }
    sqs.delete_message()
        .queue_url(queue)
        .receipt_handle(&letter.receipt)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "press {} succeeded, but its message could not be removed from {}: {}",
                letter.press_id,
                esc(queue),
                clickrules_aws::sdk_error_text(&e)
            )
        })?;
    Ok(Outcome::Done)
}

/// Makes messages visible again at once (they were hidden while redrive looked at them).
async fn release(sqs: &aws_sdk_sqs::Client, queue: &str, letters: &[Letter]) {
    for letter in letters {
        if let Err(e) = sqs
            .change_message_visibility()
            .queue_url(queue)
            .receipt_handle(&letter.receipt)
            .visibility_timeout(0)
            .send()
            .await
        {
            eprintln!(
                "warning: message {} stays hidden for up to {} s: {}",
                esc(&letter.message_id),
                VISIBILITY.as_secs(),
                clickrules_aws::sdk_error_text(&e)
            );
        }
    }
}

fn confirm(count: usize) -> anyhow::Result<bool> {
    use std::io::IsTerminal as _;
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        eprintln!("not redriving without --yes (no terminal to ask on)");
        return Ok(false);
    }
    eprint!(
        "redrive {count} message{}? [y/N] ",
        if count == 1 { "" } else { "s" }
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn describe(plan: &Plan) -> String {
    match plan {
        Plan::Remove => "already done: remove the message".into(),
        Plan::Resume { actions } => format!("run only what is not done: {}", actions.join(", ")),
        Plan::Decide => "decide again and run its actions".into(),
        Plan::Skip { reason } => format!("leave it: {reason}"),
    }
}

fn plan_table(letters: &[Letter]) -> String {
    let mut out = String::from("PRESS                         FAILED WITH          REDRIVE WILL\n");
    for l in letters {
        out.push_str(&format!(
            "{:<29} {:<20} {}\n",
            esc(&l.press_id),
            l.failure.as_deref().map_or_else(|| "-".into(), esc),
            describe(&l.plan)
        ));
    }
    out
}

fn result_table(letters: &[Letter]) -> String {
    let mut out = String::new();
    for l in letters {
        let result = match &l.result {
            Some(Outcome::Done) => "done, message removed".to_string(),
            Some(Outcome::Failed { kind, message }) => {
                format!("failed again ({kind}): {}; message kept", esc(message))
            }
            Some(Outcome::Kept) | None => "message kept".to_string(),
        };
        out.push_str(&format!("{:<29} {result}\n", esc(&l.press_id)));
    }
    out
}
