//! The press ledger in DynamoDB (`CLICKRULES_LEDGER_TABLE`): one item per press, written with
//! conditions so that exactly one delivery holds a press at a time.
//!
//! Item `pk = "press#<press id>"`: `status` (`running`, `open`, `complete`), `attempt` (which
//! delivery holds or last held it), `lease_until` (ms), `record` (the press record as JSON, once
//! the decision is stored), `outcome_<n>` (each action's outcome as it completes), and `ttl`
//! (epoch seconds; DynamoDB deletes the item some time after). Every request is one call:
//! a claim is an `UpdateItem` whose condition admits a new press, an open one or an expired
//! lease, and which returns the item either way (`ReturnValues` / `...OnConditionCheckFailure`).
//!
//! Whenever a press item's record is written it also gets the attributes history reads it by
//! (see [`crate::dynamo_history`]): `device` (`<source>#<serial>`), `at` (when the press was
//! received, ms), `day` (its UTC date, `YYYY-MM-DD`) and `outcome` (what the press came to). A
//! press that ends keeps its `ttl` for its outcome's history retention, never less than the
//! ledger's; a delivery answered from the ledger adds one to `duplicates` of the press it
//! repeated. A press that ended for a retry without a decision keeps its record as
//! `failed_record`, which a claim never resumes from, so history still shows the failure.
//!
//! Item `pk = "state#<source>#<device>"`: one device's state (contract 0.2.0), `state` (its
//! keys as JSON) and `version` (one more per commit). It is read once, strongly consistent,
//! before the guest runs, and written only in the transaction that stores the press's
//! decision, conditioned on the version read: a concurrent press of the device that committed
//! first cancels it, and the press is decided again. Its `ttl` is the latest key expiry, or
//! absent while any key never expires, so DynamoDB never deletes live state.
//!
//! Item `pk = "guest#<location>"`: `floor`, the newest signed-artifact sequence loaded for
//! that guest location, so replay protection survives cold starts.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use clickrules_engine::DeviceState;
use clickrules_pipeline::{
    Claim, DeviceKey, End, Lease, Ledger, LedgerError, LedgerOutcome, OutcomeRecord, PressOutcome,
    PressRecord, Retention, StateCommit, StoredState, is_earlier_press,
};

use crate::sdk_error::sdk_error_text;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Prefix of press items' keys.
pub(crate) const PRESS_PREFIX: &str = "press#";
/// Prefix of device state items' keys.
pub(crate) const STATE_PREFIX: &str = "state#";
/// Prefix of per-minute rate items' keys: `rate#<source>#<device>#<minute>`.
pub(crate) const RATE_PREFIX: &str = "rate#";

/// The attributes history reads a press item by (the indexes' keys, and the outcome filter).
pub(crate) const DEVICE: &str = "device";
pub(crate) const AT: &str = "at";
pub(crate) const DAY: &str = "day";
pub(crate) const OUTCOME: &str = "outcome";
/// Later deliveries answered as duplicates of a press.
pub(crate) const DUPLICATES: &str = "duplicates";
/// The record of a delivery that ended for a retry before a decision was kept.
pub(crate) const FAILED_RECORD: &str = "failed_record";

/// Every attribute name the expressions here spell as `#name` (some are DynamoDB reserved
/// words, and one list keeps them all quoted alike).
const QUOTED: [&str; 9] = [
    "record",
    "status",
    "ttl",
    DEVICE,
    AT,
    DAY,
    OUTCOME,
    DUPLICATES,
    FAILED_RECORD,
];

const RUNNING: &str = "running";
const OPEN: &str = "open";
const COMPLETE: &str = "complete";
/// Error codes DynamoDB throttles with.
const THROTTLE_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// The press ledger in a DynamoDB table with a string partition key `pk`.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retention: Duration,
    history: Retention,
}

