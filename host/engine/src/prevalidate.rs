//! Structural checks before compiling a guest.
//!
//! Cranelift's time and memory grow faster than the input in some shapes of code (many locals
//! live across many joins, deeply nested `if`s, loops carrying many values), so a 600 KB upload
//! cost 18 s and 633 MB to compile, and a 14 KB one can cost a minute. This pass reads the bytes
//! once with `wasmparser`, without validating or compiling, and refuses anything past the
//! limits in [`limits`]. It has to be cheap and conservative, not complete: wasmtime still
//! validates everything afterwards.

mod body;
pub(crate) mod limits;

use std::fmt::Write as _;

use wasmparser::{
    ComponentType, CompositeInnerType, CoreType, ElementItems, Encoding, FunctionBody,
    OperatorsReader, OperatorsReaderAllocations, Parser, Payload, TypeRef,
};

use self::body::{Scanner, Shape};
use crate::error::LoadError;
pub use limits::CompileLimit;

/// The export names through which a guest may offer `handle`. The 0.1.0 world exports a bare
/// function; a later world will export it inside an interface such as
/// `clickrules:handler/handler@0.2.0`, which is one more entry here.
const HANDLE_EXPORTS: &[&str] = &["handle", "clickrules:handler/handler@0.2.0"];

/// Refuses a component whose structure would make compiling it too slow or too large, or that
/// cannot implement the contract because it exports no `handle`. Runs before any compile.
pub(crate) fn check(bytes: &[u8]) -> Result<(), LoadError> {
    let mut walk = Walk::new(true);
    walk.run(bytes)?;
    require_export(&walk.outer_exports, HANDLE_EXPORTS)
}

/// The largest value of every checked quantity in a component, and where it is: what
/// [`Engine::load`](crate::Engine::load) compares against the limits before compiling, here
/// for calibrating them on real guests.
///
/// Fails only if the bytes do not parse as a component; limits are not enforced.
pub fn compile_stats(bytes: &[u8]) -> Result<CompileStats, LoadError> {
    let mut walk = Walk::new(false);
    walk.run(bytes)?;
    Ok(CompileStats { peaks: walk.peaks })
}

/// What [`compile_stats`] measured: per limit, the largest value and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileStats {
    peaks: Vec<Peak>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Peak {
    found: u64,
    location: String,
}

impl CompileStats {
    /// The largest value measured for `limit`, and where (empty if nothing was counted).
    pub fn get(&self, limit: CompileLimit) -> (u64, &str) {
        let peak = &self.peaks[limit as usize];
        (peak.found, &peak.location)
    }
}

impl std::fmt::Display for CompileStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for limit in CompileLimit::ALL {
            let (found, location) = self.get(limit);
            writeln!(
                f,
                "{:<28} {found:>10} (limit {:>10})  {location}",
                limit.to_string(),
                limit.max()
            )?;
        }
        Ok(())
    }
}

/// The guest must offer one of `accepted`; otherwise it is for another world, and saying what
/// it does export is the most useful hint.
fn require_export(found: &[String], accepted: &[&str]) -> Result<(), LoadError> {
    if found.iter().any(|name| accepted.contains(&name.as_str())) {
        return Ok(());
    }
    Err(LoadError::MissingExport {
        package: "clickrules:handler@0.1.0 or @0.2.0",
        export: "handle",
        found: if found.is_empty() {
            "none".into()
        } else {
            found.join(", ")
        },
    })
}

/// A core module or component being read; `parse_all` flattens nesting, so the walk keeps its
/// own stack to say where a finding is.
#[derive(Default)]
struct Scope {
    module: Option<u64>,
    imported_functions: u64,
    defined_functions: u64,
    /// Parameters of each type, by type index: parameters are locals too.
    params_by_type: Vec<u64>,
    /// The type of each defined function.
    function_types: Vec<u32>,
}

struct Walk {
    enforce: bool,
    peaks: Vec<Peak>,
    totals: Vec<u64>,
    scopes: Vec<Scope>,
    component_depth: u64,
    outer_exports: Vec<String>,
    /// The operator reader's frame stack, reused across function bodies.
    allocations: Option<OperatorsReaderAllocations>,
    scanner: Scanner,
}

fn invalid(e: wasmparser::BinaryReaderError) -> LoadError {
    LoadError::Invalid {
        message: e.to_string(),
    }
}

impl Walk {
    fn new(enforce: bool) -> Self {
        Self {
            enforce,
            peaks: vec![Peak::default(); CompileLimit::ALL.len()],
            totals: vec![0; CompileLimit::ALL.len()],
            scopes: Vec::new(),
            component_depth: 0,
            outer_exports: Vec::new(),
            allocations: Some(OperatorsReaderAllocations::default()),
            scanner: Scanner::default(),
        }
    }

    fn run(&mut self, bytes: &[u8]) -> Result<(), LoadError> {
        for payload in Parser::new(0).parse_all(bytes) {
            self.payload(payload.map_err(invalid)?)?;
        }
        Ok(())
    }

