//! What a guest costs per press under the default limits: the same presses as
//! `clickrules check` (every click type × battery edge cases), each repeated, with the worst
//! instructions and memory and the median and worst time. Needs no AWS build, so guest authors
//! and BENCHMARKS.md can use it:
//!
//! ```sh
//! cargo run --release -p clickrules-testkit --example cost -- path/to/guest.wasm [ROUNDS]
//! ```

use std::time::Instant;

use clickrules_engine::BATTERY_EDGE_CASES;
use clickrules_testkit::{Click, ClickType, Harness};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: cost GUEST.wasm [ROUNDS]")?;
    let rounds: usize = args.next().map_or(Ok(5), |r| r.parse())?;

    let start = Instant::now();
    let guest = Harness::load(&path)?;
    let load = start.elapsed();
    let limits = guest.limits();

    let (mut fuel, mut memory, mut times) = (0u64, 0u64, Vec::new());
    for _ in 0..rounds {
        for click_type in ClickType::ALL {
            for battery in BATTERY_EDGE_CASES {
                let mut click = Click::new(click_type);
                if let Some(mv) = battery {
                    click = click.battery_mv(mv);
                }
                let decision = guest.press(click);
                if let Some(e) = &decision.error {
                    return Err(format!("{click_type:?} {battery:?}: {e}").into());
                }
                fuel = fuel.max(decision.instructions);
                memory = memory.max(decision.peak_memory_bytes);
                times.push(decision.duration_us);
            }
        }
    }
    times.sort_unstable();
    let median = times[times.len() / 2];
    let worst = *times.last().unwrap_or(&0);
    println!(
        "guest          {path} ({:.1} MiB)",
        std::fs::metadata(&path)?.len() as f64 / 1048576.0
    );
    println!("load (compile) {:.2} s", load.as_secs_f64());
    println!("presses        {}", times.len());
    println!(
        "instructions   {fuel} max ({:.5}% of {} fuel)",
        fuel as f64 * 100.0 / limits.fuel as f64,
        limits.fuel
    );
    println!(
        "peak memory    {:.1} MiB max ({:.1}% of {} MiB)",
        memory as f64 / 1048576.0,
        memory as f64 * 100.0 / limits.memory_bytes as f64,
        limits.memory_bytes >> 20
    );
    println!(
        "time per press {:.2} ms median, {:.2} ms max ({:.1}% of {} ms)",
        median as f64 / 1000.0,
        worst as f64 / 1000.0,
        worst as f64 * 100.0 / limits.timeout.as_micros() as f64,
        limits.timeout.as_millis()
    );
    Ok(())
}