impl DynamoLedger {
    /// The ledger in `table`, keeping each press for `retention` (for recognising a
    /// redelivery), and an ended press for as long as history keeps its outcome
    /// ([`Retention::default`]: see [`DynamoLedger::with_history_retention`]).
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, retention: Duration) -> Self {
        Self {
            client,
            table,
            retention,
            history: Retention::default(),
        }
    }

    /// Keeps ended presses for `history` by their outcome, never less than the ledger's own
    /// retention.
    pub fn with_history_retention(mut self, history: Retention) -> Self {
        self.history = history;
        self
    }

    /// How long history keeps each kind of press.
    pub fn history_retention(&self) -> Retention {
        self.history
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn key(press_id: &str) -> AttributeValue {
        AttributeValue::S(format!("{PRESS_PREFIX}{press_id}"))
    }

    fn state_key(device: &DeviceKey) -> AttributeValue {
        AttributeValue::S(format!("{STATE_PREFIX}{}", device.id()))
    }

    /// The decision and the device's new state in one transaction: the press item on the
    /// lease's condition, the device item on the version read.
    async fn commit_with_state(
        &self,
        lease: &Lease,
        record: &PressRecord,
        commit: &StateCommit,
    ) -> Result<(), LedgerError> {
        let mut values = Item::from([(":record".to_string(), record_value(record))]);
        let update = format!(
            "SET #record = :record, {} REMOVE #{FAILED_RECORD}",
            history_attributes(record, now_ms(), &mut values)
        );
        values.insert(":attempt".into(), number(u64::from(lease.attempt)));
        values.insert(":running".into(), AttributeValue::S(RUNNING.into()));
        let condition = "attempt = :attempt AND #status = :running";
        let press = Update::builder()
            .table_name(&self.table)
            .key("pk", Self::key(&lease.press_id))
            .set_expression_attribute_names(Some(names_in(&[&update, condition])))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| self.build_error(e))?;
        let state_json = serde_json::to_string(&commit.state).unwrap_or_default();
        let mut update = "SET #state = :state, version = :next".to_string();
        // The item lives as long as its longest-lived key; while any key never expires, the
        // table's TTL must not touch it.
        let ttl = commit
            .state
            .latest_expiry_ms()
            .map(|ms| number(ms.div_ceil(1000)));
        update.push_str(if ttl.is_some() {
            ", #ttl = :ttl"
        } else {
            " REMOVE #ttl"
        });
        let mut device = Update::builder()
            .table_name(&self.table)
            .key("pk", Self::state_key(&commit.device))
            .update_expression(update)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":state", AttributeValue::S(state_json))
            .expression_attribute_values(":next", number(commit.version + 1));
        device = if commit.version == 0 {
            device.condition_expression("attribute_not_exists(pk)")
        } else {
            device
                .condition_expression("version = :read")
                .expression_attribute_values(":read", number(commit.version))
        };
        if let Some(ttl) = ttl {
            device = device.expression_attribute_values(":ttl", ttl);
        }
        let device = device.build().map_err(|e| self.build_error(e))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(press).build())
            .transact_items(TransactWriteItem::builder().update(device).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.transaction_error(&e, lease, commit)),
        }
    }

    /// What a cancelled transaction means: the reasons come in the order of its items (the
    /// press, then the device).
    fn transaction_error(
        &self,
        e: &SdkError<TransactWriteItemsError>,
        lease: &Lease,
        commit: &StateCommit,
    ) -> LedgerError {
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            e.as_service_error()
        else {
            return self.error(e);
        };
        let code = |i: usize| {
            cancelled
                .cancellation_reasons()
                .get(i)
                .and_then(|r| r.code())
                .unwrap_or("None")
        };
        match (code(0), code(1)) {
            ("ConditionalCheckFailed", _) => LedgerError::LostLease {
                press_id: lease.press_id.clone(),
            },
            // Another press of the device committed first, or is committing now.
            (_, "ConditionalCheckFailed" | "TransactionConflict") => LedgerError::StateConflict {
                device: commit.device.id(),
            },
            (a, b) if THROTTLE_CODES.contains(&a) || THROTTLE_CODES.contains(&b) => {
                LedgerError::Throttled {
                    table: self.table.clone(),
                    message: format!("transaction cancelled: {a}, {b}"),
                }
            }
            (a, b) => LedgerError::Unavailable {
                table: self.table.clone(),
                message: format!("transaction cancelled: {a}, {b}"),
            },
        }
    }

    fn build_error(&self, e: impl std::fmt::Display) -> LedgerError {
        LedgerError::Refused {
            table: self.table.clone(),
            message: format!("cannot build the request: {e}"),
        }
    }

    fn ttl(&self) -> AttributeValue {
        expiry(self.retention)
    }

    /// The `ttl` of a press that ended as `record`: history's retention for its outcome, but
    /// never shorter than the ledger needs to recognise a late redelivery.
    fn ended_ttl(&self, record: &PressRecord) -> AttributeValue {
        expiry(self.history.of(record).max(self.retention))
    }

    fn error<E>(&self, e: &SdkError<E>) -> LedgerError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let table = self.table.clone();
        let message = sdk_error_text(e);
        match e {
            SdkError::ServiceError(context) => {
                let throttled = e.code().is_some_and(|c| THROTTLE_CODES.contains(&c))
                    || context.raw().status().as_u16() == 429;
                if throttled {
                    LedgerError::Throttled { table, message }
                } else if context.raw().status().as_u16() >= 500 {
                    LedgerError::Unavailable { table, message }
                } else {
                    LedgerError::Refused { table, message }
                }
            }
            _ => LedgerError::Unavailable { table, message },
        }
    }

    /// An update of the running press `lease` holds; the lease is lost if another delivery
    /// took the press over.
    async fn update_held(
        &self,
        lease: &Lease,
        update: String,
        mut values: HashMap<String, AttributeValue>,
    ) -> Result<(), LedgerError> {
        values.insert(":attempt".into(), number(u64::from(lease.attempt)));
        values.insert(":running".into(), AttributeValue::S(RUNNING.into()));
        let held = "attempt = :attempt AND #status = :running";
        if self
            .update_if(&lease.press_id, &update, held, values)
            .await?
        {
            Ok(())
        } else {
            Err(LedgerError::LostLease {
                press_id: lease.press_id.clone(),
            })
        }
    }

    /// One `UpdateItem` of press `press_id` under `condition`, with the attribute names the
    /// expressions use; `false` when the condition did not hold (nothing was written).
    async fn update_if(
        &self,
        press_id: &str,
        update: &str,
        condition: &str,
        values: Item,
    ) -> Result<bool, LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(press_id))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_in(&[update, condition])))
            .update_expression(update)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.error(&e)),
        }
    }

    /// Stores a delivery no claim stored, as a complete press, unless its press is stored
    /// already: `false` then. An `UpdateItem` rather than a `PutItem`, so the functions need
    /// no action beyond the two item calls the ledger makes.
    async fn put_if_absent(&self, record: &PressRecord) -> Result<bool, LedgerError> {
        let mut values = Item::from([
            (":complete".to_string(), AttributeValue::S(COMPLETE.into())),
            (":record".to_string(), record_value(record)),
            (":ttl".to_string(), self.ended_ttl(record)),
        ]);
        let update = format!(
            "SET #status = :complete, #record = :record, #ttl = :ttl, {}",
            history_attributes(record, now_ms(), &mut values)
        );
        self.update_if(
            &record.press_id,
            &update,
            "attribute_not_exists(pk)",
            values,
        )
        .await
    }

    /// Counts `record`'s delivery as a duplicate on the stored press it repeated. The stored
    /// record stays as it is: it is the delivery that did the work.
    async fn count_duplicate(&self, record: &PressRecord) -> Result<(), LedgerError> {
        let update = format!(
            "ADD #{DUPLICATES} :one SET last_duplicate_request = :request, \
             last_duplicate_at = :now"
        );
        let values = Item::from([
            (":one".to_string(), number(1)),
            (
                ":request".to_string(),
                AttributeValue::S(record.request_id.clone()),
            ),
            (":now".to_string(), number(now_ms())),
        ]);
        // Only on an item that is there: a press forgotten or expired meanwhile is not
        // brought back as an item holding nothing but a count.
        self.update_if(&record.press_id, &update, "attribute_exists(pk)", values)
            .await?;
        Ok(())
    }

    /// The newest signed-artifact sequence loaded for the guest at `location`, by any instance.
    pub async fn artifact_floor(&self, location: &str) -> Result<u64, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("guest#{location}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(&e))?;
        Ok(out
            .item()
            .and_then(|item| get_number(item, "floor"))
            .unwrap_or(0))
    }

    /// Raises the stored floor for `location` to `sequence` (never lowers it).
    pub async fn raise_artifact_floor(
        &self,
        location: &str,
        sequence: u64,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("guest#{location}")))
            .update_expression("SET floor = :s")
            .condition_expression("attribute_not_exists(floor) OR floor < :s")
            .expression_attribute_values(":s", number(sequence))
            .send()
            .await;
        match result {
            // Already as high or higher: nothing to do.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(self.error(&e)),
            Ok(_) => Ok(()),
        }
    }
}

