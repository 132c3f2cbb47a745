//! Contracts 0.1.0 and 0.2.0 served side by side by one engine: the host tells them apart by
//! export name, a 0.1.0 guest never sees a triple press, and a 0.2.0 guest gets the new click
//! fields and its device's state.

mod common;

use clickrules_engine::{
    Action, ClickType, Contract, DeviceState, Engine, EngineConfig, PressError, StateChange,
    StateEntry,
};
use clickrules_tests::guests;
use common::{click, load};

fn engine() -> Engine {
    Engine::new(EngineConfig::default()).unwrap()
}

#[test]
fn each_guest_is_served_the_contract_it_was_built_for() {
    let engine = engine();
    let old = load(&engine, guests::DEFAULT);
    let new = load(&engine, guests::STATEFUL);
    assert_eq!(old.contract(), Contract::V0_1);
    assert!(!old.uses_state());
    assert_eq!(new.contract(), Contract::V0_2);
    assert!(new.uses_state());
    assert_eq!(Contract::V0_2.package(), "clickrules:handler@0.2.0");
    for _ in 0..3 {
        let d = engine.press_click(&old, click(ClickType::Single, Some(1705)));
        assert_eq!(d.result(), Ok(&[Action::snapshot("us-west-1")][..]));
        assert_eq!(d.contract, Contract::V0_1);
        assert!(d.state.is_none());
        let d = engine.press_click(&new, click(ClickType::Single, Some(1705)));
        // From empty state every time: the engine keeps nothing between presses.
        assert!(
            matches!(&d.actions[..], [Action::Ignore { reason }] if reason.starts_with("count 1:")),
            "{d:?}"
        );
        assert_eq!(d.contract, Contract::V0_2);
    }
}

#[test]
fn a_0_1_guest_never_sees_a_triple_press() {
    let engine = engine();
    let old = load(&engine, guests::DEFAULT);
    let d = engine.press_click(&old, click(ClickType::Triple, None));
    match &d.actions[..] {
        [Action::Ignore { reason }] => {
            assert!(reason.contains("triple press"), "{reason}");
            assert!(reason.contains("0.1.0"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(d.error.is_none());
    assert_eq!(d.instructions, 0, "the guest was not run");
}

#[test]
fn a_0_2_guest_gets_the_new_click_fields() {
    let engine = engine();
    let new = load(&engine, guests::STATEFUL);
    let mut c = click(ClickType::Triple, None);
    c.battery_pct = Some(42);
    c.source = "shelly-gen2".into();
    c.press_id = "trace-1".into();
    c.utc_offset_minutes = -300;
    let d = engine.press_click(&new, c);
    let reason = match &d.actions[..] {
        [Action::Ignore { reason }] => reason.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        reason.ends_with(
            "Triple from G030JF055364XVRB via shelly-gen2 press trace-1 offset -300 pct Some(42)"
        ),
        "{reason}"
    );
}

#[test]
fn the_decision_carries_the_reads_and_writes_and_state_is_read_not_kept() {
    let engine = engine();
    let new = load(&engine, guests::STATEFUL);
    let mut before = DeviceState::default();
    before.entries.insert(
        "count".into(),
        StateEntry {
            value: "41".into(),
            expires_at_ms: None,
        },
    );
    let d = engine.press_click_with_state(&new, click(ClickType::Single, None), &before);
    let used = d.state.as_ref().unwrap();
    assert_eq!(used.read, ["count"]);
    assert!(matches!(
        &used.writes[..],
        [w] if w.key == "count" && matches!(&w.change, StateChange::Set { value, ttl_seconds: None } if value == "42")
    ));
    // The caller commits; the state passed in is untouched.
    assert_eq!(before.entries["count"].value, "41");
}

#[test]
fn a_state_limit_ignored_by_the_guest_is_a_typed_error() {
    let engine = Engine::new(EngineConfig {
        settings: [("mode".to_string(), "over-limit".to_string())].into(),
        ..EngineConfig::default()
    })
    .unwrap();
    let new = load(&engine, guests::STATEFUL);
    let d = engine.press_click(&new, click(ClickType::Single, None));
    assert!(
        matches!(&d.error, Some(PressError::StateLimit { message }) if message.contains("4096")),
        "{:?}",
        d.error
    );
    assert!(d.actions.is_empty());
    assert_eq!(d.error.as_ref().unwrap().kind(), "state_limit");
}

#[test]
fn a_0_2_guest_that_uses_no_state_decides_like_the_0_1_default() {
    let engine = engine();
    let old = load(&engine, guests::DEFAULT);
    let new = load(&engine, guests::DEFAULT_V02);
    assert_eq!(new.contract(), Contract::V0_2);
    // It never touches state, so its presses read none and the record has no state part.
    assert!(!new.uses_state());
    for click_type in ClickType::ALL {
        let a = engine.press_click(&old, click(click_type, None));
        let b = engine.press_click(&new, click(click_type, None));
        if click_type == ClickType::Triple {
            // The 0.1.0 guest is not asked; the 0.2.0 one decides.
            assert_eq!(b.result(), Ok(&[Action::snapshot("us-west-1")][..]));
            continue;
        }
        assert_eq!(a.result(), b.result(), "{click_type}");
        assert!(b.state.is_none());
    }
}
