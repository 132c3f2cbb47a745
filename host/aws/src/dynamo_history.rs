//! Press history read back from the ledger's DynamoDB table: the records [`DynamoLedger`]
//! stores are the history, so there is nothing to copy and nothing to keep in step.
//!
//! Two global secondary indexes on the one table find them; both are sparse (only press items
//! have their keys, so state, rate and guest-floor items are never read) and project every
//! attribute (a listing reads the records themselves, with no fetch per press):
//!
//! - [`BY_DEVICE_INDEX`]: hash `device` (`<source>#<serial>`), range `at` (ms received);
//! - [`BY_DAY_INDEX`]: hash `day` (the UTC date of `at`, `YYYY-MM-DD`), range `at`.
//!
//! A day key spreads a time-ordered listing over one partition per day rather than one hot
//! partition for everything; a listing without a device reads the days newest first and stops
//! at its limit. The indexes are eventually consistent: a press written a moment ago may be
//! missing from a listing (and from what [`History::forget`] finds) for a second; `get` reads
//! the table itself, strongly consistent.
//!
//! [`DynamoLedger`]: crate::DynamoLedger

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::config::AsyncSleep;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, ReturnValue, ScalarAttributeType,
    WriteRequest,
};
use clickrules_engine::EventFormat;
use clickrules_pipeline::{
    Forgotten, History, HistoryEntry, HistoryError, HistoryQuery, LedgerError, PressOutcome,
    Retention,
};

use crate::dynamo_ledger::{
    AT, DAY, DEVICE, DUPLICATES, Item, OUTCOME, PRESS_PREFIX, RATE_PREFIX, STATE_PREFIX,
    get_number, get_string, history_record, names_in, now_ms, utc_day,
};
use crate::sdk_error::sdk_error_text;

/// The index of press items by device: hash `device` (`<source>#<serial>`), range `at`.
pub const BY_DEVICE_INDEX: &str = "by-device";
/// The index of press items by UTC day: hash `day`, range `at`.
pub const BY_DAY_INDEX: &str = "by-day";

/// The most a single request may delete (BatchWriteItem's limit).
const BATCH: usize = 25;
/// Rounds of retrying what a batch left unprocessed (DynamoDB throttled part of it) before
/// giving up; the waits double from 50 ms, about 6 s in all.
const BATCH_ROUNDS: u32 = 8;
const DAY_MS: u64 = 86_400_000;
/// The furthest back a listing without a device reads, however early `since` is: one request
/// per day, and no setting keeps a press longer.
const MAX_LOOKBACK_DAYS: u64 = 3660;

/// The ledger table as the template declares it, for tables made outside CloudFormation
/// (tests, a local setup): on demand, string key `pk`, and the two history indexes; `send` it.
/// (The template turns on TTL on `ttl` besides, which history needs only to expire presses.)
pub fn ledger_table_request(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<CreateTableFluentBuilder, BuildError> {
    let attribute = |name: &str, kind| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let index = |name: &str, hash: &str| -> Result<GlobalSecondaryIndex, BuildError> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash)?)
            .key_schema(key(AT, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
    };
    Ok(client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attribute(DEVICE, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(AT, ScalarAttributeType::N)?)
        .attribute_definitions(attribute(DAY, ScalarAttributeType::S)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .global_secondary_indexes(index(BY_DEVICE_INDEX, DEVICE)?)
        .global_secondary_indexes(index(BY_DAY_INDEX, DAY)?))
}

/// Press history in the ledger's DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoHistory {
    client: aws_sdk_dynamodb::Client,
    table: String,
    lookback: Duration,
}

