//! Any list of actions: validation accepts only lists within every documented limit.
#![no_main]

use clickrules_engine::{Action, ValidationPolicy, validate_actions, validate_region};
use libfuzzer_sys::fuzz_target;

/// Splits the input into actions: a kind byte, then one or two length-prefixed strings.
fn actions(mut data: &[u8]) -> Vec<Action> {
    let mut out = Vec::new();
    let take = |data: &mut &[u8]| -> String {
        let len = data.first().copied().unwrap_or(0) as usize;
        let rest = data.get(1..).unwrap_or(&[]);
        let (s, tail) = rest.split_at(len.min(rest.len()));
        *data = tail;
        // Long strings are what the limits are about; stretch short inputs to reach them.
        String::from_utf8_lossy(s).repeat(if len > 200 { 40 } else { 1 })
    };
    while let Some((&kind, rest)) = data.split_first() {
        data = rest;
        out.push(match kind % 3 {
            0 => Action::snapshot(take(&mut data)),
            1 => {
                let subject = take(&mut data);
                Action::notify(subject, take(&mut data))
            }
            _ => Action::ignore(take(&mut data)),
        });
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let list = actions(data);
    let policy = ValidationPolicy {
        allowed_regions: data
            .first()
            .filter(|b| *b % 2 == 0)
            .map(|_| vec!["us-west-1".into()]),
        allow_unlisted_regions: data.get(1).is_some_and(|b| *b % 2 == 0),
    };
    if validate_actions(&list, &policy).is_ok() {
        assert!(list.len() <= 10);
        for action in &list {
            match action {
                Action::Snapshot { region } => {
                    assert!(validate_region(region));
                    if let Some(allowed) = &policy.allowed_regions {
                        assert!(allowed.contains(region));
                    }
                }
                Action::Notify { subject, message } => {
                    assert!((1..=100).contains(&subject.len()));
                    assert!(subject.bytes().all(|b| (0x20..=0x7e).contains(&b)));
                    assert!((1..=4096).contains(&message.len()));
                }
                Action::Ignore { reason } => assert!(reason.len() <= 256),
            }
        }
    }
});