/// Where a stored press stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PressStatus {
    /// A delivery holds it until `lease_until_ms`.
    Running {
        /// When the lease ends, ms since the epoch.
        lease_until_ms: u64,
    },
    /// Failed in a way a retry may fix: the next delivery claims it at once.
    Open,
    /// Done for good: a delivery is answered from the ledger.
    Complete,
}

/// A press as the ledger holds it, for operators (`clickrules redrive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPress {
    /// Where it stands.
    pub status: PressStatus,
    /// Its stored record with the outcomes stored after it, when a decision is stored; else
    /// the failure history kept.
    pub record: Option<PressRecord>,
}

impl DynamoLedger {
    /// The press `press_id` as stored, read strongly consistent; `None` when the ledger holds
    /// nothing for it (never claimed, expired, or forgotten).
    pub async fn inspect(&self, press_id: &str) -> Result<Option<StoredPress>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::key(press_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(&e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let status = match get_string(item, "status") {
            Some(COMPLETE) => PressStatus::Complete,
            Some(OPEN) => PressStatus::Open,
            _ => PressStatus::Running {
                lease_until_ms: get_number(item, "lease_until").unwrap_or(0),
            },
        };
        let record = match stored_record(press_id, item)? {
            Some(record) => Some(record),
            None => match get_string(item, FAILED_RECORD) {
                Some(json) => {
                    Some(
                        serde_json::from_str(json).map_err(|e| LedgerError::Corrupt {
                            press_id: press_id.to_string(),
                            message: e.to_string(),
                        })?,
                    )
                }
                None => None,
            },
        };
        Ok(Some(StoredPress { status, record }))
    }

    /// Opens a press that ended for good with a failure (dead-lettered before any action ran,
    /// say), so that its next delivery decides it again: its record moves to `failed_record`
    /// (history keeps it). A press that succeeded, or is open or running, is left as it is;
    /// `false` then.
    pub async fn reopen(&self, press_id: &str) -> Result<bool, LedgerError> {
        let Some(StoredPress {
            status: PressStatus::Complete,
            record: Some(record),
        }) = self.inspect(press_id).await?
        else {
            return Ok(false);
        };
        if record.ok {
            return Ok(false);
        }
        let values = Item::from([
            (":open".to_string(), AttributeValue::S(OPEN.into())),
            (":complete".to_string(), AttributeValue::S(COMPLETE.into())),
            (":record".to_string(), record_value(&record)),
        ]);
        // Only the press as read: a delivery that claimed it meanwhile keeps it.
        self.update_if(
            press_id,
            &format!("SET #status = :open, #{FAILED_RECORD} = :record REMOVE #record"),
            "#status = :complete",
            values,
        )
        .await
    }
}

impl Ledger for DynamoLedger {
    fn is_on(&self) -> bool {
        true
    }