impl DynamoHistory {
    /// History in `table`. A listing without `since` reads back as far as the default
    /// retention of failed presses (30 days; see [`DynamoHistory::with_retention`]).
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        let retention = Retention::default();
        Self {
            client,
            table,
            lookback: retention.ok.max(retention.failed),
        }
    }

    /// A listing without `since` reads back as far as the longer of `retention`'s two (the
    /// deployment's `CLICKRULES_HISTORY_*_DAYS`): nothing older is kept.
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.lookback = retention.ok.max(retention.failed);
        self
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn unavailable<E>(&self, e: &SdkError<E>) -> HistoryError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        HistoryError::Unavailable {
            store: self.table.clone(),
            message: sdk_error_text(e),
        }
    }

    fn unbuildable(&self, e: BuildError) -> HistoryError {
        HistoryError::Unavailable {
            store: self.table.clone(),
            message: format!("cannot build the request: {e}"),
        }
    }

    fn corrupt(&self, what: String, e: LedgerError) -> HistoryError {
        let message = match e {
            LedgerError::Corrupt { message, .. } => message,
            other => other.to_string(),
        };
        HistoryError::Corrupt {
            store: self.table.clone(),
            what,
            message,
        }
    }

    /// A press item as history shows it; `None` for one holding no record yet (claimed, not
    /// decided).
    fn entry(&self, item: &Item) -> Result<Option<HistoryEntry>, HistoryError> {
        let Some(press_id) = get_string(item, "pk").and_then(|pk| pk.strip_prefix(PRESS_PREFIX))
        else {
            return Ok(None);
        };
        let record = history_record(press_id, item)
            .map_err(|e| self.corrupt(format!("press {press_id}"), e))?;
        Ok(record.map(|record| HistoryEntry {
            record,
            duplicates: get_number(item, DUPLICATES)
                .map_or(0, |n| n.min(u64::from(u32::MAX)) as u32),
        }))
    }

    /// The press items of one index partition received in `range` (ms, inclusive), newest
    /// first, at most `limit` of them (0: all), with `(at, entry)` for merging partitions.
    async fn query(
        &self,
        index: &str,
        hash: (&str, &str),
        range: (u64, u64),
        outcome: Option<PressOutcome>,
        limit: usize,
    ) -> Result<Vec<(u64, HistoryEntry)>, HistoryError> {
        let (low, high) = range;
        let mut found = Vec::new();
        if low > high {
            return Ok(found);
        }
        let key = format!("#{} = :hash AND #{AT} BETWEEN :low AND :high", hash.0);
        let filter = outcome.map(|_| format!("#{OUTCOME} = :outcome"));
        let names = names_in(&[&key, filter.as_deref().unwrap_or("")]);
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&key)
                .set_expression_attribute_names(Some(names.clone()))
                .expression_attribute_values(":hash", AttributeValue::S(hash.1.into()))
                .expression_attribute_values(":low", AttributeValue::N(low.to_string()))
                .expression_attribute_values(":high", AttributeValue::N(high.to_string()))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take());
            if let (Some(filter), Some(outcome)) = (&filter, outcome) {
                // A page's `Limit` counts items before the filter: with one, pages run their
                // full size and the loop stops at `limit`.
                request = request
                    .filter_expression(filter)
                    .expression_attribute_values(
                        ":outcome",
                        AttributeValue::S(outcome.as_str().into()),
                    );
            } else if limit > 0 {
                let left = limit - found.len();
                request = request.limit(i32::try_from(left).unwrap_or(i32::MAX));
            }
            let out = request.send().await.map_err(|e| self.unavailable(&e))?;
            for item in out.items() {
                if let Some(entry) = self.entry(item)? {
                    found.push((get_number(item, AT).unwrap_or(0), entry));
                    if limit > 0 && found.len() >= limit {
                        return Ok(found);
                    }
                }
            }
            match out.last_evaluated_key() {
                Some(last) if !last.is_empty() => start = Some(last.clone()),
                _ => return Ok(found),
            }
        }
    }

    /// The keys of every press item of `device` (`<source>#<serial>`), and the minutes they
    /// were received in (their rate items' keys).
    async fn press_keys(&self, device: &str) -> Result<(Vec<String>, BTreeSet<u64>), HistoryError> {
        let key = format!("#{DEVICE} = :device");
        let projection = format!("pk, #{AT}");
        let names = names_in(&[&key, &projection]);
        let (mut keys, mut minutes) = (Vec::new(), BTreeSet::new());
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_DEVICE_INDEX)
                .key_condition_expression(&key)
                .projection_expression(&projection)
                .set_expression_attribute_names(Some(names.clone()))
                .expression_attribute_values(":device", AttributeValue::S(device.into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.unavailable(&e))?;
            for item in out.items() {
                if let Some(pk) = get_string(item, "pk").filter(|pk| pk.starts_with(PRESS_PREFIX)) {
                    keys.push(pk.to_string());
                    if let Some(at) = get_number(item, AT) {
                        minutes.insert(at / 60_000);
                    }
                }
            }
            match out.last_evaluated_key() {
                Some(last) if !last.is_empty() => start = Some(last.clone()),
                _ => return Ok((keys, minutes)),
            }
        }
    }

    /// Deletes the items keyed `keys`, 25 to a request, retrying what DynamoDB leaves
    /// unprocessed with a growing wait.
    async fn delete_all(&self, keys: &[String]) -> Result<(), HistoryError> {
        for chunk in keys.chunks(BATCH) {
            let mut requests = chunk
                .iter()
                .map(|pk| {
                    DeleteRequest::builder()
                        .key("pk", AttributeValue::S(pk.clone()))
                        .build()
                        .map(|delete| WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.unbuildable(e))?;
            let mut wait = Duration::from_millis(50);
            for round in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| self.unavailable(&e))?;
                requests = out
                    .unprocessed_items()
                    .and_then(|left| left.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if round + 1 >= BATCH_ROUNDS {
                    return Err(HistoryError::Unavailable {
                        store: self.table.clone(),
                        message: format!(
                            "{} deletions were still unprocessed after {BATCH_ROUNDS} tries \
                             (throttled); run the same forget again",
                            requests.len()
                        ),
                    });
                }
                // The client's own sleep (tokio's, as the SDK is configured); without one,
                // the next round follows at once.
                if let Some(sleep) = self.client.config().sleep_impl() {
                    sleep.sleep(wait).await;
                }
                wait *= 2;
            }
        }
        Ok(())
    }

    /// Deletes the device's state item; whether there was one.
    async fn delete_state(&self, device: &str) -> Result<bool, HistoryError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("{STATE_PREFIX}{device}")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }
}

