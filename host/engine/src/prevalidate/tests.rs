//! Each limit is checked at its value (obeyed) and one past it (violated), on the smallest
//! input that shows it. Large bodies are encoded directly: text for megabytes of code would
//! make the tests slow.

use super::*;
use crate::prevalidate::limits::*;

/// A component holding `module` (core module text) and exporting `handle`, lifted from the
/// module's `h`.
fn component(module: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
             (core module $m {module} (func (export "h")))
             (core instance $i (instantiate $m))
             (func (export "handle") (canon lift (core func $i "h"))))"#
    ))
    .expect("test component text is valid")
}

/// A component whose only content is the core module `module` (binary), with no exports: past
/// every limit, the check stops at the missing `handle`.
fn wrap(module: &[u8]) -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    section(&mut bytes, 1, module);
    bytes
}

fn leb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(out: &mut Vec<u8>, id: u8, contents: &[u8]) {
    out.push(id);
    leb(out, contents.len() as u64);
    out.extend_from_slice(contents);
}

/// One function's code: `locals` i32 locals (besides `params`) and `ops` (without the final
/// `end`).
struct Func {
    params: u64,
    locals: u64,
    ops: Vec<u8>,
}

fn func(locals: u64, ops: Vec<u8>) -> Func {
    Func {
        params: 0,
        locals,
        ops,
    }
}

/// A core module of `funcs`, each with its own type `(param i32 x params)`.
fn module(funcs: &[Func]) -> Vec<u8> {
    let mut types = Vec::new();
    leb(&mut types, funcs.len() as u64);
    let mut function_section = Vec::new();
    leb(&mut function_section, funcs.len() as u64);
    let mut code = Vec::new();
    leb(&mut code, funcs.len() as u64);
    for (i, f) in funcs.iter().enumerate() {
        types.push(0x60);
        leb(&mut types, f.params);
        types.extend(std::iter::repeat_n(0x7f, f.params as usize));
        types.push(0);
        leb(&mut function_section, i as u64);
        let mut body = Vec::new();
        if f.locals == 0 {
            body.push(0);
        } else {
            body.push(1);
            leb(&mut body, f.locals);
            body.push(0x7f);
        }
        body.extend_from_slice(&f.ops);
        body.push(END);
        leb(&mut code, body.len() as u64);
        code.extend_from_slice(&body);
    }
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    section(&mut bytes, 1, &types);
    section(&mut bytes, 3, &function_section);
    section(&mut bytes, 10, &code);
    bytes
}

const BLOCK: [u8; 2] = [0x02, 0x40];
const LOOP: [u8; 2] = [0x03, 0x40];
const END: u8 = 0x0b;
const NOP: u8 = 0x01;

fn local_get(index: u8) -> [u8; 2] {
    assert!(index < 0x80, "one-byte index");
    [0x20, index]
}

fn local_set(index: u8) -> [u8; 2] {
    assert!(index < 0x80, "one-byte index");
    [0x21, index]
}

/// `n` blocks, each inside the previous one.
fn nested(n: u64) -> Vec<u8> {
    let mut ops = BLOCK.repeat(n as usize);
    ops.extend(std::iter::repeat_n(END, n as usize));
    ops
}

/// `n` empty blocks one after another.
fn blocks(n: u64) -> Vec<u8> {
    [BLOCK[0], BLOCK[1], END].repeat(n as usize)
}

fn too_complex(bytes: &[u8]) -> (CompileLimit, u64, u64, String) {
    match check(bytes) {
        Err(LoadError::TooComplex {
            what,
            found,
            limit,
            location,
        }) => (what, found, limit, location),
        other => panic!("expected TooComplex, got {other:?}"),
    }
}

/// Within every limit: the check went on to look for `handle`.
fn obeyed(bytes: &[u8]) {
    match check(bytes) {
        Err(LoadError::MissingExport { .. }) => {}
        other => panic!("expected to pass every limit, got {other:?}"),
    }
}

fn violated(bytes: &[u8], limit: CompileLimit) {
    let (what, found, max, _) = too_complex(bytes);
    assert_eq!(what, limit);
    assert_eq!(max, limit.max());
    assert!(found > max, "{found} > {max}");
}

#[test]
fn a_small_component_passes() {
    assert_eq!(check(&component("")), Ok(()));
}

#[test]
fn function_locals_obeyed() {
    obeyed(&wrap(&module(&[func(MAX_FUNCTION_LOCALS, vec![])])));
}

