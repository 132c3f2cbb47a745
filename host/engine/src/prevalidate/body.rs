//! One read of a function's operators, for the shapes that make Cranelift superlinear.

use wasmparser::{Operator, OperatorsReader};

/// What one function body holds, as far as compile cost goes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Deepest nesting of blocks, loops, ifs and trys.
    pub depth: u64,
    /// Blocks, loops, ifs and trys.
    pub blocks: u64,
    /// Over every join (a point two or more edges reach), the summed length of the chains of
    /// single-predecessor blocks that lead to it. Cranelift's SSA construction walks such
    /// chains for every variable it resolves at a join, so nested `if`s cost about the square
    /// of their depth per local.
    pub chains: u64,
    /// Targets of the largest `br_table`.
    pub br_table: u64,
    /// Deepest nesting of loops.
    pub loop_depth: u64,
    /// Summed over loops: (locals the loop may read before writing them, so their value comes
    /// from the previous iteration) x (bytes of the loop).
    pub loop_carried: u64,
}

#[derive(Clone, Copy)]
struct Frame {
    kind: Kind,
    /// Chain length where it opened: an `if`'s else edge leaves from there.
    header_chain: u64,
    /// Edges reaching its end, and their chain lengths summed.
    preds: u64,
    pred_chains: u64,
    had_else: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Block,
    Loop,
    If,
}

/// Where the read is: the chain of single-predecessor blocks behind it, and whether code here
/// runs at all (wasmtime skips unreachable code).
struct Flow {
    chain: u64,
    reachable: bool,
}

struct Loop {
    start: usize,
    /// Unique over the whole walk, so per-level marks never need clearing.
    id: u64,
    /// Blocks open when it began, itself included: a write at exactly this depth runs on
    /// every path through the loop before what follows it.
    open_at_entry: usize,
    exposed: u64,
}

/// Reusable buffers, so scanning thousands of functions does not allocate per function.
#[derive(Default)]
pub(crate) struct Scanner {
    /// Per loop nesting level, per local: the id of the loop at that level that has already
    /// seen the local (read it, or written it at its own level).
    seen: Vec<Vec<u64>>,
    open: Vec<Frame>,
    loops: Vec<Loop>,
    next_id: u64,
}

/// Loop levels and locals tracked, so measuring (which enforces no limit) holds at most
/// 64 x 64 Ki marks; enforcing stops far below both. wasmparser refuses more than 50,000 locals.
const MAX_TRACKED_LEVELS: usize = 64;
const MAX_TRACKED_LOCALS: u64 = 1 << 16;