    async fn claim(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
    ) -> Result<Claim, LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(press_id))
            .update_expression(
                "SET #status = :running, lease_until = :lease, \
                 attempt = if_not_exists(attempt, :zero) + :one, #ttl = :ttl",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR #status = :open \
                 OR (#status = :running AND lease_until <= :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":running", AttributeValue::S(RUNNING.into()))
            .expression_attribute_values(":open", AttributeValue::S(OPEN.into()))
            .expression_attribute_values(":lease", number(lease_until_ms))
            .expression_attribute_values(":now", number(now_ms))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":ttl", self.ttl())
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes().cloned().unwrap_or_default();
                let attempt = get_number(&item, "attempt").unwrap_or(1) as u32;
                Ok(match stored_record(press_id, &item)? {
                    Some(record) => Claim::Resume {
                        attempt,
                        record: Box::new(record),
                    },
                    None => Claim::New { attempt },
                })
            }
            Err(e) if is_condition_failure(&e) => {
                let item = condition_item(&e).unwrap_or_default();
                match get_string(&item, "status") {
                    Some(COMPLETE) => match stored_record(press_id, &item)? {
                        Some(record) => Ok(Claim::Duplicate {
                            record: Box::new(record),
                        }),
                        None => Err(LedgerError::Corrupt {
                            press_id: press_id.to_string(),
                            message: "complete without a record".into(),
                        }),
                    },
                    _ => Ok(Claim::InProgress {
                        lease_until_ms: get_number(&item, "lease_until").unwrap_or(0),
                    }),
                }
            }
            Err(e) => Err(self.error(&e)),
        }
    }

    async fn claim_windowed(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
        fresh_after_ms: u64,
        request_id: &str,
    ) -> Result<Claim, LedgerError> {
        let claim = self.claim(press_id, lease_until_ms, now_ms).await?;
        let stale = matches!(
            &claim,
            Claim::Duplicate { record } if is_earlier_press(record, fresh_after_ms, request_id)
        );
        if !stale {
            return Ok(claim);
        }
        // The counter came round again (it wrapped, or the device rebooted): the stored press
        // is an earlier one. Only a complete entry is removed, so a concurrent delivery of the
        // new press that claimed it first keeps its claim, and this one then finds it running.
        let removed = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::key(press_id))
            .condition_expression("#status = :complete")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":complete", AttributeValue::S(COMPLETE.into()))
            .send()
            .await;
        if let Err(e) = removed
            && !matches!(
                e.as_service_error(),
                Some(DeleteItemError::ConditionalCheckFailedException(_))
            )
        {
            return Err(self.error(&e));
        }
        self.claim(press_id, lease_until_ms, now_ms).await
    }

    async fn admit(
        &self,
        device: &DeviceKey,
        limit: u32,
        now_ms: u64,
    ) -> Result<bool, LedgerError> {
        let minute = now_ms / 60_000;
        // Kept an hour past its minute, for a look at a flood after the fact.
        let expires = (minute + 61) * 60;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(format!("rate#{}#{minute}", device.id())),
            )
            .update_expression("ADD presses :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(presses) OR presses < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":limit", number(u64::from(limit)))
            .expression_attribute_values(":ttl", number(expires))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.error(&e)),
        }
    }

    async fn load_state(&self, device: &DeviceKey) -> Result<StoredState, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::state_key(device))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(&e))?;
        let Some(item) = out.item() else {
            return Ok(StoredState::default());
        };
        let state: DeviceState = match get_string(item, "state") {
            Some(json) => serde_json::from_str(json).map_err(|e| LedgerError::Corrupt {
                press_id: format!("state of {}", device.id()),
                message: e.to_string(),
            })?,
            None => DeviceState::default(),
        };
        Ok(StoredState {
            state,
            version: get_number(item, "version").unwrap_or(0),
        })
    }

    async fn commit(
        &self,
        lease: &Lease,
        record: &PressRecord,
        state: Option<&StateCommit>,
    ) -> Result<(), LedgerError> {
        if let Some(commit) = state {
            return self.commit_with_state(lease, record, commit).await;
        }
        let mut values = Item::from([(":record".to_string(), record_value(record))]);
        let update = format!(
            "SET #record = :record, {} REMOVE #{FAILED_RECORD}",
            history_attributes(record, now_ms(), &mut values)
        );
        self.update_held(lease, update, values).await
    }

    async fn outcome(
        &self,
        lease: &Lease,
        number: usize,
        outcome: &OutcomeRecord,
        end: Option<(End, &PressRecord)>,
    ) -> Result<(), LedgerError> {
        let json = serde_json::to_string(outcome).unwrap_or_default();
        let mut values = HashMap::from([(":outcome".to_string(), AttributeValue::S(json))]);
        let mut update = format!("SET outcome_{number} = :outcome");
        if let Some((end, record)) = end {
            update.push_str(", #record = :record, #status = :end, #ttl = :ttl, ");
            update.push_str(&history_attributes(record, now_ms(), &mut values));
            update.push_str(&format!(" REMOVE #{FAILED_RECORD}"));
            values.insert(":record".into(), record_value(record));
            values.insert(":end".into(), AttributeValue::S(end_status(end).into()));
            values.insert(":ttl".into(), self.ended_ttl(record));
        }
        self.update_held(lease, update, values).await
    }

    async fn end(&self, lease: &Lease, end: End, record: &PressRecord) -> Result<(), LedgerError> {
        let mut values = Item::from([
            (
                ":end".to_string(),
                AttributeValue::S(end_status(end).into()),
            ),
            (":record".to_string(), record_value(record)),
            (":ttl".to_string(), self.ended_ttl(record)),
        ]);
        let history = history_attributes(record, now_ms(), &mut values);
        let update = match end {
            End::Complete => format!(
                "SET #status = :end, #record = :record, #ttl = :ttl, {history} \
                 REMOVE #{FAILED_RECORD}"
            ),
            // Nothing was decided for good: the next delivery decides again (the guest may be
            // fixed by then), so no record is kept to resume from; history keeps the failure
            // under a name claims do not read.
            End::Retry => format!(
                "SET #status = :end, #{FAILED_RECORD} = :record, #ttl = :ttl, {history} \
                 REMOVE #record"
            ),
        };
        self.update_held(lease, update, values).await
    }

    async fn keep(&self, record: &PressRecord) -> Result<(), LedgerError> {
        match record.ledger.outcome {
            // Stored by the ledger itself, with the claim.
            LedgerOutcome::New | LedgerOutcome::Resumed => Ok(()),
            LedgerOutcome::Duplicate | LedgerOutcome::InProgress => {
                self.count_duplicate(record).await
            }
            // A delivery the ledger never claimed: a failure a retry may fix (the ledger
            // itself was unreachable, say) must not leave a complete item, or the retry would
            // be answered as a duplicate of the failure and never run.
            LedgerOutcome::Off
                if record
                    .failure
                    .as_ref()
                    .is_some_and(|f| f.retryable == Some(true)) =>
            {
                Ok(())
            }
            LedgerOutcome::Off => {
                if self.put_if_absent(record).await? {
                    Ok(())
                } else {
                    // The same delivery again (a state report redelivered): counted on the
                    // first one.
                    self.count_duplicate(record).await
                }
            }
        }
    }
}