#[test]
fn function_locals_violated() {
    let module = format!(
        r#"(import "a" "b" (func)) (func (local {}))"#,
        " i32".repeat(MAX_FUNCTION_LOCALS as usize + 1)
    );
    let (what, found, limit, location) = too_complex(&component(&module));
    assert_eq!(what, CompileLimit::FunctionLocals);
    assert_eq!(
        (found, limit),
        (MAX_FUNCTION_LOCALS + 1, MAX_FUNCTION_LOCALS)
    );
    // Function 0 is the import.
    assert_eq!(location, "core module 0, function 1");
}

#[test]
fn parameters_count_as_locals() {
    let f = Func {
        params: 1,
        locals: MAX_FUNCTION_LOCALS,
        ops: vec![],
    };
    violated(&wrap(&module(&[f])), CompileLimit::FunctionLocals);
}

#[test]
fn a_header_declaring_billions_of_locals_is_refused_without_reading_on() {
    // type () -> (), one function, a body declaring 2 x (2^32 - 1) i32 locals.
    let mut module = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0".to_vec();
    let body = [
        0x02, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, END,
    ];
    section(
        &mut module,
        10,
        &[&[1, body.len() as u8][..], &body].concat(),
    );
    let (what, found, ..) = too_complex(&wrap(&module));
    assert_eq!(what, CompileLimit::FunctionLocals);
    assert_eq!(
        found,
        u64::from(u32::MAX),
        "stops at the first group past the limit"
    );
    // Read to the end, wasmparser's own count refuses it.
    assert!(matches!(
        compile_stats(&wrap(&module)),
        Err(LoadError::Invalid { .. })
    ));
}

#[test]
fn function_body_bytes_obeyed() {
    // A body is its locals header (1 byte), its operators and `end`.
    let ops = vec![NOP; MAX_FUNCTION_BODY_BYTES as usize - 2];
    obeyed(&wrap(&module(&[func(0, ops)])));
}

#[test]
fn function_body_bytes_violated() {
    let ops = vec![NOP; MAX_FUNCTION_BODY_BYTES as usize - 1];
    let (what, found, ..) = too_complex(&wrap(&module(&[func(0, ops)])));
    assert_eq!(what, CompileLimit::FunctionBodyBytes);
    assert_eq!(found, MAX_FUNCTION_BODY_BYTES + 1);
}

#[test]
fn control_depth_obeyed() {
    let bytes = wrap(&module(&[func(0, nested(MAX_CONTROL_DEPTH))]));
    obeyed(&bytes);
    let stats = compile_stats(&bytes).expect("parses");
    assert_eq!(
        stats.get(CompileLimit::ControlDepth),
        (MAX_CONTROL_DEPTH, "core module 0, function 0")
    );
}

#[test]
fn control_depth_violated() {
    violated(
        &wrap(&module(&[func(0, nested(MAX_CONTROL_DEPTH + 1))])),
        CompileLimit::ControlDepth,
    );
}

#[test]
fn ifs_count_as_nesting() {
    let half = (MAX_CONTROL_DEPTH / 2 + 1) as usize;
    let mut ops = [0x41, 0x00, 0x04, 0x40].repeat(half); // i32.const 0, if
    ops.extend(BLOCK.repeat(half));
    ops.extend(vec![END; 2 * half]);
    violated(&wrap(&module(&[func(0, ops)])), CompileLimit::ControlDepth);
}

fn br_table(targets: u64) -> Vec<u8> {
    let mut ops = BLOCK.to_vec();
    ops.extend([0x41, 0x00, 0x0e]); // i32.const 0, br_table
    leb(&mut ops, targets);
    ops.extend(vec![0; targets as usize + 1]); // every target and the default: label 0
    ops.push(END);
    ops
}

#[test]
fn br_table_targets_obeyed() {
    obeyed(&wrap(&module(&[func(0, br_table(MAX_BR_TABLE_TARGETS))])));
}

#[test]
fn br_table_targets_violated() {
    let (what, found, ..) = too_complex(&wrap(&module(&[func(
        0,
        br_table(MAX_BR_TABLE_TARGETS + 1),
    )])));
    assert_eq!(what, CompileLimit::BrTableTargets);
    assert_eq!(found, MAX_BR_TABLE_TARGETS + 1);
}

#[test]
fn blocks_obeyed() {
    obeyed(&wrap(&module(&[func(0, blocks(MAX_BLOCKS))])));
}

#[test]
fn blocks_violated() {
    violated(
        &wrap(&module(&[func(0, blocks(MAX_BLOCKS + 1))])),
        CompileLimit::Blocks,
    );
}

