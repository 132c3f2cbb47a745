//! Running cases: each press through the engine, as the Lambda runs it, from its own state.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use clickrules_engine::{Click, DeviceState, Engine, EngineConfig, Guest, GuestBytes, StateEntry};

use super::report::{self, Actual, Report};
use super::{Case, Cases, StateValue};
use crate::Error;

pub(super) fn run(cases: &Cases, config: EngineConfig, wasm: &Path) -> crate::Result<Report> {
    let bytes = std::fs::read(wasm).map_err(|source| Error::Read {
        path: wasm.to_path_buf(),
        source,
    })?;
    let bytes = GuestBytes::new(bytes);

    // Settings belong to the engine, so cases are run one settings group at a time: one
    // compile per group, and one engine's memory reservation alive at once.
    let mut groups: BTreeMap<BTreeMap<String, String>, Vec<usize>> = BTreeMap::new();
    for (i, case) in cases.cases().iter().enumerate() {
        let mut settings = config.settings.clone();
        settings.extend(case.settings.clone());
        groups.entry(settings).or_default().push(i);
    }
    let mut results = vec![None; cases.cases().len()];
    for (settings, members) in groups {
        let engine = Engine::new(EngineConfig {
            settings,
            ..config.clone()
        })?;
        let guest = engine.load_bytes(&bytes).map_err(|source| Error::Load {
            path: wasm.to_path_buf(),
            source,
        })?;
        for i in members {
            let case = &cases.cases()[i];
            results[i] = Some(report::judge(case, press(&engine, &guest, case)));
        }
    }
    Ok(Report::new(
        cases.path(),
        wasm,
        bytes.sha256(),
        results.into_iter().flatten().collect(),
    ))
}

fn press(engine: &Engine, guest: &Arc<Guest>, case: &Case) -> Actual {
    let at = case.time_ms;
    let click = Click {
        battery_pct: case.battery_pct,
        source: case.source.clone(),
        ..Click::new(case.serial.clone(), case.click, case.battery_mv, at)
    };
    let before = DeviceState {
        entries: case
            .state
            .iter()
            .map(|(key, v)| {
                let entry = StateEntry {
                    value: v.value.clone(),
                    expires_at_ms: v
                        .ttl_seconds
                        .map(|s| at.saturating_add(u64::from(s) * 1000)),
                };
                (key.clone(), entry)
            })
            .collect(),
    };
    let decision = engine.press_click_with_state(guest, click, &before);
    // Writes are committed only when the press succeeds, as the pipeline commits them.
    let after = match (&decision.error, &decision.state) {
        (None, Some(used)) => before.apply(&used.writes, at),
        _ => before.live(at),
    };
    let state = after
        .entries
        .into_iter()
        .map(|(key, e)| {
            let ttl_seconds = e
                .expires_at_ms
                .map(|exp| u32::try_from(exp.saturating_sub(at) / 1000).unwrap_or(u32::MAX));
            (
                key,
                StateValue {
                    value: e.value,
                    ttl_seconds,
                },
            )
        })
        .collect();
    Actual {
        actions: decision.actions,
        error: decision.error,
        state,
        instructions: decision.instructions,
        duration_us: decision.duration_us,
        logs: decision.output.logs,
        stdout: decision.output.stdout,
        stderr: decision.output.stderr,
    }
}
