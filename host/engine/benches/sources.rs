//! What normalising a press costs for each source, from a vendor fixture of each: one parse
//! (duplicate keys refused), the source told apart by its fields, the mapping applied.
//!
//! `cargo bench -p clickrules-engine --bench sources`. The figures are in BENCHMARKS.md.

use clickrules_engine::normalise_event;
use criterion::{Criterion, criterion_group, criterion_main};

const FIXTURES: [(&str, &[u8]); 6] = [
    (
        "iot-button",
        br#"{"serialNumber":"G030JF055364XVRB","batteryVoltage":"1705mV","clickType":"SINGLE"}"#,
    ),
    (
        "iot-1-click",
        include_bytes!(
            "../../../tests/fixtures/sources/iot-1-click/doc-single-with-placement.json"
        ),
    ),
    (
        "shelly-gen1",
        include_bytes!("../../../tests/fixtures/sources/shelly-gen1/button1-single.json"),
    ),
    (
        "shelly-gen2",
        include_bytes!("../../../tests/fixtures/sources/shelly-gen2/plusi4-two-events.json"),
    ),
    (
        "zigbee2mqtt",
        include_bytes!("../../../tests/fixtures/sources/zigbee2mqtt/z2m2x-wxkg11lm-single.json"),
    ),
    (
        "zigbee2mqtt state report",
        include_bytes!("../../../tests/fixtures/sources/zigbee2mqtt/z2m1x-state-only.json"),
    ),
];

fn normalise(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalise");
    for (name, bytes) in FIXTURES {
        assert!(normalise_event(bytes, 0).is_ok(), "{name}");
        group.bench_function(name, |b| {
            b.iter(|| normalise_event(std::hint::black_box(bytes), 0))
        });
    }
    group.finish();
}

criterion_group!(benches, normalise);
criterion_main!(benches);