/// The devices `device` names: `<source>#<serial>` itself when it starts with a source the
/// engine knows, otherwise a bare serial under every source (a serial may itself hold a `#`).
fn devices(device: &str) -> Vec<String> {
    let qualified = device
        .split_once('#')
        .is_some_and(|(source, _)| source.parse::<EventFormat>().is_ok());
    if qualified {
        vec![device.to_string()]
    } else {
        EventFormat::ALL
            .iter()
            .map(|source| format!("{}#{device}", source.as_str()))
            .collect()
    }
}

/// Newest first; presses received at the same ms in a stable order.
fn newest_first(entries: &mut [(u64, HistoryEntry)]) {
    entries.sort_by(|(a, x), (b, y)| {
        b.cmp(a)
            .then_with(|| x.record.press_id.cmp(&y.record.press_id))
    });
}

impl History for DynamoHistory {
    async fn list(&self, query: &HistoryQuery) -> Result<Vec<HistoryEntry>, HistoryError> {
        // `until` is exclusive, DynamoDB's BETWEEN inclusive.
        let high = match query.until_ms {
            Some(0) => return Ok(Vec::new()),
            Some(until) => until - 1,
            None => u64::MAX,
        };
        let limit = query.limit;
        let mut found = Vec::new();
        match &query.device {
            Some(device) => {
                let low = query.since_ms.unwrap_or(0);
                // One partition per source for a bare serial: each read newest first up to
                // the limit, then merged.
                for device in devices(device) {
                    let entries = self
                        .query(
                            BY_DEVICE_INDEX,
                            (DEVICE, &device),
                            (low, high),
                            query.outcome,
                            limit,
                        )
                        .await?;
                    found.extend(entries);
                }
                newest_first(&mut found);
            }
            None => {
                let top = query.until_ms.map_or_else(now_ms, |until| until - 1);
                let lookback = u64::try_from(self.lookback.as_millis()).unwrap_or(u64::MAX);
                let floor = top.saturating_sub(MAX_LOOKBACK_DAYS * DAY_MS);
                let low = query
                    .since_ms
                    .unwrap_or_else(|| top.saturating_sub(lookback))
                    .max(floor);
                let mut day = top / DAY_MS;
                while day >= low / DAY_MS {
                    let left = if limit > 0 { limit - found.len() } else { 0 };
                    let mut entries = self
                        .query(
                            BY_DAY_INDEX,
                            (DAY, &utc_day(day * DAY_MS)),
                            (low, high),
                            query.outcome,
                            left,
                        )
                        .await?;
                    newest_first(&mut entries);
                    found.extend(entries);
                    if (limit > 0 && found.len() >= limit) || day == 0 {
                        break;
                    }
                    day -= 1;
                }
            }
        }
        if limit > 0 {
            found.truncate(limit);
        }
        Ok(found.into_iter().map(|(_, entry)| entry).collect())
    }

    async fn get(&self, press_id: &str) -> Result<Option<HistoryEntry>, HistoryError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("{PRESS_PREFIX}{press_id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable(&e))?;
        match out.item() {
            Some(item) => self.entry(item),
            None => Ok(None),
        }
    }

    async fn forget(&self, device: &str) -> Result<Forgotten, HistoryError> {
        let mut forgotten = Forgotten::default();
        for device in devices(device) {
            let (presses, minutes) = self.press_keys(&device).await?;
            // The device's per-minute press counts for the minutes it pressed in: they hold
            // only a count, and expire within the hour, but are the device's too.
            let rates = minutes
                .iter()
                .map(|minute| format!("{RATE_PREFIX}{device}#{minute}"));
            let keys: Vec<String> = presses.iter().cloned().chain(rates).collect();
            self.delete_all(&keys).await?;
            forgotten.presses += presses.len();
            if self.delete_state(&device).await? {
                forgotten.states += 1;
            }
        }
        Ok(forgotten)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_serial_is_looked_up_under_every_source() {
        assert_eq!(devices("shelly-gen1#button-1"), ["shelly-gen1#button-1"]);
        let every = devices("button-1");
        assert_eq!(every.len(), EventFormat::ALL.len());
        assert!(every.contains(&"iot-button#button-1".to_string()));
        assert!(every.contains(&"webhook#button-1".to_string()));
        // A `#` after something that is no source is part of the serial.
        let hashed = devices("kitchen#2");
        assert!(
            hashed.contains(&"zigbee2mqtt#kitchen#2".to_string()),
            "{hashed:?}"
        );
    }
}