fn end_status(end: End) -> &'static str {
    match end {
        End::Complete => COMPLETE,
        End::Retry => OPEN,
    }
}

pub(crate) fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(crate) fn get_number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name)? {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}

pub(crate) fn get_string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name)? {
        AttributeValue::S(s) => Some(s),
        _ => None,
    }
}

fn record_value(record: &PressRecord) -> AttributeValue {
    AttributeValue::S(serde_json::to_string(record).unwrap_or_default())
}

/// The stored record with the outcomes stored after it, if a decision is stored.
pub(crate) fn stored_record(
    press_id: &str,
    item: &Item,
) -> Result<Option<PressRecord>, LedgerError> {
    record_in(press_id, item, "record")
}

/// The record history shows for a press item: the stored decision, else the failure of a
/// delivery that ended for a retry before one was stored.
pub(crate) fn history_record(
    press_id: &str,
    item: &Item,
) -> Result<Option<PressRecord>, LedgerError> {
    match stored_record(press_id, item)? {
        Some(record) => Ok(Some(record)),
        None => record_in(press_id, item, FAILED_RECORD),
    }
}

fn record_in(
    press_id: &str,
    item: &Item,
    attribute: &str,
) -> Result<Option<PressRecord>, LedgerError> {
    let Some(json) = get_string(item, attribute) else {
        return Ok(None);
    };
    let corrupt = |e: serde_json::Error| LedgerError::Corrupt {
        press_id: press_id.to_string(),
        message: e.to_string(),
    };
    let mut record: PressRecord = serde_json::from_str(json).map_err(corrupt)?;
    let actions = record.actions().len();
    for n in 1..=actions {
        if let Some(json) = get_string(item, &format!("outcome_{n}")) {
            let outcome: OutcomeRecord = serde_json::from_str(json).map_err(corrupt)?;
            if record.outcomes.len() < n {
                record.outcomes.resize(n, outcome.clone());
            }
            record.outcomes[n - 1] = outcome;
        }
    }
    Ok(Some(record))
}

