//! Returns whatever actions its `actions` setting spells out, so tests can hand the host any
//! list: `snapshot:REGION`, `notify:SUBJECT|MESSAGE`, `ignore:REASON`, separated by `;`.
//! `repeat` (default 1) repeats the whole list; `subject_len` builds a subject of that many 'x';
//! `region_mb` adds a snapshot whose region is that many MiB long.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

use clickrules::handler::host::config;
use clickrules::handler::types::Notification;

struct Actions;

impl Guest for Actions {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        let spec = config("actions").unwrap_or_default();
        let repeat = match config("repeat") {
            Some(n) => n.parse::<usize>().map_err(|e| format!("repeat: {e}"))?,
            None => 1,
        };
        let mut once = Vec::new();
        for item in spec.split(';').filter(|s| !s.is_empty()) {
            let (kind, arg) = item.split_once(':').ok_or(format!("no ':' in {item:?}"))?;
            once.push(match kind {
                "snapshot" => Action::Snapshot(arg.to_string()),
                "ignore" => Action::Ignore(arg.to_string()),
                "notify" => {
                    let (subject, message) = arg.split_once('|').unwrap_or((arg, "message"));
                    Action::Notify(Notification {
                        subject: subject.to_string(),
                        message: message.to_string(),
                    })
                }
                other => return Err(format!("unknown action kind {other:?}")),
            });
        }
        if let Some(n) = config("region_mb") {
            let n = n.parse::<usize>().map_err(|e| format!("region_mb: {e}"))?;
            once.push(Action::Snapshot("x".repeat(n << 20)));
        }
        if let Some(n) = config("subject_len") {
            let n = n
                .parse::<usize>()
                .map_err(|e| format!("subject_len: {e}"))?;
            once.push(Action::Notify(Notification {
                subject: "x".repeat(n),
                message: "long subject".to_string(),
            }));
        }
        Ok((0..repeat).flat_map(|_| once.iter().cloned()).collect())
    }
}

export!(Actions);