impl Scanner {
    /// Reads `ops` to the end, or until `too_big` says a figure already breaks a limit, so a
    /// hostile body is not read further than needed.
    pub(crate) fn scan(
        &mut self,
        ops: &mut OperatorsReader<'_>,
        locals: u64,
        too_big: impl Fn(&Shape) -> bool,
    ) -> Result<Shape, wasmparser::BinaryReaderError> {
        let mut shape = Shape::default();
        let tracked = locals.min(MAX_TRACKED_LOCALS) as usize;
        self.open.clear();
        self.loops.clear();
        let mut flow = Flow {
            chain: 0,
            reachable: true,
        };

        while !ops.eof() {
            let offset = ops.original_position();
            match ops.read()? {
                Operator::Loop { .. } => {
                    let level = self.loops.len();
                    if level < MAX_TRACKED_LEVELS {
                        if self.seen.len() <= level {
                            self.seen.push(Vec::new());
                        }
                        if self.seen[level].len() < tracked {
                            self.seen[level].resize(tracked, 0);
                        }
                    }
                    self.open(Kind::Loop, &flow, &mut shape);
                    self.next_id += 1;
                    self.loops.push(Loop {
                        start: offset,
                        id: self.next_id,
                        open_at_entry: self.open.len(),
                        exposed: 0,
                    });
                    shape.loop_depth = shape.loop_depth.max(self.loops.len() as u64);
                    // The header is a join: the entry edge and every branch back.
                    if flow.reachable {
                        shape.chains = shape.chains.saturating_add(flow.chain);
                    }
                    flow.chain = 0;
                }
                Operator::Block { .. } | Operator::Try { .. } | Operator::TryTable { .. } => {
                    self.open(Kind::Block, &flow, &mut shape)
                }
                Operator::If { .. } => {
                    self.open(Kind::If, &flow, &mut shape);
                    flow.chain = flow.chain.saturating_add(1);
                }
                Operator::Else => {
                    if let Some(frame) = self.open.last_mut() {
                        if flow.reachable {
                            frame.preds += 1;
                            frame.pred_chains = frame.pred_chains.saturating_add(flow.chain);
                        }
                        frame.had_else = true;
                        flow.chain = frame.header_chain.saturating_add(1);
                        flow.reachable = true;
                    }
                }
                Operator::End | Operator::Delegate { .. } => {
                    self.close(offset, &mut flow, &mut shape)
                }
                Operator::Br { relative_depth } => {
                    self.branch(relative_depth, &flow, &mut shape);
                    flow.reachable = false;
                }
                Operator::BrIf { relative_depth } => {
                    self.branch(relative_depth, &flow, &mut shape);
                    flow.chain = flow.chain.saturating_add(1);
                }
                Operator::BrTable { targets } => {
                    shape.br_table = shape.br_table.max(targets.len().into());
                    for target in targets.targets() {
                        self.branch(target?, &flow, &mut shape);
                    }
                    self.branch(targets.default(), &flow, &mut shape);
                    flow.reachable = false;
                }
                Operator::Return
                | Operator::Unreachable
                | Operator::Throw { .. }
                | Operator::ThrowRef
                | Operator::Rethrow { .. }
                | Operator::ReturnCall { .. }
                | Operator::ReturnCallIndirect { .. }
                | Operator::ReturnCallRef { .. } => flow.reachable = false,
                Operator::LocalGet { local_index } => self.read(local_index as usize),
                Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
                    self.write(local_index as usize)
                }
                _ => continue,
            }
            if too_big(&shape) {
                break;
            }
        }
        Ok(shape)
    }

    fn open(&mut self, kind: Kind, flow: &Flow, shape: &mut Shape) {
        self.open.push(Frame {
            kind,
            header_chain: flow.chain,
            preds: 0,
            pred_chains: 0,
            had_else: false,
        });
        let depth = self.open.len() as u64;
        shape.blocks += 1;
        shape.depth = shape.depth.max(depth);
    }

    /// The code after a block starts a new Cranelift block: a join if two or more edges reach
    /// it, else one more link in its predecessor's chain.
    fn close(&mut self, offset: usize, flow: &mut Flow, shape: &mut Shape) {
        let Some(mut frame) = self.open.pop() else {
            return;
        };
        if frame.kind == Kind::Loop
            && let Some(done) = self.loops.pop()
        {
            let bytes = offset.saturating_sub(done.start) as u64;
            shape.loop_carried = shape
                .loop_carried
                .saturating_add(done.exposed.saturating_mul(bytes));
        }
        if flow.reachable {
            frame.preds += 1;
            frame.pred_chains = frame.pred_chains.saturating_add(flow.chain);
        }
        if frame.kind == Kind::If && !frame.had_else {
            frame.preds += 1;
            frame.pred_chains = frame.pred_chains.saturating_add(frame.header_chain);
        }
        match frame.preds {
            0 => flow.reachable = false,
            1 => {
                flow.chain = frame.pred_chains.saturating_add(1);
                flow.reachable = true;
            }
            _ => {
                shape.chains = shape.chains.saturating_add(frame.pred_chains);
                flow.chain = 0;
                flow.reachable = true;
            }
        }
    }

    /// A branch to a block or `if` is an edge into the code after it; to a loop, an edge back
    /// into its header (a join already).
    fn branch(&mut self, relative_depth: u32, flow: &Flow, shape: &mut Shape) {
        if !flow.reachable {
            return;
        }
        let Some(index) = (self.open.len().checked_sub(1))
            .and_then(|top| top.checked_sub(relative_depth as usize))
        else {
            return; // the function's own label: a return
        };
        let frame = &mut self.open[index];
        if frame.kind == Kind::Loop {
            shape.chains = shape.chains.saturating_add(flow.chain);
        } else {
            frame.preds += 1;
            frame.pred_chains = frame.pred_chains.saturating_add(flow.chain);
        }
    }

    /// A read may see the value from the previous iteration of every enclosing loop that has
    /// not seen this local yet: the value is then live across that whole loop.
    fn read(&mut self, local: usize) {
        for (open, seen) in self.loops.iter_mut().zip(self.seen.iter_mut()) {
            // An index past every local is invalid; wasmtime's validator will say so.
            let Some(mark) = seen.get_mut(local) else {
                return;
            };
            if *mark != open.id {
                *mark = open.id;
                open.exposed += 1;
            }
        }
    }

    /// Only a write at the loop's own level is sure to run before later reads in the same
    /// iteration; a write inside an `if` may be skipped.
    fn write(&mut self, local: usize) {
        let Some(open) = self.loops.last() else {
            return;
        };
        if open.open_at_entry != self.open.len() {
            return;
        }
        if let Some(mark) = self
            .seen
            .get_mut(self.loops.len() - 1)
            .and_then(|seen| seen.get_mut(local))
        {
            *mark = open.id;
        }
    }
}
