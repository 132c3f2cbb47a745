//! One press, end to end: normalise → claim in the ledger → obtain the guest → decide (guest,
//! fallback) → validate → preflight → store the decision → execute each action, storing each
//! outcome → end the press → dead-letter what no retry can fix → record.
//!
//! Every host runs this: the Lambda with S3, DynamoDB, Lambda/SNS and SQS adapters, the CLI's
//! dry run with a dry-run executor, `press --execute` with the real ones, and the test kit with
//! in-memory ones.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clickrules_engine::{
    Click, Decision, DeviceState, Engine, EventFormat, NormalisedEvent, PressError, PressInputs,
    PressSeed, Skipped, normalise_event_with,
};

use crate::executor::{ActionContext, ActionError, Executor};
use crate::failure::{Failure, SourceFailure, press_error_info};
use crate::history::Verdict;
use crate::ledger::{Claim, End, Lease, Ledger, LedgerError, NoLedger};
use crate::policy::PressPolicy;
use crate::record::{
    DecisionRecord, ErrorInfo, FallbackRecord, LedgerOutcome, LedgerRecord, OutcomeRecord,
    OutcomeStatus, PressRecord, ReplayRecord, ShadowRecord, StateRecord,
};
use crate::sink::{DeadLetters, NoDeadLetters, NoSink, RecordSink};
use crate::source::{CurrentGuest, GuestSource, SourceError, source_info};
use crate::state::{DeviceKey, StateCommit, StoredState};
use crate::zone::Zone;

/// How long a press holds its ledger lease when the caller gives no deadline (the CLI).
const DEFAULT_LEASE_MS: u64 = 60_000;

/// Failure kinds of presses the deployment turned away on purpose: never dead-lettered.
const TURNED_AWAY: [&str; 2] = ["unknown_device", "rate_limited"];

/// How many times a press is decided when other presses of the same device keep committing
/// their state first; then it fails with a retryable `state_conflict`, and the platform's
/// retry decides it again later.
pub const MAX_STATE_ATTEMPTS: u32 = 3;

/// One delivery of a press.
#[derive(Debug, Clone, Copy)]
pub struct PressRequest<'a> {
    /// The delivery's id (the Lambda request id).
    pub request_id: &'a str,
    /// The event, as delivered.
    pub event: &'a [u8],
    /// The press id, when the caller knows it better than the event (the CLI's `--press-id`);
    /// otherwise the event's trace id, else `request_id`.
    pub press_id: Option<&'a str>,
    /// When the invocation must end, ms since the epoch: the ledger lease ends there.
    pub deadline_ms: Option<u64>,
    /// When the press was received, ms since the epoch; now when not given.
    pub received_at_ms: Option<u64>,
    /// The function ARN the delivery invoked, named in a dead letter (the Lambda knows it).
    pub function_arn: Option<&'a str>,
    /// The event already normalised (an HTTPS request verified by the webhook entry); the
    /// pipeline then does not parse `event`, which is kept for the dead letter.
    pub normalised: Option<&'a NormalisedEvent>,
    /// The least time a device counter in this delivery identifies its press, ms, when the
    /// source needs longer than the policy's window: a signed webhook stays authentic (and so
    /// replayable) for its whole tolerance.
    pub min_dedupe_window_ms: Option<u64>,
}

impl<'a> PressRequest<'a> {
    /// A delivery with only an id and an event.
    pub fn new(request_id: &'a str, event: &'a [u8]) -> Self {
        Self {
            request_id,
            event,
            press_id: None,
            deadline_ms: None,
            received_at_ms: None,
            function_arn: None,
            normalised: None,
            min_dedupe_window_ms: None,
        }
    }
}

/// Every press one delivery carried (a Shelly Gen2 frame may carry several; a state report
/// none), and what the caller must do with the delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// One result per press, in the device's order; one result for a delivery that is no
    /// press or could not be read.
    pub presses: Vec<PressResult>,
    /// The delivery's fate: failed if any press must be retried (the ledger then answers the
    /// done ones as duplicates), dead-lettered if any was, else done.
    pub disposition: Disposition,
}

impl Delivery {
    fn of(presses: Vec<PressResult>) -> Self {
        let any = |d: Disposition| presses.iter().any(|p| p.disposition == d);
        let disposition = if any(Disposition::Fail) {
            Disposition::Fail
        } else if any(Disposition::DeadLettered) {
            Disposition::DeadLettered
        } else {
            Disposition::Done
        };
        Self {
            presses,
            disposition,
        }
    }