fn is_condition_failure(e: &SdkError<UpdateItemError>) -> bool {
    matches!(
        e.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(_))
    )
}

fn condition_item(e: &SdkError<UpdateItemError>) -> Option<Item> {
    match e.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
        _ => None,
    }
}

/// Sets `values` for the attributes history reads `record` by, and returns the `SET` clauses
/// writing them (their values are `:history_*`, apart from the caller's). A delivery without a click (a state report) has no device, and is placed in
/// time by `now_ms`, when it was kept.
fn history_attributes(record: &PressRecord, now_ms: u64, values: &mut Item) -> String {
    // The press's time, else the delivery's (records from before deliveries had one: now).
    let at = match clickrules_pipeline::received_at_ms(record) {
        0 => now_ms,
        at => at,
    };
    let mut clauses = vec![
        format!("#{AT} = :history_at"),
        format!("#{DAY} = :history_day"),
        format!("#{OUTCOME} = :history_outcome"),
    ];
    values.insert(":history_at".into(), number(at));
    values.insert(":history_day".into(), AttributeValue::S(utc_day(at)));
    values.insert(
        ":history_outcome".into(),
        AttributeValue::S(PressOutcome::of(record).as_str().into()),
    );
    if let Some(click) = &record.click {
        clauses.push(format!("#{DEVICE} = :history_device"));
        values.insert(
            ":history_device".into(),
            AttributeValue::S(DeviceKey::of(click).id()),
        );
    }
    clauses.join(", ")
}

