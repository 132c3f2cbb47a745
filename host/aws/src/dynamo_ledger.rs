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
    Claim, DeviceKey, End, Lease, Ledger, LedgerError, OutcomeRecord, PressRecord, StateCommit,
    StoredState, is_earlier_press,
};

use crate::sdk_error::sdk_error_text;

type Item = HashMap<String, AttributeValue>;

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
}

impl DynamoLedger {
    /// The ledger in `table`, keeping each press for `retention`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, retention: Duration) -> Self {
        Self {
            client,
            table,
            retention,
        }
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn key(press_id: &str) -> AttributeValue {
        AttributeValue::S(format!("press#{press_id}"))
    }

    fn state_key(device: &DeviceKey) -> AttributeValue {
        AttributeValue::S(format!("state#{}", device.id()))
    }

    /// The decision and the device's new state in one transaction: the press item on the
    /// lease's condition, the device item on the version read.
    async fn commit_with_state(
        &self,
        lease: &Lease,
        record: &PressRecord,
        commit: &StateCommit,
    ) -> Result<(), LedgerError> {
        let press = Update::builder()
            .table_name(&self.table)
            .key("pk", Self::key(&lease.press_id))
            .update_expression("SET #record = :record")
            .condition_expression("attempt = :attempt AND #status = :running")
            .expression_attribute_names("#record", "record")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":record", record_value(record))
            .expression_attribute_values(":attempt", number(u64::from(lease.attempt)))
            .expression_attribute_values(":running", AttributeValue::S(RUNNING.into()))
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
        let expires = SystemTime::now()
            .checked_add(self.retention)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        number(expires)
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
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(&lease.press_id))
            .condition_expression("attempt = :attempt AND #status = :running")
            .expression_attribute_names("#status", "status");
        // `record` is a DynamoDB reserved word; a name DynamoDB is given must also be used.
        if update.contains("#record") {
            request = request.expression_attribute_names("#record", "record");
        }
        let result = request
            .update_expression(update)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(LedgerError::LostLease {
                press_id: lease.press_id.clone(),
            }),
            Err(e) => Err(self.error(&e)),
        }
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
        let values = HashMap::from([(":record".to_string(), record_value(record))]);
        self.update_held(lease, "SET #record = :record".into(), values)
            .await
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
            update.push_str(", #record = :record, #status = :end");
            values.insert(":record".into(), record_value(record));
            values.insert(":end".into(), AttributeValue::S(end_status(end).into()));
        }
        self.update_held(lease, update, values).await
    }

    async fn end(&self, lease: &Lease, end: End, record: &PressRecord) -> Result<(), LedgerError> {
        let mut values = HashMap::from([(
            ":end".to_string(),
            AttributeValue::S(end_status(end).into()),
        )]);
        let update = match end {
            End::Complete => {
                values.insert(":record".into(), record_value(record));
                "SET #status = :end, #record = :record".to_string()
            }
            // Nothing was decided for good: the next delivery decides again (the guest may be
            // fixed by then), so no record is kept to resume from.
            End::Retry => "SET #status = :end REMOVE #record".to_string(),
        };
        self.update_held(lease, update, values).await
    }
}

fn end_status(end: End) -> &'static str {
    match end {
        End::Complete => COMPLETE,
        End::Retry => OPEN,
    }
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn get_number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name)? {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}

fn get_string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name)? {
        AttributeValue::S(s) => Some(s),
        _ => None,
    }
}

fn record_value(record: &PressRecord) -> AttributeValue {
    AttributeValue::S(serde_json::to_string(record).unwrap_or_default())
}

/// The stored record with the outcomes stored after it, if a decision is stored.
fn stored_record(press_id: &str, item: &Item) -> Result<Option<PressRecord>, LedgerError> {
    let Some(json) = get_string(item, "record") else {
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
