//! The limits a guest's structure must stay within before it is compiled.
//!
//! Each was set at least 4x above the largest value measured on the real guests (the Rust
//! guests in `guests/`, the JavaScript guest of 12 MB and the Python guest of 18 MB; see
//! SECURITY.md, "Compile limits"), so real guests load with room to grow while a hostile
//! upload is refused before Cranelift sees it. Re-measure with [`crate::compile_stats`] when a
//! toolchain changes.
//!
//! The products (locals x blocks, locals x chains, loop-carried locals x loop bytes) are there
//! because no single count catches the shapes that are superlinear for Cranelift: each factor
//! alone is ordinary, their product is what a bomb inflates.

/// Bytes of code sections, summed over every core module. Compile time is roughly linear in
/// code; this caps the total. Largest real: 9,231,042 (JavaScript guest).
pub const MAX_CODE_BYTES: u64 = 40 << 20;

/// Bytes of one function body. Cranelift compiles a function as a whole, and for some shapes
/// (see the products below) its work grows faster than the function. Largest real: 426,843 (Python guest, the
/// interpreter loop).
pub const MAX_FUNCTION_BODY_BYTES: u64 = 2 << 20;

/// Locals of one function, parameters included, summed over its local groups (a header can
/// declare billions in a few bytes). Each is an SSA variable that may need a block parameter
/// at every join. Largest real: 273 (Python guest).
pub const MAX_FUNCTION_LOCALS: u64 = 2_000;

/// Functions defined, summed over every core module: each has a fixed cost in Cranelift and
/// in the code it emits (fuel and epoch checks). Largest real: 13,355 (Python guest).
pub const MAX_FUNCTIONS: u64 = 60_000;

/// Blocks, loops, ifs and trys open at once in one function. Largest real: 781 (Python guest,
/// a `switch` compiled to nested blocks).
pub const MAX_CONTROL_DEPTH: u64 = 4_000;

/// Targets of one `br_table`; each is an edge that may carry every live local. Largest real:
/// 3,202 (Python guest).
pub const MAX_BR_TABLE_TARGETS: u64 = 16_384;

/// Blocks, loops, ifs and trys in one function. Largest real: 4,216 (JavaScript guest).
pub const MAX_BLOCKS: u64 = 20_000;

/// Loops open at once in one function; it also bounds the work of this check per local access.
/// Largest real: 6 (JavaScript and Python guests).
pub const MAX_LOOP_DEPTH: u64 = 32;

/// Locals (parameters included) times blocks in one function: roughly how many block parameters
/// SSA construction may create, and what the register allocator then carries. 1,000 locals
/// updated in 20,000 `if`s (275 KB) took 12.8 s and 1.3 GB to compile. Largest real: 200,812
/// (JavaScript guest).
pub const MAX_LOCALS_TIMES_BLOCKS: u64 = 1_000_000;

/// [`MAX_LOCALS_TIMES_BLOCKS`]'s measure summed over every function. Largest real: 3,509,537
/// (JavaScript guest).
pub const MAX_TOTAL_LOCALS_TIMES_BLOCKS: u64 = 16_000_000;

/// Locals (parameters included) times the summed length of the single-predecessor block
/// chains that reach each join, in one function. Cranelift's SSA construction walks those
/// chains for each variable it resolves at a join, so nested `if`s (or a run of `br_if`s) cost
/// about the square of their count per local: 218 locals across 1,000 nested `if`s (14 KB)
/// took 59 s and 365 MB to compile. Largest real: 8,742,242 (JavaScript guest).
pub const MAX_LOCALS_TIMES_CHAINS: u64 = 36_000_000;

/// [`MAX_LOCALS_TIMES_CHAINS`]'s measure summed over every function. Largest real: 22,260,953
/// (JavaScript guest).
pub const MAX_TOTAL_LOCALS_TIMES_CHAINS: u64 = 90_000_000;

