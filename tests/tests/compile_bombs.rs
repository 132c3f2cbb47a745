//! Compile bombs: small uploads that would take Cranelift tens of seconds and hundreds of MB
//! are refused before anything is compiled, with the limit they break; real guests stay well
//! inside every limit.
//!
//! Each bomb is a genuine one: the figure in its comment is what compiling it took without the
//! checks (wasmtime 48.0.8, release build, on the 2-core development machine). The tests make
//! no timing assertions; that the refusal comes before compiling shows in `TooComplex` itself,
//! which only the structural check returns, and in these tests finishing in moments.

mod common;

use clickrules_engine::{
    Arch, ArtifactError, ArtifactSigner, CompileLimit, LoadError, compile_stats,
};
use clickrules_tests::{guest_bytes, guests};
use common::{assert_healthy, engine};

/// A component exporting `handle` (a function of no arguments: the structural check runs
/// before the contract's types are) from a core module holding `funcs`.
fn component(funcs: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
             (core module $m {funcs} (func (export "h")))
             (core instance $i (instantiate $m))
             (func (export "handle") (canon lift (core func $i "h"))))"#
    ))
    .expect("bomb text is valid")
}

fn locals(n: usize) -> String {
    format!("(local{})", " i32".repeat(n))
}

/// A small xorshift, so bombs are the same on every run.
fn xorshift() -> impl Iterator<Item = u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    })
}

fn refused(bytes: &[u8], limit: CompileLimit) {
    let engine = engine();
    match engine.load(bytes) {
        Err(LoadError::TooComplex {
            what,
            found,
            limit: max,
            ..
        }) => {
            assert_eq!(what, limit, "refused for another limit");
            assert_eq!(max, limit.max());
            assert!(found > max);
        }
        Err(other) => panic!("expected TooComplex({limit:?}), got {other:?}"),
        Ok(_) => panic!("the bomb loaded"),
    }
    assert_healthy(&engine);
}

/// 218 locals, each bumped at one level of 1,000 nested `if`s and read after them: 14 KB that
/// took 59 s and 365 MB to compile.
#[test]
fn nested_ifs_over_many_locals_are_refused() {
    let mut body = format!("(func (param i32) {}", locals(218));
    for level in 0..1000 {
        let local = level % 218 + 1;
        body.push_str(&format!(
            " local.get 0 if local.get {local} i32.const 1 i32.add local.set {local}"
        ));
    }
    body.push_str(&" end".repeat(1000));
    for local in 1..=218 {
        body.push_str(&format!(" local.get {local} drop"));
    }
    body.push(')');
    refused(&component(&body), CompileLimit::LocalsTimesChains);
}

/// 1,000 locals updated in 20,000 `if`s one after another: 275 KB that took 12.8 s and 1.3 GB.
#[test]
fn many_ifs_over_many_locals_are_refused() {
    let mut body = format!("(func (param i32) {}", locals(1000));
    for x in xorshift().take(20_000) {
        let local = x % 1000 + 1;
        body.push_str(&format!(
            " local.get 0 if local.get {local} i32.const 1 i32.add local.set {local} end"
        ));
    }
    body.push(')');
    refused(&component(&body), CompileLimit::LocalsTimesBlocks);
}

/// A loop whose 1,000 locals each carry a value from one iteration to the next, over 60,000
/// additions: 577 KB that took 13.9 s.
#[test]
fn a_loop_carrying_many_locals_is_refused() {
    let mut body = format!("(func (param i32) {} loop", locals(1000));
    for x in xorshift().take(60_000) {
        let (a, b) = (x % 1000 + 1, (x >> 20) % 1000 + 1);
        body.push_str(&format!(
            " local.get {a} local.get {b} i32.add local.set {b}"
        ));
    }
    body.push_str(" local.get 0 br_if 0 end)");
    refused(&component(&body), CompileLimit::LoopCarried);
}

/// 100,000 functions of one instruction each: 700 KB that took 5.1 s and 635 MB.
#[test]
fn a_hundred_thousand_functions_are_refused() {
    let funcs = " (func i32.const 1 drop)".repeat(100_000);
    refused(&component(&funcs), CompileLimit::Functions);
}

/// A `br_table` of 100,000 targets. Not a bomb for Cranelift, which refuses it in
/// milliseconds; the limit still keeps such tables from reaching it.
#[test]
fn a_huge_br_table_is_refused() {
    let targets = " 0".repeat(100_000);
    let body = format!("(func (param i32) block local.get 0 br_table{targets} 0 end)");
    refused(&component(&body), CompileLimit::BrTableTargets);
}

/// Precompiling for a Lambda runs the same checks before compiling for the target.
#[test]
fn precompile_refuses_a_bomb_and_a_guest_for_another_world() {
    let engine = engine();
    let signer = ArtifactSigner::generate().expect("a key");
    let arch = Arch::host().expect("the tests run on Linux x86_64 or aarch64");
    let funcs = " (func)".repeat(100_000);
    let binding = clickrules_engine::ArtifactBinding::now("s3://guests/guest.wasm");
    assert!(matches!(
        engine.precompile(&component(&funcs), arch, &signer, &binding),
        Err(ArtifactError::Load(LoadError::TooComplex {
            what: CompileLimit::Functions,
            ..
        }))
    ));
    assert!(matches!(
        engine.precompile(&guest_bytes(guests::WRONG_WORLD), arch, &signer, &binding),
        Err(ArtifactError::Load(LoadError::MissingExport { .. }))
    ));
}

/// The limits were set at least 4x above what the real guests measure; this keeps them so as
/// the guests and their toolchains change, and prints the figures (`--nocapture`). If it
/// fails, re-measure and re-calibrate (SECURITY.md, "Compile limits") rather than loosen it.
#[test]
fn real_guests_stay_a_quarter_below_every_limit() {
    let rust = guests::ALL.iter().map(|&(name, path)| (name, Some(path)));
    let mut checked = 0;
    let others = guests::OTHER_LANGUAGES
        .iter()
        .map(|&(name, guest)| (name, guest.path()));
    for (name, path) in rust.chain(others) {
        let Some(path) = path else {
            eprintln!("{name}: not built here (its tool is not installed)");
            continue;
        };
        let stats = compile_stats(&guest_bytes(path)).unwrap_or_else(|e| panic!("{name}: {e}"));
        println!("{name}:\n{stats}");
        for limit in CompileLimit::ALL {
            let (found, location) = stats.get(limit);
            assert!(
                found.saturating_mul(4) <= limit.max(),
                "{name}: {location} has {found} {limit}, within 4x of the limit {}",
                limit.max()
            );
        }
        checked += 1;
    }
    assert!(checked >= guests::ALL.len());
}