fn nested_loops(n: u64) -> Vec<u8> {
    let mut ops = LOOP.repeat(n as usize);
    ops.extend(std::iter::repeat_n(END, n as usize));
    ops
}

#[test]
fn loop_depth_obeyed() {
    obeyed(&wrap(&module(&[func(0, nested_loops(MAX_LOOP_DEPTH))])));
}

#[test]
fn loop_depth_violated() {
    violated(
        &wrap(&module(&[func(0, nested_loops(MAX_LOOP_DEPTH + 1))])),
        CompileLimit::LoopDepth,
    );
}

#[test]
fn locals_times_blocks_obeyed() {
    let (locals, n) = (100, MAX_LOCALS_TIMES_BLOCKS / 100);
    obeyed(&wrap(&module(&[func(locals, blocks(n))])));
}

#[test]
fn locals_times_blocks_violated() {
    let (locals, n) = (100, MAX_LOCALS_TIMES_BLOCKS / 100 + 1);
    violated(
        &wrap(&module(&[func(locals, blocks(n))])),
        CompileLimit::LocalsTimesBlocks,
    );
}

#[test]
fn locals_times_blocks_is_limited_in_total() {
    let per_function = MAX_LOCALS_TIMES_BLOCKS / 10;
    let f = || func(10, blocks(per_function / 10));
    let at_limit: Vec<Func> = (0..MAX_TOTAL_LOCALS_TIMES_BLOCKS / per_function)
        .map(|_| f())
        .collect();
    obeyed(&wrap(&module(&at_limit)));
    let mut past = at_limit;
    past.push(f());
    violated(&wrap(&module(&past)), CompileLimit::TotalLocalsTimesBlocks);
}

/// `n` `if`s, each inside the previous one.
fn nested_ifs(n: u64) -> Vec<u8> {
    let mut ops = [0x41, 0x00, 0x04, 0x40].repeat(n as usize); // i32.const 0, if
    ops.extend(std::iter::repeat_n(END, n as usize));
    ops
}

fn stat(bytes: &[u8], limit: CompileLimit) -> u64 {
    compile_stats(bytes).expect("parses").get(limit).0
}

/// The chain measure of `ops` alone, i.e. with one local.
fn chains(ops: &[u8]) -> u64 {
    stat(
        &wrap(&module(&[func(1, ops.to_vec())])),
        CompileLimit::LocalsTimesChains,
    )
}

#[test]
fn nested_ifs_cost_about_their_depth_squared_sequential_ones_their_count() {
    let sequential = [0x41, 0x00, 0x04, 0x40, END].repeat(1000);
    assert!(chains(&sequential) <= 2 * 1000, "{}", chains(&sequential));
    assert!(chains(&nested_ifs(1000)) >= 1000 * 1000 / 2);
    // Blocks without branches to them join nothing.
    assert_eq!(chains(&nested(1000)), 0);
}

#[test]
fn locals_times_chains_obeyed() {
    let ops = nested_ifs(1000);
    let locals = MAX_LOCALS_TIMES_CHAINS / chains(&ops);
    obeyed(&wrap(&module(&[func(locals, ops)])));
}

#[test]
fn locals_times_chains_violated() {
    let ops = nested_ifs(1000);
    let locals = MAX_LOCALS_TIMES_CHAINS / chains(&ops) + 1;
    violated(
        &wrap(&module(&[func(locals, ops)])),
        CompileLimit::LocalsTimesChains,
    );
}

#[test]
fn locals_times_chains_is_limited_in_total() {
    let ops = nested_ifs(1000);
    let locals = MAX_LOCALS_TIMES_CHAINS / 2 / chains(&ops);
    let f = || func(locals, ops.clone());
    let count = MAX_TOTAL_LOCALS_TIMES_CHAINS / (locals * chains(&ops));
    let at_limit: Vec<Func> = (0..count).map(|_| f()).collect();
    obeyed(&wrap(&module(&at_limit)));
    let mut past = at_limit;
    past.push(f());
    violated(&wrap(&module(&past)), CompileLimit::TotalLocalsTimesChains);
}

/// A loop that first reads `carried` locals, then holds `filler` bytes of `nop`, so its size
/// (from `loop` to `end`) is `2 + 3 * carried + filler`.
fn carrying_loop(carried: u8, filler: u64) -> Vec<u8> {
    let mut ops = LOOP.to_vec();
    for local in 0..carried {
        ops.extend(local_get(local));
        ops.push(0x1a); // drop
    }
    ops.extend(vec![NOP; filler as usize]);
    ops.push(END);
    ops
}