    /// The result that speaks for the delivery: the first that must be retried, else the first
    /// that failed, else the first.
    pub fn main(&self) -> &PressResult {
        self.presses
            .iter()
            .find(|p| p.disposition == Disposition::Fail)
            .or_else(|| self.presses.iter().find(|p| p.failure.is_some()))
            .unwrap_or(&self.presses[0])
    }

    /// The results, taking ownership.
    pub fn into_presses(self) -> Vec<PressResult> {
        self.presses
    }
}

/// One press of a delivery, ready to run.
struct Prepared {
    click: Click,
    press_id: String,
    /// The press id is a device counter: dedupe within the window only.
    windowed: bool,
    skipped: Vec<Skipped>,
}

/// What the caller must do with the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing more: the press is done (or was done before).
    Done,
    /// Fail the delivery, so the platform retries it and finally dead-letters it.
    Fail,
    /// The press cannot succeed on retry and was sent to the dead-letter destination with its
    /// record: end the delivery successfully, with no pointless retries.
    DeadLettered,
}

/// A finished press.
#[derive(Debug, Clone)]
pub struct PressResult {
    /// Everything about it.
    pub record: PressRecord,
    /// Why it failed, typed.
    pub failure: Option<Failure>,
    /// What the caller must do with the delivery.
    pub disposition: Disposition,
}

/// The press flow over its ports.
#[derive(Debug)]
pub struct Pipeline<S, E, L = NoLedger, D = NoDeadLetters, R = NoSink> {
    engine: Arc<Engine>,
    source: S,
    executor: E,
    ledger: L,
    dead_letters: D,
    sink: R,
    /// Decides when the configured guest fails (`CLICKRULES_ON_GUEST_ERROR=builtin`).
    fallback: Option<CurrentGuest>,
    /// A candidate run on every press beside the active guest, never executed
    /// (`CLICKRULES_SHADOW_GUEST`).
    shadow: Option<S>,
    /// The deployment's zone, for `click.utc_offset_minutes`; UTC when `None`.
    zone: Option<Zone>,
    /// Which sources and devices are accepted, how often, and the dedupe window.
    policy: PressPolicy,
}

impl<S: GuestSource, E: Executor> Pipeline<S, E> {
    /// A pipeline with no ledger, no dead-letter destination and no record sink.
    pub fn new(engine: Arc<Engine>, source: S, executor: E) -> Self {
        Self {
            engine,
            source,
            executor,
            ledger: NoLedger,
            dead_letters: NoDeadLetters,
            sink: NoSink,
            fallback: None,
            shadow: None,
            zone: None,
            policy: PressPolicy::default(),
        }
    }
}

impl<S, E, L, D, R> Pipeline<S, E, L, D, R> {
    /// Uses `ledger` for exactly-once effects.
    pub fn with_ledger<L2: Ledger>(self, ledger: L2) -> Pipeline<S, E, L2, D, R> {
        Pipeline {
            engine: self.engine,
            source: self.source,
            executor: self.executor,
            ledger,
            dead_letters: self.dead_letters,
            sink: self.sink,
            fallback: self.fallback,
            shadow: self.shadow,
            zone: self.zone,
            policy: self.policy,
        }
    }

    /// Sends presses no retry can fix to `dead_letters`.
    pub fn with_dead_letters<D2: DeadLetters>(self, dead_letters: D2) -> Pipeline<S, E, L, D2, R> {
        Pipeline {
            engine: self.engine,
            source: self.source,
            executor: self.executor,
            ledger: self.ledger,
            dead_letters,
            sink: self.sink,
            fallback: self.fallback,
            shadow: self.shadow,
            zone: self.zone,
            policy: self.policy,
        }
    }

    /// Hands every finished record to `sink`.
    pub fn with_sink<R2: RecordSink>(self, sink: R2) -> Pipeline<S, E, L, D, R2> {
        Pipeline {
            engine: self.engine,
            source: self.source,
            executor: self.executor,
            ledger: self.ledger,
            dead_letters: self.dead_letters,
            sink,
            fallback: self.fallback,
            shadow: self.shadow,
            zone: self.zone,
            policy: self.policy,
        }
    }

    /// Gives guests the UTC offset of `zone` (`CLICKRULES_TIMEZONE`) at each press's time.
    pub fn with_zone(mut self, zone: Option<Zone>) -> Self {
        self.zone = zone;
        self
    }