/// Summed over the loops of one function: locals the loop may read before writing them (their
/// value comes from the previous iteration, so it is live across the whole loop) times the
/// loop's bytes. 1,000 such locals in a 577 KB loop took 13.9 s to compile. Largest real:
/// 20,459,613 (JavaScript guest).
pub const MAX_LOOP_CARRIED: u64 = 100_000_000;

/// [`MAX_LOOP_CARRIED`]'s measure summed over every function, so many functions just under it
/// cannot add up. Largest real: 91,327,970 (JavaScript guest).
pub const MAX_TOTAL_LOOP_CARRIED: u64 = 400_000_000;

/// Core modules, at any depth. Largest real: 14 (Python guest).
pub const MAX_CORE_MODULES: u64 = 64;

/// Core instances declared, at any depth. Largest real: 65 (Python guest).
pub const MAX_CORE_INSTANCES: u64 = 320;

/// Components nested inside the guest, at any depth. Largest real: 1 (Python guest).
pub const MAX_COMPONENTS: u64 = 16;

/// Component instances declared, at any depth. Largest real: 1 (Python guest).
pub const MAX_COMPONENT_INSTANCES: u64 = 16;

/// How deep components nest inside the guest. Largest real: 1 (Python guest).
pub const MAX_COMPONENT_DEPTH: u64 = 8;

/// Imports of every module and component. Largest real: 2,301 (Python guest).
pub const MAX_IMPORTS: u64 = 10_000;

/// Exports of every module and component. Largest real: 4,208 (Python guest).
pub const MAX_EXPORTS: u64 = 20_000;

/// Core and component type definitions, declarations inside instance and component types
/// included. Largest real: 1,659 (Python guest).
pub const MAX_TYPES: u64 = 10_000;

/// Canonical functions (`canon lift`, `canon lower`, resource and task built-ins); each is a
/// trampoline or adapter Cranelift compiles. Largest real: 124 (Python guest).
pub const MAX_CANONICAL_FUNCTIONS: u64 = 1_000;

/// Globals defined, summed over every core module. Largest real: 874 (Python guest).
pub const MAX_GLOBALS: u64 = 5_000;

/// Memories defined, summed over every core module. Largest real: 1.
pub const MAX_MEMORIES: u64 = 8;

/// Tables defined, summed over every core module. Largest real: 2.
pub const MAX_TABLES: u64 = 16;

/// Data segments, summed over every core module. Largest real: 10,000 (JavaScript guest).
pub const MAX_DATA_SEGMENTS: u64 = 50_000;

/// Bytes of data segments, summed over every core module: wasmtime builds memory images from
/// them at compile time. Largest real: 10,963,221 (Python guest).
pub const MAX_DATA_BYTES: u64 = 48 << 20;

/// Element segments, summed over every core module. Largest real: 8 (Python guest).
pub const MAX_ELEMENT_SEGMENTS: u64 = 64;

/// Items of element segments, summed over every core module. Largest real: 7,716 (JavaScript
/// guest).
pub const MAX_ELEMENT_ITEMS: u64 = 50_000;