/// `carried` x (loop bytes) is exactly `target` when `target` allows it.
fn loop_filler(carried: u8, target: u64) -> u64 {
    target / u64::from(carried) - 2 - 3 * u64::from(carried)
}

#[test]
fn loop_carried_obeyed() {
    let filler = loop_filler(100, MAX_LOOP_CARRIED);
    let bytes = wrap(&module(&[func(100, carrying_loop(100, filler))]));
    obeyed(&bytes);
    assert_eq!(stat(&bytes, CompileLimit::LoopCarried), MAX_LOOP_CARRIED);
}

#[test]
fn loop_carried_violated() {
    let filler = loop_filler(100, MAX_LOOP_CARRIED) + 1;
    violated(
        &wrap(&module(&[func(100, carrying_loop(100, filler))])),
        CompileLimit::LoopCarried,
    );
}

#[test]
fn loop_carried_is_limited_in_total() {
    let filler = loop_filler(100, MAX_LOOP_CARRIED);
    let f = || func(100, carrying_loop(100, filler));
    let at_limit: Vec<Func> = (0..MAX_TOTAL_LOOP_CARRIED / MAX_LOOP_CARRIED)
        .map(|_| f())
        .collect();
    obeyed(&wrap(&module(&at_limit)));
    let mut past = at_limit;
    past.push(f());
    violated(&wrap(&module(&past)), CompileLimit::TotalLoopCarried);
}

fn loop_carried(ops: Vec<u8>) -> u64 {
    stat(&wrap(&module(&[func(4, ops)])), CompileLimit::LoopCarried)
}

#[test]
fn a_local_written_first_at_the_loop_level_is_not_carried() {
    let mut ops = LOOP.to_vec();
    ops.extend([0x41, 0x00]); // i32.const 0
    ops.extend(local_set(1));
    ops.extend(local_get(1));
    ops.extend([0x1a, END]);
    assert_eq!(loop_carried(ops), 0);
}

#[test]
fn a_local_written_only_inside_an_if_is_carried() {
    // loop (if (local.set 1 (i32.const 0))) (drop (local.get 1)) end: the `if` may not run.
    let mut ops = LOOP.to_vec();
    ops.extend([0x41, 0x00, 0x04, 0x40, 0x41, 0x00]);
    ops.extend(local_set(1));
    ops.push(END);
    ops.extend(local_get(1));
    ops.extend([0x1a, END]);
    // One carried local times the loop's 14 bytes.
    assert_eq!(loop_carried(ops), 14);
}

#[test]
fn an_inner_loop_carries_for_every_enclosing_loop() {
    // loop loop (drop (local.get 1)) end end: carried by both.
    let mut ops = LOOP.repeat(2);
    ops.extend(local_get(1));
    ops.extend([0x1a, END, END]);
    // Inner loop 5 bytes, outer 8.
    assert_eq!(loop_carried(ops), 5 + 8);
}

#[test]
fn functions_obeyed() {
    // The wrapper adds `h`.
    let funcs = " (func)".repeat(MAX_FUNCTIONS as usize - 1);
    assert_eq!(check(&component(&funcs)), Ok(()));
}

#[test]
fn functions_violated() {
    let funcs = " (func)".repeat(MAX_FUNCTIONS as usize);
    let (what, found, limit, location) = too_complex(&component(&funcs));
    assert_eq!(what, CompileLimit::Functions);
    assert_eq!((found, limit), (MAX_FUNCTIONS + 1, MAX_FUNCTIONS));
    assert_eq!(location, "the component");
}

#[test]
fn functions_are_summed_over_modules() {
    let half = " (func)".repeat(MAX_FUNCTIONS as usize / 2);
    let bytes = wat::parse_str(format!(
        "(component (core module {half} (func)) (core module {half} (func)))"
    ))
    .expect("valid");
    violated(&bytes, CompileLimit::Functions);
}

#[test]
fn code_bytes_violated() {
    // Functions just under the body limit, until the total is past the code limit.
    let body = vec![NOP; MAX_FUNCTION_BODY_BYTES as usize - 2];
    let count = MAX_CODE_BYTES / MAX_FUNCTION_BODY_BYTES + 1;
    let funcs: Vec<Func> = (0..count).map(|_| func(0, body.clone())).collect();
    violated(&wrap(&module(&funcs)), CompileLimit::CodeBytes);
}