    /// Accepts presses under `policy`.
    pub fn with_policy(mut self, policy: PressPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The press policy.
    pub fn policy(&self) -> &PressPolicy {
        &self.policy
    }

    /// Runs the guest `shadow` supplies on every press beside the active one: its decision is
    /// recorded (and whether it differs), never executed, its state writes never committed.
    pub fn with_shadow(mut self, shadow: Option<S>) -> Self {
        self.shadow = shadow;
        self
    }

    /// The shadow guest's source, when one is configured.
    pub fn shadow(&self) -> Option<&S> {
        self.shadow.as_ref()
    }

    /// Lets `guest` decide when the configured guest fails.
    pub fn with_fallback(mut self, guest: Option<CurrentGuest>) -> Self {
        self.fallback = guest;
        self
    }

    /// The guest source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// The ledger.
    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    /// The dead-letter destination.
    pub fn dead_letters(&self) -> &D {
        &self.dead_letters
    }

    /// The record sink.
    pub fn sink(&self) -> &R {
        &self.sink
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

impl<S, E, L, D, R> Pipeline<S, E, L, D, R>
where
    S: GuestSource,
    E: Executor,
    L: Ledger,
    D: DeadLetters,
    R: RecordSink,
{
    /// Runs one delivery and returns the result that speaks for it ([`Delivery::main`]):
    /// for callers whose events carry one press.
    pub async fn press(&self, request: PressRequest<'_>) -> PressResult {
        let delivery = self.deliver(request).await;
        let main = delivery.main().clone();
        PressResult {
            disposition: delivery.disposition,
            ..main
        }
    }

    /// Runs one delivery: every press it carries, each with its own id, claim and record.
    /// Never panics on bad input or a misbehaving guest: every outcome is a record, handed to
    /// the sink and returned.
    pub async fn deliver(&self, request: PressRequest<'_>) -> Delivery {
        let started = Instant::now();
        let received_at = request.received_at_ms.unwrap_or_else(now_ms);
        let parsed;
        let event = match request.normalised {
            Some(event) => event,
            None => match normalise_event_with(request.event, received_at, &self.policy.sources) {
                Ok(event) => {
                    parsed = event;
                    &parsed
                }
                Err(e) => {
                    let mut record = PressRecord::new(request.request_id, self.executor.executes());
                    record.received_at_ms = received_at;
                    let failure = Failure::Press(PressError::Event(e));
                    return Delivery::of(vec![
                        self.finish(&request, started, record, Err(failure)).await,
                    ]);
                }
            },
        };
        let mut results = Vec::with_capacity(event.presses.len().max(1));
        if event.presses.is_empty() {
            // A state report, a button-down edge, an unsupported gesture: recorded, not run.
            let mut record = PressRecord::new(request.request_id, self.executor.executes());
            record.received_at_ms = received_at;
            record.event_format = Some(event.format);
            record.press_id = base_press_id(&request, event);
            record.skipped.clone_from(&event.skipped);
            record.ok = true;
            results.push(
                self.finish(&request, started, record, Ok(Disposition::Done))
                    .await,
            );
            return Delivery::of(results);
        }
        for prepared in self.prepare(&request, event) {
            let started = Instant::now();
            let mut record = PressRecord::new(request.request_id, self.executor.executes());
            record.event_format = Some(event.format);
            record.received_at_ms = prepared.click.received_at_ms;
            let outcome = self.run(&request, &mut record, prepared).await;
            results.push(self.finish(&request, started, record, outcome).await);
        }
        Delivery::of(results)
    }

    /// Records a delivery turned away before it was a press (a forged or malformed HTTPS
    /// request): one record with `failure`, nothing run, nothing dead-lettered.
    pub async fn refuse(&self, request: PressRequest<'_>, failure: Failure) -> PressResult {
        let mut record = PressRecord::new(request.request_id, self.executor.executes());
        record.received_at_ms = request.received_at_ms.unwrap_or_else(now_ms);
        self.finish(&request, Instant::now(), record, Err(failure))
            .await
    }

    /// Each press of the event with its id: the caller's, else the device's own counter (a
    /// redelivery of the same device event carries it), else the delivery's trace id, else the
    /// request id; with the press's index when the event carries several.
    fn prepare(&self, request: &PressRequest<'_>, event: &NormalisedEvent) -> Vec<Prepared> {
        let several = event.presses.len() > 1;
        let base = base_press_id(request, event);
        event
            .presses
            .iter()
            .enumerate()
            .map(|(i, press)| {
                let indexed = || {
                    if several {
                        format!("{base}#{i}")
                    } else {
                        base.clone()
                    }
                };
                let (press_id, windowed) = match (request.press_id, &press.device_counter) {
                    (Some(_), _) | (None, None) => (indexed(), false),
                    (None, Some(counter)) => (counter.clone(), true),
                };
                let mut click = press.click.clone();
                click.press_id.clone_from(&press_id);
                if let Some(zone) = &self.zone {
                    click.utc_offset_minutes = zone.offset_minutes(click.received_at_ms);
                }
                Prepared {
                    click,
                    press_id,
                    windowed,
                    skipped: if i == 0 {
                        event.skipped.clone()
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect()
    }

    /// Ends a press's record: failure, dead letter, duration, sink.
    async fn finish(
        &self,
        request: &PressRequest<'_>,
        started: Instant,
        mut record: PressRecord,
        outcome: Result<Disposition, Failure>,
    ) -> PressResult {
        let (failure, mut disposition) = match outcome {
            Ok(done) => (None, done),
            Err(f) if f.is_retryable() => (Some(f), Disposition::Fail),
            // Turned away on purpose (unknown device, rate limit, refused request): recorded,
            // and the delivery ends, since no retry changes the answer.
            Err(f) if !f.is_dead_letter() => (Some(f), Disposition::Done),
            Err(f) => (Some(f), Disposition::Fail),
        };
        if let Some(f) = &failure {
            record.ok = false;
            record.failure = Some(f.info());
            if f.is_dead_letter() && !record.dead_lettered && self.dead_letters.is_on() {
                // Nothing stored for it (a bad event, a failure before the claim): still kept.
                record.dead_lettered = self.send_dead_letter(request, &record).await;
            }
            if record.dead_lettered {
                disposition = Disposition::DeadLettered;
            }
        }
        record.duration_us = started.elapsed().as_micros() as u64;
        self.keep_for_history(&record).await;
        self.sink.record(&record);
        PressResult {
            record,
            failure,
            disposition,
        }
    }

    async fn run(
        &self,
        request: &PressRequest<'_>,
        record: &mut PressRecord,
        prepared: Prepared,
    ) -> Result<Disposition, Failure> {
        let now = now_ms();
        let Prepared {
            click,
            press_id,
            windowed,
            skipped,
        } = prepared;
        record.press_id = press_id;
        record.device_counter = windowed;
        record.skipped = skipped;
        record.click = Some(click.clone());
        let format = record.event_format.unwrap_or(EventFormat::IotButton);
        if !self.policy.devices.allows(format, &click.serial_number) {
            return Err(Failure::UnknownDevice {
                source_name: format.as_str(),
                device: click.serial_number.clone(),
            });
        }

        let lease_until = request.deadline_ms.unwrap_or(now + DEFAULT_LEASE_MS);
        let lease = if self.ledger.is_on() {
            let claim = if windowed {
                let window = self
                    .policy
                    .dedupe_window_ms
                    .max(request.min_dedupe_window_ms.unwrap_or(0));
                let fresh_after = click.received_at_ms.saturating_sub(window);
                self.ledger
                    .claim_windowed(
                        &record.press_id,
                        lease_until,
                        now,
                        fresh_after,
                        request.request_id,
                    )
                    .await?
            } else {
                self.ledger
                    .claim(&record.press_id, lease_until, now)
                    .await?
            };
            match claim {
                Claim::New { attempt } => {
                    record.ledger = LedgerRecord {
                        outcome: LedgerOutcome::New,
                        skipped_actions: 0,
                        attempt: Some(attempt),
                    };
                    Lease {
                        press_id: record.press_id.clone(),
                        attempt,
                    }
                }
                Claim::Resume {
                    attempt,
                    record: stored,
                } => {
                    let lease = Lease {
                        press_id: record.press_id.clone(),
                        attempt,
                    };
                    return self.resume(request, record, *stored, lease).await;
                }
                Claim::Duplicate { record: stored } => {
                    return duplicate(request, record, *stored);
                }
                Claim::InProgress { lease_until_ms } => {
                    record.ledger.outcome = LedgerOutcome::InProgress;
                    return Err(Failure::InProgress {
                        press_id: record.press_id.clone(),
                        lease_until_ms,
                    });
                }
            }
        } else {
            Lease {
                press_id: record.press_id.clone(),
                attempt: 1,
            }
        };

        if self.policy.rate_limit_per_minute > 0 && self.ledger.is_on() {
            let device = DeviceKey::of(&click);
            let admitted = self
                .ledger
                .admit(
                    &device,
                    self.policy.rate_limit_per_minute,
                    click.received_at_ms,
                )
                .await?;
            if !admitted {
                let failure = Failure::RateLimited {
                    device: device.id(),
                    limit_per_minute: self.policy.rate_limit_per_minute,
                };
                self.end_early(request, &lease, &failure, record).await;
                return Err(failure);
            }
        }

        // The press's own seed: its guest's random bytes, kept so a replay sees the same.
        let seed = PressSeed::fresh();
        record.replay = Some(ReplayRecord {
            seed,
            settings: (**self.engine.settings()).clone(),
        });
        // Decide, and store the decision with the device's new state in the same write.
        // Another press of the same device may commit its state first: then decide again on
        // the fresh state.
        let mut attempt = 1;
        loop {
            let commit = match self.decide_and_check(&click, record, attempt, seed).await {
                Ok(commit) => commit,
                Err(failure) => {
                    if record.decision.is_some() {
                        self.run_shadow(request, &click, record, seed).await;
                    }
                    self.end_early(request, &lease, &failure, record).await;
                    return Err(failure);
                }
            };
            match self.ledger.commit(&lease, record, commit.as_ref()).await {
                Ok(()) => {
                    if let Some(state) = record.state.as_mut() {
                        state.committed = commit.is_some();
                    }
                    break;
                }
                Err(LedgerError::StateConflict { device }) if attempt < MAX_STATE_ATTEMPTS => {
                    tracing::info!(%device, attempt, "the device's state changed meanwhile; deciding again");
                    attempt += 1;
                    record.fallback = None;
                }
                Err(LedgerError::StateConflict { device }) => {
                    let failure = Failure::StateConflict {
                        device,
                        attempts: attempt,
                    };
                    self.end_early(request, &lease, &failure, record).await;
                    return Err(failure);
                }
                Err(e) => return Err(Failure::Ledger(e)),
            }
        }
        // The active decision is stored: the shadow decides the same press now, and its
        // record is stored with the press's end.
        self.run_shadow(request, &click, record, seed).await;
        if record.actions().is_empty() {
            record.ok = true;
            self.ledger.end(&lease, End::Complete, record).await?;
            return Ok(Disposition::Done);
        }
        self.execute(request, record, &lease, &[]).await
    }

    /// Decides (reading the device's state when the guest uses state) and makes the checks
    /// the press must pass before anything is stored: returns the state to commit, if any.
    async fn decide_and_check(
        &self,
        click: &Click,
        record: &mut PressRecord,
        attempt: u32,
        seed: PressSeed,
    ) -> Result<Option<StateCommit>, Failure> {
        let commit = self.decide(click.clone(), record, attempt, seed).await?;
        self.executor.preflight(record.actions())?;
        Ok(commit)
    }

    /// A retry of a press whose decision is stored: execute only the actions not yet done.
    async fn resume(
        &self,
        request: &PressRequest<'_>,
        record: &mut PressRecord,
        stored: PressRecord,
        lease: Lease,
    ) -> Result<Disposition, Failure> {
        let done_before: Vec<OutcomeRecord> = stored.outcomes.clone();
        let skipped = done_before
            .iter()
            .filter(|o| o.status == OutcomeStatus::Done)
            .count();
        *record = PressRecord {
            request_id: request.request_id.to_string(),
            executed: self.executor.executes(),
            outcomes: Vec::new(),
            failure: None,
            ok: false,
            dead_lettered: false,
            ledger: LedgerRecord {
                outcome: LedgerOutcome::Resumed,
                skipped_actions: skipped,
                attempt: Some(lease.attempt),
            },
            ..stored
        };
        self.execute(request, record, &lease, &done_before).await
    }

    /// Obtains the guest and runs it (with its device's state when it uses state), with the
    /// fallback when configured. Returns the state to commit if the press succeeds.
    async fn decide(
        &self,
        click: Click,
        record: &mut PressRecord,
        attempt: u32,
        seed: PressSeed,
    ) -> Result<Option<StateCommit>, Failure> {
        let current = match self.source.current().await {
            Ok(current) => current,
            Err(e) => match (&self.fallback, e.is_guest_fault()) {
                (Some(fallback), true) => {
                    record.fallback = Some(FallbackRecord {
                        failed_guest: None,
                        error: source_info(&e),
                    });
                    warn_fallback(&e.to_string());
                    fallback.clone()
                }
                _ => return Err(Failure::GuestSource(SourceFailure::new(e))),
            },
        };
        record.guest = Some(current.record.clone());
        let (mut decision, mut stored) = self.press_guest(&current, &click, seed).await?;
        if let (Some(error), Some(fallback), None) =
            (&decision.error, &self.fallback, &record.fallback)
            && error.is_guest_failure()
        {
            record.fallback = Some(FallbackRecord {
                failed_guest: record.guest.take(),
                error: press_error_info(error),
            });
            warn_fallback(&error.to_string());
            (decision, stored) = self.press_guest(fallback, &click, seed).await?;
            record.guest = Some(fallback.record.clone());
        }
        record.decision = Some(decision_record(&decision));
        let device = DeviceKey::of(&click);
        record.state = match (&decision.state, &stored) {
            (Some(used), Some(stored)) => Some(StateRecord {
                device: device.id(),
                version: stored.version,
                read: used.read.clone(),
                writes: used.writes.clone(),
                before: Some(stored.state.clone()),
                committed: false,
                attempts: attempt,
            }),
            _ => None,
        };
        if let Some(e) = decision.error {
            return Err(Failure::Press(e));
        }
        Ok(match (decision.state, stored) {
            (Some(used), Some(stored)) if !used.writes.is_empty() => Some(StateCommit {
                version: stored.version,
                state: stored.state.apply(&used.writes, click.received_at_ms),
                device,
            }),
            _ => None,
        })
    }

    /// Runs one guest on the click; a guest that uses state gets its device's, read now.
    async fn press_guest(
        &self,
        current: &CurrentGuest,
        click: &Click,
        seed: PressSeed,
    ) -> Result<(Decision, Option<StoredState>), Failure> {
        let inputs = PressInputs::seeded(seed);
        if !current.guest.uses_state() {
            let decision = self.engine.press_with(
                &current.guest,
                click.clone(),
                &DeviceState::default(),
                &inputs,
            );
            return Ok((decision, None));
        }
        if !self.ledger.is_on() {
            return Err(Failure::StateUnavailable {
                guest: current.record.uri.clone(),
            });
        }
        let stored = self.ledger.load_state(&DeviceKey::of(click)).await?;
        let decision =
            self.engine
                .press_with(&current.guest, click.clone(), &stored.state, &inputs);
        Ok((decision, Some(stored)))
    }

    /// Runs the shadow guest on the press the active guest decided, with the same click, seed
    /// and state, within its budget: its own limits, and never more than half the time left
    /// before the press's deadline, so the actions after it still have theirs. Nothing it
    /// decides is executed or committed; whatever befalls it is only recorded.
    async fn run_shadow(
        &self,
        request: &PressRequest<'_>,
        click: &Click,
        record: &mut PressRecord,
        seed: PressSeed,
    ) {
        let Some(shadow) = &self.shadow else {
            return;
        };
        let started = Instant::now();
        let limit = self.engine.limits().timeout;
        let budget = match request.deadline_ms {
            Some(deadline) => {
                limit.min(Duration::from_millis(deadline.saturating_sub(now_ms()) / 2))
            }
            None => limit,
        };
        let active = record.verdict();
        let failed = |kind: &str, message: String| Verdict {
            actions: Vec::new(),
            error: Some(kind.to_string()),
            message: Some(message),
            state_writes: Vec::new(),
            state_read: Vec::new(),
        };
        let (guest, verdict) = match tokio::time::timeout(budget, shadow.current()).await {
            Err(_) => (
                None,
                failed(
                    "deadline",
                    format!(
                        "the shadow guest could not be obtained within its {} ms budget",
                        budget.as_millis()
                    ),
                ),
            ),
            Ok(Err(e)) => (None, failed(e.kind(), e.to_string())),
            Ok(Ok(current)) => {
                let left = budget.saturating_sub(started.elapsed());
                let verdict = self.press_shadow(&current, click, record, seed, left).await;
                (Some(current.record), verdict)
            }
        };
        let differs = active.as_ref().is_none_or(|a| a.differs_from(&verdict));
        if differs {
            tracing::info!(
                press_id = %record.press_id,
                shadow_error = verdict.error.as_deref().unwrap_or(""),
                "the shadow guest decided differently"
            );
        }
        record.shadow = Some(ShadowRecord {
            guest,
            verdict,
            differs,
            duration_us: started.elapsed().as_micros() as u64,
            budget_ms: budget.as_millis() as u64,
        });
    }

    /// The shadow's verdict on the press: the device's state as the active guest read it (or
    /// read now, when only the shadow uses state).
    async fn press_shadow(
        &self,
        current: &CurrentGuest,
        click: &Click,
        record: &PressRecord,
        seed: PressSeed,
        left: Duration,
    ) -> Verdict {
        let state = if !current.guest.uses_state() {
            DeviceState::default()
        } else if let Some(before) = record.state.as_ref().and_then(|s| s.before.clone()) {
            before
        } else if self.ledger.is_on() {
            match tokio::time::timeout(left, self.ledger.load_state(&DeviceKey::of(click))).await {
                Ok(Ok(stored)) => stored.state,
                Ok(Err(e)) => return shadow_failed("ledger", e.to_string()),
                Err(_) => {
                    return shadow_failed(
                        "deadline",
                        "the shadow's device state could not be read within its budget".into(),
                    );
                }
            }
        } else {
            return shadow_failed(
                "state_unavailable",
                format!(
                    "the shadow guest {} uses device state, which needs the press ledger",
                    current.record.uri
                ),
            );
        };
        if left.is_zero() {
            return shadow_failed(
                "deadline",
                "no time was left in the shadow's budget to run it".into(),
            );
        }
        let inputs = PressInputs {
            seed,
            settings: None,
            timeout: Some(left),
        };
        let decision = self
            .engine
            .press_with(&current.guest, click.clone(), &state, &inputs);
        Verdict::of_decision(&decision)
    }

    /// Keeps a delivery's record in history when the ledger did not store it itself.
    async fn keep_for_history(&self, record: &PressRecord) {
        let unstored = matches!(
            record.ledger.outcome,
            LedgerOutcome::Off | LedgerOutcome::Duplicate | LedgerOutcome::InProgress
        );
        // A request that was not even a known format (malformed, forged) is only logged: a
        // flood of them must not fill the table.
        if !self.ledger.is_on() || !unstored || record.event_format.is_none() {
            return;
        }
        if let Err(e) = self.ledger.keep(record).await {
            tracing::warn!(press_id = %record.press_id, error = %e, "could not keep the delivery in history");
        }
    }

    /// Runs each action not done before, storing each outcome; the last write also ends the
    /// press.
    async fn execute(
        &self,
        request: &PressRequest<'_>,
        record: &mut PressRecord,
        lease: &Lease,
        done_before: &[OutcomeRecord],
    ) -> Result<Disposition, Failure> {
        let actions = record.actions().to_vec();
        let todo: Vec<usize> = (0..actions.len())
            .filter(|i| {
                done_before
                    .get(*i)
                    .is_none_or(|o| o.status != OutcomeStatus::Done)
            })
            .collect();
        record.outcomes = actions
            .iter()
            .enumerate()
            .map(|(i, action)| match done_before.get(i) {
                Some(o) if o.status == OutcomeStatus::Done => OutcomeRecord {
                    done_earlier: true,
                    ..o.clone()
                },
                _ => OutcomeRecord {
                    action: action.clone(),
                    status: OutcomeStatus::Failed,
                    receipt: None,
                    error: Some(ErrorInfo {
                        kind: "not_run".into(),
                        message: "not run yet".into(),
                        retryable: Some(true),
                        backtrace: Vec::new(),
                    }),
                    done_earlier: false,
                },
            })
            .collect();
        if todo.is_empty() {
            // Every action was done by earlier deliveries: only the end was not stored.
            record.ok = true;
            self.ledger.end(lease, End::Complete, record).await?;
            return Ok(Disposition::Done);
        }
        let last = todo.last().copied().unwrap_or_default();
        // Every failure in the final outcomes is from this delivery: earlier failures are
        // retried here, and only done actions are kept from before.
        let mut errors: Vec<ActionError> = Vec::new();
        for i in todo {
            let action = &actions[i];
            let context = ActionContext {
                press_id: &lease.press_id,
                number: i + 1,
            };
            let outcome = match self.executor.execute(action, context).await {
                Ok(receipt) => OutcomeRecord {
                    action: action.clone(),
                    status: if self.executor.executes() {
                        OutcomeStatus::Done
                    } else {
                        OutcomeStatus::DryRun
                    },
                    receipt: Some(receipt),
                    error: None,
                    done_earlier: false,
                },
                Err(e) => {
                    let outcome = OutcomeRecord {
                        action: action.clone(),
                        status: OutcomeStatus::Failed,
                        receipt: None,
                        error: Some(e.info()),
                        done_earlier: false,
                    };
                    errors.push(e);
                    outcome
                }
            };
            record.outcomes[i] = outcome.clone();
            if i != last {
                self.ledger.outcome(lease, i + 1, &outcome, None).await?;
                continue;
            }
            // The last write ends the press; a press no retry can fix is dead-lettered first,
            // so the stored record says so and a redelivery is answered as done.
            let failure = actions_failure(&errors, record.outcomes.len());
            // Any failed action leaves the press open: AWS's retry (or a redrive after the cause
            // is fixed) then runs only what failed. Dead-lettering a press that no automatic
            // retry can fix stops the pointless retries, not a deliberate redelivery.
            let end = match &failure {
                Some(_) => End::Retry,
                None => End::Complete,
            };
            // The stored record says why the press failed, as the returned one does.
            record.failure = failure.as_ref().map(Failure::info);
            if let Some(f) = &failure
                && !f.is_retryable()
                && self.dead_letters.is_on()
            {
                record.dead_lettered = self.send_dead_letter(request, record).await;
            }
            record.ok = failure.is_none();
            self.ledger
                .outcome(lease, i + 1, &outcome, Some((end, record)))
                .await?;
            return match failure {
                None => Ok(Disposition::Done),
                Some(f) => Err(f),
            };
        }
        Ok(Disposition::Done)
    }

    /// Ends a press that failed before any action ran, keeping the failure it has. One no
    /// retry can fix is dead-lettered first, so the stored record says so and a redelivery is
    /// answered as done, not dead-lettered again.
    async fn end_early(
        &self,
        request: &PressRequest<'_>,
        lease: &Lease,
        failure: &Failure,
        record: &mut PressRecord,
    ) {
        let end = if failure.is_retryable() {
            End::Retry
        } else {
            End::Complete
        };
        record.failure = Some(failure.info());
        if failure.is_dead_letter() && self.dead_letters.is_on() {
            record.dead_lettered = self.send_dead_letter(request, record).await;
        }
        if let Err(e) = self.ledger.end(lease, end, record).await {
            // The lease then expires and the next delivery takes the press over.
            tracing::warn!(press_id = %lease.press_id, error = %e, "could not end the press in the ledger");
        }
    }

    async fn send_dead_letter(&self, request: &PressRequest<'_>, record: &PressRecord) -> bool {
        match self
            .dead_letters
            .send(request.event, record, request.function_arn)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                // The delivery fails instead, and the platform's dead-letter path keeps it.
                tracing::warn!(press_id = %record.press_id, error = %e, "could not dead-letter the press");
                false
            }
        }
    }
}

/// The delivery's press id: the caller's, else the trace id the topic rule added, else the
/// request id.
fn base_press_id(request: &PressRequest<'_>, event: &NormalisedEvent) -> String {
    request
        .press_id
        .map(str::to_string)
        .or_else(|| event.trace_id.clone())
        .unwrap_or_else(|| request.request_id.to_string())
}

/// A redelivery of a finished press: its stored record, marked as a duplicate. Nothing runs.
fn duplicate(
    request: &PressRequest<'_>,
    record: &mut PressRecord,
    stored: PressRecord,
) -> Result<Disposition, Failure> {
    let failure = stored.failure.clone();
    let dead_lettered = stored.dead_lettered;
    *record = PressRecord {
        request_id: request.request_id.to_string(),
        ledger: LedgerRecord {
            outcome: LedgerOutcome::Duplicate,
            ..stored.ledger
        },
        ..stored
    };
    match failure {
        None => Ok(Disposition::Done),
        // Already kept in the dead-letter queue: done.
        Some(_) if dead_lettered => Ok(Disposition::DeadLettered),
        // Turned away on purpose the first time: answered the same way, nothing kept.
        Some(info) if TURNED_AWAY.contains(&info.kind.as_str()) => Ok(Disposition::Done),
        Some(info) => Err(Failure::Repeated { failure: info }),
    }
}

/// Why a press whose actions all ran failed, if any did.
fn actions_failure(errors: &[ActionError], total: usize) -> Option<Failure> {
    let first = errors.first()?;
    Some(Failure::Actions {
        failed: errors.len(),
        total,
        first: first.clone(),
        retryable: errors.iter().any(ActionError::is_retryable),
    })
}

fn decision_record(d: &Decision) -> DecisionRecord {
    DecisionRecord {
        actions: d.actions.clone(),
        error: d.error.as_ref().map(press_error_info),
        instructions: d.instructions,
        peak_memory_bytes: d.peak_memory_bytes,
        duration_us: d.duration_us,
        output: d.output.clone(),
    }
}

fn shadow_failed(kind: &str, message: String) -> Verdict {
    Verdict {
        actions: Vec::new(),
        error: Some(kind.to_string()),
        message: Some(message),
        state_writes: Vec::new(),
        state_read: Vec::new(),
    }
}

fn warn_fallback(error: &str) {
    let error = clickrules_engine::text::escape_control(error);
    tracing::warn!(%error, "the guest failed; the built-in guest decides this press");
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