/// One quantity checked before compiling. [`CompileLimit::max`] is its limit; its `Display`
/// says what is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompileLimit {
    /// [`MAX_CODE_BYTES`].
    CodeBytes,
    /// [`MAX_FUNCTION_BODY_BYTES`].
    FunctionBodyBytes,
    /// [`MAX_FUNCTION_LOCALS`].
    FunctionLocals,
    /// [`MAX_FUNCTIONS`].
    Functions,
    /// [`MAX_CONTROL_DEPTH`].
    ControlDepth,
    /// [`MAX_BR_TABLE_TARGETS`].
    BrTableTargets,
    /// [`MAX_BLOCKS`].
    Blocks,
    /// [`MAX_LOOP_DEPTH`].
    LoopDepth,
    /// [`MAX_LOCALS_TIMES_BLOCKS`].
    LocalsTimesBlocks,
    /// [`MAX_TOTAL_LOCALS_TIMES_BLOCKS`].
    TotalLocalsTimesBlocks,
    /// [`MAX_LOCALS_TIMES_CHAINS`].
    LocalsTimesChains,
    /// [`MAX_TOTAL_LOCALS_TIMES_CHAINS`].
    TotalLocalsTimesChains,
    /// [`MAX_LOOP_CARRIED`].
    LoopCarried,
    /// [`MAX_TOTAL_LOOP_CARRIED`].
    TotalLoopCarried,
    /// [`MAX_CORE_MODULES`].
    CoreModules,
    /// [`MAX_CORE_INSTANCES`].
    CoreInstances,
    /// [`MAX_COMPONENTS`].
    Components,
    /// [`MAX_COMPONENT_INSTANCES`].
    ComponentInstances,
    /// [`MAX_COMPONENT_DEPTH`].
    ComponentDepth,
    /// [`MAX_IMPORTS`].
    Imports,
    /// [`MAX_EXPORTS`].
    Exports,
    /// [`MAX_TYPES`].
    Types,
    /// [`MAX_CANONICAL_FUNCTIONS`].
    CanonicalFunctions,
    /// [`MAX_GLOBALS`].
    Globals,
    /// [`MAX_MEMORIES`].
    Memories,
    /// [`MAX_TABLES`].
    Tables,
    /// [`MAX_DATA_SEGMENTS`].
    DataSegments,
    /// [`MAX_DATA_BYTES`].
    DataBytes,
    /// [`MAX_ELEMENT_SEGMENTS`].
    ElementSegments,
    /// [`MAX_ELEMENT_ITEMS`].
    ElementItems,
}

impl CompileLimit {
    /// Every limit, in the order they are reported.
    pub const ALL: [CompileLimit; 30] = [
        CompileLimit::CodeBytes,
        CompileLimit::FunctionBodyBytes,
        CompileLimit::FunctionLocals,
        CompileLimit::Functions,
        CompileLimit::ControlDepth,
        CompileLimit::BrTableTargets,
        CompileLimit::Blocks,
        CompileLimit::LoopDepth,
        CompileLimit::LocalsTimesBlocks,
        CompileLimit::TotalLocalsTimesBlocks,
        CompileLimit::LocalsTimesChains,
        CompileLimit::TotalLocalsTimesChains,
        CompileLimit::LoopCarried,
        CompileLimit::TotalLoopCarried,
        CompileLimit::CoreModules,
        CompileLimit::CoreInstances,
        CompileLimit::Components,
        CompileLimit::ComponentInstances,
        CompileLimit::ComponentDepth,
        CompileLimit::Imports,
        CompileLimit::Exports,
        CompileLimit::Types,
        CompileLimit::CanonicalFunctions,
        CompileLimit::Globals,
        CompileLimit::Memories,
        CompileLimit::Tables,
        CompileLimit::DataSegments,
        CompileLimit::DataBytes,
        CompileLimit::ElementSegments,
        CompileLimit::ElementItems,
    ];