    /// Compares one item (a function, a `br_table`, a nesting level) with its limit.
    fn item(
        &mut self,
        limit: CompileLimit,
        found: u64,
        location: impl FnOnce(&Self) -> String,
    ) -> Result<(), LoadError> {
        let max = limit.max();
        if self.enforce {
            if found > max {
                return Err(LoadError::TooComplex {
                    what: limit,
                    found,
                    limit: max,
                    location: location(self),
                });
            }
        } else if found > self.peaks[limit as usize].found {
            let location = location(self);
            self.peaks[limit as usize] = Peak { found, location };
        }
        Ok(())
    }

    /// Refuses early when a section's declared count alone would pass a total's limit.
    fn at_least(&mut self, limit: CompileLimit, n: u64) -> Result<(), LoadError> {
        if self.enforce && self.totals[limit as usize].saturating_add(n) > limit.max() {
            return self.add(limit, n);
        }
        Ok(())
    }

    /// Adds `n` to a quantity limited over the whole component.
    fn add(&mut self, limit: CompileLimit, n: u64) -> Result<(), LoadError> {
        let total = self.totals[limit as usize].saturating_add(n);
        self.totals[limit as usize] = total;
        self.item(limit, total, |_| "the component".into())
    }

    fn scope(&mut self) -> Result<&mut Scope, LoadError> {
        self.scopes.last_mut().ok_or_else(|| LoadError::Invalid {
            message: "a section outside any module or component".into(),
        })
    }

    fn where_am_i(&self) -> String {
        match self.scopes.last().and_then(|s| s.module) {
            Some(index) => format!("core module {index}"),
            None if self.component_depth <= 1 => "the component".into(),
            None => format!("a component nested {} deep", self.component_depth - 1),
        }
    }

