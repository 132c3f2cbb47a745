//! One engine serving presses on several threads at once, as the Lambda's runtime and the
//! throughput benchmark do: every press gets its own instance, so no decision carries another
//! press's click, state or output.

mod common;

use std::sync::Arc;

use clickrules_engine::{Action, ClickType, Engine, EngineConfig};
use clickrules_tests::guests;
use common::{click, load, settings};

const THREADS: usize = 4;
const PRESSES: usize = 150;

fn shared(configure: impl FnOnce(&mut EngineConfig)) -> Arc<Engine> {
    Arc::new(common::engine_with(configure))
}

#[test]
fn concurrent_presses_each_get_their_own_decision() {
    let engine = shared(settings(&[("second_region", "eu-west-1")]));
    let by_click = load(&engine, guests::BY_CLICK);
    let default = load(&engine, guests::DEFAULT);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (engine, by_click, default) = (&engine, &by_click, &default);
            s.spawn(move || {
                for i in 0..PRESSES {
                    // Threads interleave different guests and click types.
                    let (guest, click_type, expected) = match (t + i) % 3 {
                        0 => (by_click, ClickType::Single, Action::snapshot("us-west-1")),
                        1 => (by_click, ClickType::Double, Action::snapshot("eu-west-1")),
                        _ => (default, ClickType::Long, Action::snapshot("us-west-1")),
                    };
                    let mut c = click(click_type, Some(1700));
                    c.serial_number = format!("G030THREAD{t}P{i:04}");
                    let d = engine.press_click(guest, c.clone());
                    assert_eq!(d.result(), Ok(&[expected][..]), "thread {t} press {i}");
                    assert_eq!(d.click.as_ref(), Some(&c), "the record names its own click");
                }
            });
        }
    });
}

#[test]
fn concurrent_presses_share_no_guest_state() {
    let engine = shared(|_: &mut EngineConfig| {});
    let counter = load(&engine, guests::COUNTER);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (engine, counter) = (&engine, &counter);
            s.spawn(move || {
                for i in 0..PRESSES {
                    let d = engine.press_click(counter, click(ClickType::Single, None));
                    assert_eq!(
                        d.result(),
                        Ok(&[Action::Ignore {
                            reason: "press 1, serials seen 1".into()
                        }][..]),
                        "thread {t} press {i} saw another press's state"
                    );
                }
            });
        }
    });
}