fn nested_components(depth: u64) -> Vec<u8> {
    let text = format!(
        r#"(component {}{} (core module $m (func (export "h")))
             (core instance $i (instantiate $m))
             (func (export "handle") (canon lift (core func $i "h"))))"#,
        "(component ".repeat(depth as usize),
        ")".repeat(depth as usize)
    );
    wat::parse_str(text).expect("valid")
}

#[test]
fn component_depth_obeyed() {
    assert_eq!(check(&nested_components(MAX_COMPONENT_DEPTH)), Ok(()));
}

#[test]
fn component_depth_violated() {
    violated(
        &nested_components(MAX_COMPONENT_DEPTH + 1),
        CompileLimit::ComponentDepth,
    );
}

#[test]
fn types_obeyed() {
    // The wrapper's module has one type, its component one; explicit types are never merged.
    let types = " (type (func (param i32)))".repeat(MAX_TYPES as usize - 2);
    assert_eq!(check(&component(&types)), Ok(()));
}

#[test]
fn types_violated() {
    let types = " (type (func (param i32)))".repeat(MAX_TYPES as usize - 1);
    violated(&component(&types), CompileLimit::Types);
}

#[test]
fn core_modules_obeyed() {
    let modules = "(core module)".repeat(MAX_CORE_MODULES as usize - 1);
    let bytes = wat::parse_str(format!(
        r#"(component {modules} (core module $m (func (export "h")))
             (core instance $i (instantiate $m))
             (func (export "handle") (canon lift (core func $i "h"))))"#
    ))
    .expect("valid");
    assert_eq!(check(&bytes), Ok(()));
}

#[test]
fn core_modules_violated() {
    let modules = "(core module)".repeat(MAX_CORE_MODULES as usize + 1);
    let bytes = wat::parse_str(format!("(component {modules})")).expect("valid");
    violated(&bytes, CompileLimit::CoreModules);
}

#[test]
fn a_component_without_handle_names_what_it_exports() {
    let bytes = wat::parse_str(
        r#"(component
             (core module $m (func (export "g")))
             (core instance $i (instantiate $m))
             (func (export "greet") (canon lift (core func $i "g")))
             (func (export "wave") (canon lift (core func $i "g"))))"#,
    )
    .expect("valid");
    match check(&bytes) {
        Err(LoadError::MissingExport { export, found, .. }) => {
            assert_eq!(export, "handle");
            assert_eq!(found, "greet, wave");
        }
        other => panic!("expected MissingExport, got {other:?}"),
    }
    assert!(matches!(
        check(&wrap(b"\0asm\x01\0\0\0")),
        Err(LoadError::MissingExport { found, .. }) if found == "none"
    ));
}

#[test]
fn a_handle_inside_a_nested_component_does_not_count() {
    let bytes = wat::parse_str(
        r#"(component (component
             (core module $m (func (export "h")))
             (core instance $i (instantiate $m))
             (func (export "handle") (canon lift (core func $i "h")))))"#,
    )
    .expect("valid");
    assert!(matches!(
        check(&bytes),
        Err(LoadError::MissingExport { .. })
    ));
}

#[test]
fn the_export_check_takes_the_names_a_world_accepts() {
    let v2 = "clickrules:handler/handler@0.2.0";
    let found = vec![v2.to_string()];
    assert!(matches!(
        require_export(&found, &["handle"]),
        Err(LoadError::MissingExport { .. })
    ));
    assert_eq!(require_export(&found, &["handle", v2]), Ok(()));
}

#[test]
fn bytes_that_do_not_parse_are_invalid() {
    let mut bytes = component("");
    bytes.truncate(bytes.len() - 3);
    assert!(matches!(check(&bytes), Err(LoadError::Invalid { .. })));
    assert!(matches!(
        compile_stats(b"\0asm\x0d\0\x01\0\x7f\x7f"),
        Err(LoadError::Invalid { .. })
    ));
    // A body cut inside its operators.
    let mut module = module(&[func(0, nested(3))]);
    let last = module.len() - 1;
    module[last] = 0xff;
    assert!(matches!(
        check(&wrap(&module)),
        Err(LoadError::Invalid { .. })
    ));
}

#[test]
fn a_core_module_is_not_a_component() {
    assert_eq!(check(b"\0asm\x01\0\0\0"), Err(LoadError::CoreModule));
}

#[test]
fn every_limit_is_listed_once_in_its_own_slot() {
    for (slot, limit) in CompileLimit::ALL.into_iter().enumerate() {
        assert_eq!(limit as usize, slot, "{limit:?}");
    }
}
