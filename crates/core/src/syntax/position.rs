//! Source positions, and the map from a joined logical line back to the physical lines it came from.

use serde::{Deserialize, Serialize};

/// A point in the source: 1-based line and column (in Unicode scalar values), 0-based byte offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
    pub offset: u32,
}

/// A half-open range of source text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub start: Position,
    pub end: Position,
}

impl Span {
    pub fn new(start: Position, end: Position) -> Self {
        Self { start, end }
    }

    /// The line a finding on this node is reported at (hadolint reports an instruction's first line).
    pub fn line(&self) -> u32 {
        self.start.line
    }
}

/// One physical chunk of a logical line: where its text starts in the joined string and in the file.
#[derive(Debug, Clone, Copy)]
struct Segment {
    logical: u32,
    physical: Position,
}

/// Maps byte offsets inside a continuation-joined logical line to physical positions.
///
/// BuildKit joins `RUN a \` + `  b` into one string; every node we cut out of that string
/// still needs the line and column it was written at.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineMap {
    segments: Vec<Segment>,
}

impl LineMap {
    /// Records that the joined text from byte `logical` on was read starting at `physical`.
    pub(crate) fn push(&mut self, logical: usize, physical: Position) {
        self.segments.push(Segment { logical: to_u32(logical), physical });
    }

    /// The physical position of byte `offset` of `text` (the joined line this map describes).
    pub(crate) fn position(&self, text: &str, offset: usize) -> Position {
        let index = self.segments.partition_point(|s| s.logical as usize <= offset);
        let Some(segment) = index.checked_sub(1).map(|i| self.segments[i]) else {
            return Position::default();
        };
        let from = segment.logical as usize;
        let to = offset.min(text.len());
        let columns = text.get(from..to).map_or(0, |s| s.chars().count());
        Position {
            line: segment.physical.line,
            column: segment.physical.column + to_u32(columns),
            offset: segment.physical.offset + to_u32(to - from),
        }
    }

    pub(crate) fn span(&self, text: &str, start: usize, end: usize) -> Span {
        Span::new(self.position(text, start), self.position(text, end))
    }
}

/// Offsets are bounded by the parser's input size limit, far below `u32::MAX`.
pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