/// The UTC date of `ms` since the epoch, `YYYY-MM-DD` (the `by-day` index's key).
pub(crate) fn utc_day(ms: u64) -> String {
    let (y, m, d) = civil_from_days(ms / 86_400_000);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The names `expressions` spell as `#name`, for `ExpressionAttributeNames`: DynamoDB refuses
/// a name it is given that no expression uses, so only those used are sent.
pub(crate) fn names_in(expressions: &[&str]) -> HashMap<String, String> {
    QUOTED
        .iter()
        .filter(|name| {
            let placeholder = format!("#{name}");
            expressions
                .iter()
                .any(|e| uses_placeholder(e, &placeholder))
        })
        .map(|name| (format!("#{name}"), (*name).to_string()))
        .collect()
}

/// Whether `expression` has `placeholder` as a whole word (`#at` is not in `#attempt`).
fn uses_placeholder(expression: &str, placeholder: &str) -> bool {
    expression.match_indices(placeholder).any(|(i, _)| {
        expression[i + placeholder.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    })
}

/// Epoch seconds `after` from now, as DynamoDB's TTL reads them.
fn expiry(after: Duration) -> AttributeValue {
    let expires = SystemTime::now()
        .checked_add(after)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    number(expires)
}

/// Now, ms since the epoch (0 on a clock before it, which no deployment has).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(86_399_999), "1970-01-01");
        assert_eq!(utc_day(86_400_000), "1970-01-02");
        // 2026-01-15 12:00:00 UTC.
        assert_eq!(utc_day(1_768_478_400_000), "2026-01-15");
        // Leap days, and the century rules.
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_709_164_800_000), "2024-02-29");
        assert_eq!(utc_day(4_107_542_400_000), "2100-03-01");
        assert_eq!(utc_day(1_735_689_599_999), "2024-12-31");
    }

    #[test]
    fn only_the_names_an_expression_uses_are_sent() {
        let names = names_in(&["SET #at = :at, attempt = :n", "#status = :s"]);
        assert_eq!(
            names,
            HashMap::from([
                ("#at".to_string(), "at".to_string()),
                ("#status".to_string(), "status".to_string()),
            ])
        );
        assert!(names_in(&["SET #attempt = :a"]).is_empty());
        assert_eq!(names_in(&["REMOVE #record"]).len(), 1);
    }
}