    fn payload(&mut self, payload: Payload<'_>) -> Result<(), LoadError> {
        use CompileLimit as L;
        match payload {
            Payload::Version { encoding, .. } => self.enter(encoding)?,
            Payload::End(_) => {
                if let Some(scope) = self.scopes.pop()
                    && scope.module.is_none()
                {
                    self.component_depth = self.component_depth.saturating_sub(1);
                }
            }

            // Core module sections.
            Payload::TypeSection(reader) => {
                self.at_least(L::Types, reader.count().into())?;
                let mut params = Vec::new();
                for group in reader {
                    for ty in group.map_err(invalid)?.types() {
                        params.push(match &ty.composite_type.inner {
                            CompositeInnerType::Func(f) => f.params().len() as u64,
                            _ => 0,
                        });
                    }
                }
                self.add(L::Types, params.len() as u64)?;
                self.scope()?.params_by_type = params;
            }
            Payload::ImportSection(reader) => {
                let (mut imports, mut functions) = (0u64, 0u64);
                for import in reader.into_imports() {
                    imports += 1;
                    if matches!(
                        import.map_err(invalid)?.ty,
                        TypeRef::Func(_) | TypeRef::FuncExact(_)
                    ) {
                        functions += 1;
                    }
                }
                self.scope()?.imported_functions += functions;
                self.add(L::Imports, imports)?;
            }
            Payload::FunctionSection(reader) => {
                self.add(L::Functions, reader.count().into())?;
                // Not sized from the declared count: `compile_stats` does not enforce limits, and
                // a count costs five bytes to declare.
                let mut types = Vec::new();
                for ty in reader {
                    types.push(ty.map_err(invalid)?);
                }
                self.scope()?.function_types = types;
            }
            Payload::TableSection(reader) => self.add(L::Tables, reader.count().into())?,
            Payload::MemorySection(reader) => self.add(L::Memories, reader.count().into())?,
            Payload::GlobalSection(reader) => self.add(L::Globals, reader.count().into())?,
            Payload::ExportSection(reader) => self.add(L::Exports, reader.count().into())?,
            Payload::ElementSection(reader) => {
                self.add(L::ElementSegments, reader.count().into())?;
                let mut items = 0u64;
                for element in reader {
                    items += match element.map_err(invalid)?.items {
                        ElementItems::Functions(r) => r.count(),
                        ElementItems::Expressions(_, r) => r.count(),
                    } as u64;
                }
                self.add(L::ElementItems, items)?;
            }
            Payload::DataSection(reader) => {
                self.add(L::DataSegments, reader.count().into())?;
                let mut bytes = 0u64;
                for data in reader {
                    bytes += data.map_err(invalid)?.data.len() as u64;
                }
                self.add(L::DataBytes, bytes)?;
            }
            Payload::CodeSectionStart { size, .. } => self.add(L::CodeBytes, size.into())?,
            Payload::CodeSectionEntry(body) => self.function(&body)?,

            // Component sections. Nested modules and components arrive as their own payloads.
            Payload::InstanceSection(reader) => {
                self.add(L::CoreInstances, reader.count().into())?
            }
            Payload::ComponentInstanceSection(reader) => {
                self.add(L::ComponentInstances, reader.count().into())?
            }
            Payload::CoreTypeSection(reader) => {
                let mut types = 0u64;
                for ty in reader {
                    types += match ty.map_err(invalid)? {
                        CoreType::Rec(group) => group.types().len(),
                        CoreType::Module(decls) => 1 + decls.len(),
                    } as u64;
                }
                self.add(L::Types, types)?;
            }
            Payload::ComponentTypeSection(reader) => {
                let mut types = 0u64;
                for ty in reader {
                    types += match ty.map_err(invalid)? {
                        ComponentType::Component(decls) => 1 + decls.len(),
                        ComponentType::Instance(decls) => 1 + decls.len(),
                        _ => 1,
                    } as u64;
                }
                self.add(L::Types, types)?;
            }
            Payload::ComponentCanonicalSection(reader) => {
                self.add(L::CanonicalFunctions, reader.count().into())?
            }
            Payload::ComponentImportSection(reader) => {
                self.add(L::Imports, reader.count().into())?
            }
            Payload::ComponentExportSection(reader) => {
                self.add(L::Exports, reader.count().into())?;
                if self.scopes.len() == 1 {
                    for export in reader {
                        let name = export.map_err(invalid)?.name.name;
                        self.outer_exports.push(name.to_string());
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn enter(&mut self, encoding: Encoding) -> Result<(), LoadError> {
        use CompileLimit as L;
        match encoding {
            Encoding::Module => {
                if self.scopes.is_empty() {
                    return Err(LoadError::CoreModule);
                }
                let index = self.totals[L::CoreModules as usize];
                self.add(L::CoreModules, 1)?;
                self.scopes.push(Scope {
                    module: Some(index),
                    ..Scope::default()
                });
            }
            Encoding::Component => {
                if !self.scopes.is_empty() {
                    self.add(L::Components, 1)?;
                }
                self.component_depth += 1;
                let depth = self.component_depth - 1;
                self.item(L::ComponentDepth, depth, |w| w.where_am_i())?;
                self.scopes.push(Scope::default());
            }
        }
        Ok(())
    }

    /// One function body: its size and locals from the header, the rest from one read of its
    /// operators (no validation, no types but its parameters').
    fn function(&mut self, body: &FunctionBody<'_>) -> Result<(), LoadError> {
        use CompileLimit as L;
        let scope = self.scope()?;
        let index = scope.imported_functions + scope.defined_functions;
        // A body without a declared type is invalid; count no parameters and let wasmtime say so.
        let params = usize::try_from(scope.defined_functions)
            .ok()
            .and_then(|i| scope.function_types.get(i))
            .and_then(|&ty| scope.params_by_type.get(ty as usize))
            .copied()
            .unwrap_or(0);
        scope.defined_functions += 1;
        let at = |w: &Self| {
            let mut at = w.where_am_i();
            let _ = write!(at, ", function {index}");
            at
        };

        self.item(L::FunctionBodyBytes, body.range().len() as u64, at)?;

        let mut locals = body.get_locals_reader().map_err(invalid)?;
        let mut locals_count = params;
        for _ in 0..locals.get_count() {
            let (count, _) = locals.read().map_err(invalid)?;
            locals_count = locals_count.saturating_add(count.into());
            // A header can declare billions of locals in a few bytes: stop at the first group
            // that crosses the limit.
            if self.enforce && locals_count > L::FunctionLocals.max() {
                break;
            }
        }
        self.item(L::FunctionLocals, locals_count, at)?;

        let allocations = self.allocations.take().unwrap_or_default();
        let mut ops = OperatorsReader::new_with_allocs(locals.get_binary_reader(), allocations);
        let enforce = self.enforce;
        let scanned = self.scanner.scan(&mut ops, locals_count, |shape| {
            enforce && past_a_limit(shape, locals_count)
        });
        self.allocations = Some(ops.into_allocations());
        let shape = scanned.map_err(invalid)?;
        self.item(L::ControlDepth, shape.depth, at)?;
        self.item(L::BrTableTargets, shape.br_table, at)?;
        self.item(L::Blocks, shape.blocks, at)?;
        self.item(L::LoopDepth, shape.loop_depth, at)?;
        let joins = locals_count.saturating_mul(shape.blocks);
        let chains = locals_count.saturating_mul(shape.chains);
        self.item(L::LocalsTimesBlocks, joins, at)?;
        self.item(L::LocalsTimesChains, chains, at)?;
        self.item(L::LoopCarried, shape.loop_carried, at)?;
        self.add(L::TotalLocalsTimesBlocks, joins)?;
        self.add(L::TotalLocalsTimesChains, chains)?;
        self.add(L::TotalLoopCarried, shape.loop_carried)
    }
}

/// Whether a body's figures so far already break a per-function limit (they only grow).
fn past_a_limit(shape: &Shape, locals: u64) -> bool {
    use CompileLimit as L;
    shape.depth > L::ControlDepth.max()
        || shape.br_table > L::BrTableTargets.max()
        || shape.blocks > L::Blocks.max()
        || shape.loop_depth > L::LoopDepth.max()
        || locals.saturating_mul(shape.blocks) > L::LocalsTimesBlocks.max()
        || locals.saturating_mul(shape.chains) > L::LocalsTimesChains.max()
        || shape.loop_carried > L::LoopCarried.max()
}

#[cfg(test)]
mod tests;