    /// The largest value accepted.
    pub const fn max(self) -> u64 {
        match self {
            CompileLimit::CodeBytes => MAX_CODE_BYTES,
            CompileLimit::FunctionBodyBytes => MAX_FUNCTION_BODY_BYTES,
            CompileLimit::FunctionLocals => MAX_FUNCTION_LOCALS,
            CompileLimit::Functions => MAX_FUNCTIONS,
            CompileLimit::ControlDepth => MAX_CONTROL_DEPTH,
            CompileLimit::BrTableTargets => MAX_BR_TABLE_TARGETS,
            CompileLimit::Blocks => MAX_BLOCKS,
            CompileLimit::LoopDepth => MAX_LOOP_DEPTH,
            CompileLimit::LocalsTimesBlocks => MAX_LOCALS_TIMES_BLOCKS,
            CompileLimit::TotalLocalsTimesBlocks => MAX_TOTAL_LOCALS_TIMES_BLOCKS,
            CompileLimit::LocalsTimesChains => MAX_LOCALS_TIMES_CHAINS,
            CompileLimit::TotalLocalsTimesChains => MAX_TOTAL_LOCALS_TIMES_CHAINS,
            CompileLimit::LoopCarried => MAX_LOOP_CARRIED,
            CompileLimit::TotalLoopCarried => MAX_TOTAL_LOOP_CARRIED,
            CompileLimit::CoreModules => MAX_CORE_MODULES,
            CompileLimit::CoreInstances => MAX_CORE_INSTANCES,
            CompileLimit::Components => MAX_COMPONENTS,
            CompileLimit::ComponentInstances => MAX_COMPONENT_INSTANCES,
            CompileLimit::ComponentDepth => MAX_COMPONENT_DEPTH,
            CompileLimit::Imports => MAX_IMPORTS,
            CompileLimit::Exports => MAX_EXPORTS,
            CompileLimit::Types => MAX_TYPES,
            CompileLimit::CanonicalFunctions => MAX_CANONICAL_FUNCTIONS,
            CompileLimit::Globals => MAX_GLOBALS,
            CompileLimit::Memories => MAX_MEMORIES,
            CompileLimit::Tables => MAX_TABLES,
            CompileLimit::DataSegments => MAX_DATA_SEGMENTS,
            CompileLimit::DataBytes => MAX_DATA_BYTES,
            CompileLimit::ElementSegments => MAX_ELEMENT_SEGMENTS,
            CompileLimit::ElementItems => MAX_ELEMENT_ITEMS,
        }
    }

    /// What is counted, as a noun phrase ("locals in one function, parameters included").
    pub const fn counts(self) -> &'static str {
        match self {
            CompileLimit::CodeBytes => "bytes of code in all core modules",
            CompileLimit::FunctionBodyBytes => "bytes in one function body",
            CompileLimit::FunctionLocals => "locals in one function, parameters included",
            CompileLimit::Functions => "functions in all core modules",
            CompileLimit::ControlDepth => "levels of nested blocks in one function",
            CompileLimit::BrTableTargets => "targets in one br_table",
            CompileLimit::Blocks => "blocks, loops, ifs and trys in one function",
            CompileLimit::LoopDepth => "levels of nested loops in one function",
            CompileLimit::LocalsTimesBlocks => "(locals x blocks) in one function",
            CompileLimit::TotalLocalsTimesBlocks => "(locals x blocks) in all functions",
            CompileLimit::LocalsTimesChains => "(locals x chain lengths at joins) in one function",
            CompileLimit::TotalLocalsTimesChains => {
                "(locals x chain lengths at joins) in all functions"
            }
            CompileLimit::LoopCarried => "(loop-carried locals x loop bytes) in one function",
            CompileLimit::TotalLoopCarried => "(loop-carried locals x loop bytes) in all functions",
            CompileLimit::CoreModules => "core modules",
            CompileLimit::CoreInstances => "core instances",
            CompileLimit::Components => "nested components",
            CompileLimit::ComponentInstances => "component instances",
            CompileLimit::ComponentDepth => "levels of nested components",
            CompileLimit::Imports => "imports",
            CompileLimit::Exports => "exports",
            CompileLimit::Types => "type definitions",
            CompileLimit::CanonicalFunctions => "canonical functions",
            CompileLimit::Globals => "globals",
            CompileLimit::Memories => "memories",
            CompileLimit::Tables => "tables",
            CompileLimit::DataSegments => "data segments",
            CompileLimit::DataBytes => "bytes of data segments",
            CompileLimit::ElementSegments => "element segments",
            CompileLimit::ElementItems => "element segment items",
        }
    }
}

impl std::fmt::Display for CompileLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.counts())
    }
}
