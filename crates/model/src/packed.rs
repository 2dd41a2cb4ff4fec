//! A frozen matrix kept in its packed 4/8-bit form, with host kernels that decode it on the fly:
//! a fused decode-and-dot for a few input rows (generation), and a parallel whole-matrix decode
//! for a GEMM when many rows come at once (prompts, scoring, training).

#![allow(
    clippy::inline_always,
    reason = "the host kernels are inlined into `vectorized` closures, to be compiled for their vector unit"
)]

use rayon::prelude::*;

use crate::quant::{GgmlType, NF4_BLOCK, Nf4};

/// Rows decoded per parallel task.
const ROWS_PER_TASK: usize = 32;

#[derive(Debug, Clone)]
pub(crate) enum Storage {
    /// GGML blocks, rows contiguous (as in GGUF).
    Ggml {
        ty: GgmlType,
        bytes: Vec<u8>,
    },
    Nf4(Nf4),
}

/// A `[rows, cols]` matrix (PyTorch `[out, in]` layout) held packed.
#[derive(Debug, Clone)]
pub struct PackedWeight {
    rows: usize,
    cols: usize,
    storage: Storage,
}

impl PackedWeight {
    /// Wraps GGML blocks; `bytes` must hold exactly `rows × cols` elements of `ty`.
    pub fn from_ggml(ty: GgmlType, rows: usize, cols: usize, bytes: Vec<u8>) -> Option<Self> {
        let row_bytes = ty.bytes_for(cols)?;
        (bytes.len() == row_bytes.checked_mul(rows)?).then_some(Self {
            rows,
            cols,
            storage: Storage::Ggml { ty, bytes },
        })
    }

    /// Quantizes row-major `values` to NF4 with double-quantized scales; `None` when a row is
    /// not a whole number of 64-value blocks.
    pub fn nf4(rows: usize, cols: usize, values: &[f32]) -> Option<Self> {
        (cols.is_multiple_of(NF4_BLOCK) && values.len() == rows * cols).then(|| Self {
            rows,
            cols,
            storage: Storage::Nf4(Nf4::quantize(values)),
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The encoding's name (`Q4_1`, `NF4` …).
    pub fn format(&self) -> &'static str {
        match &self.storage {
            Storage::Ggml { ty, .. } => ty.name(),
            Storage::Nf4(_) => "NF4",
        }
    }

    /// Bytes held in memory.
    pub fn bytes(&self) -> usize {
        match &self.storage {
            Storage::Ggml { bytes, .. } => bytes.len(),
            Storage::Nf4(nf4) => nf4.bytes(),
        }
    }

    /// Decodes row `row` into `out` (`cols` values).
    #[inline(always)]
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        match &self.storage {
            Storage::Ggml { ty, bytes } => {
                let row_bytes = bytes.len() / self.rows;
                ty.dequantize(&bytes[row * row_bytes..(row + 1) * row_bytes], out);
            }
            Storage::Nf4(nf4) => nf4.dequantize(row * self.cols / NF4_BLOCK, out),
        }
    }

    /// The whole matrix as row-major f32, decoded in parallel.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        out.par_chunks_mut(self.cols * ROWS_PER_TASK).enumerate().for_each(|(task, chunk)| {
            vectorized(
                #[inline(always)]
                || {
                    for (i, row) in chunk.chunks_exact_mut(self.cols).enumerate() {
                        self.dequantize_row(task * ROWS_PER_TASK + i, row);
                    }
                },
            );
        });
        out
    }

    /// Rows `ids` decoded (an embedding lookup).
    pub fn gather_rows(&self, ids: &[usize]) -> Vec<f32> {
        let mut out = vec![0.0; ids.len() * self.cols];
        for (&id, row) in ids.iter().zip(out.chunks_exact_mut(self.cols)) {
            self.dequantize_row(id, row);
        }
        out
    }

    /// `x · Wᵀ` for `m` row-major input rows of `cols` values: `[m, rows]`. GGML rows with a
    /// block dot ([`GgmlType::dot`]) are multiplied without being decoded; other rows are
    /// decoded once into a cache-resident buffer and dotted with every input row.
    pub fn matmul_t(&self, x: &[f32], m: usize) -> Vec<f32> {
        debug_assert_eq!(x.len(), m * self.cols);
        // Σx of each 32-value block of each input row, for Q4_1's minimums (rows are whole blocks).
        let block_sums: Vec<f32> = match &self.storage {
            Storage::Ggml { ty: GgmlType::Q4_1, .. } => x.as_chunks::<32>().0.iter().map(|b| b.iter().sum()).collect(),
            _ => Vec::new(),
        };
        // Transposed output ([rows, m]) so that each task writes one contiguous slice.
        let mut out_t = vec![0.0; self.rows * m];
        out_t.par_chunks_mut(m * ROWS_PER_TASK).enumerate().for_each(|(task, chunk)| {
            vectorized(
                #[inline(always)]
                || self.dot_rows(task * ROWS_PER_TASK, x, &block_sums, chunk),
            );
        });
        if m == 1 {
            return out_t;
        }
        let mut out = vec![0.0; m * self.rows];
        for (r, outputs) in out_t.chunks_exact(m).enumerate() {
            for (i, &v) in outputs.iter().enumerate() {
                out[i * self.rows + r] = v;
            }
        }
        out
    }

    /// Rows `first..` of `x · Wᵀ` into `out_t` (`m` outputs per weight row).
    #[inline(always)]
    fn dot_rows(&self, first: usize, x: &[f32], block_sums: &[f32], out_t: &mut [f32]) {
        let m = x.len() / self.cols;
        match &self.storage {
            Storage::Ggml { ty, bytes } if ty.has_dot() => {
                let (row_bytes, blocks) = (bytes.len() / self.rows, self.cols / 32);
                for (i, outputs) in out_t.chunks_exact_mut(m).enumerate() {
                    let row = &bytes[(first + i) * row_bytes..][..row_bytes];
                    for (j, (output, input)) in outputs.iter_mut().zip(x.chunks_exact(self.cols)).enumerate() {
                        let sums = block_sums.get(j * blocks..(j + 1) * blocks).unwrap_or_default();
                        *output = ty.dot(row, input, sums);
                    }
                }
            }
            _ => {
                let mut decoded = vec![0.0; self.cols];
                for (i, outputs) in out_t.chunks_exact_mut(m).enumerate() {
                    self.dequantize_row(first + i, &mut decoded);
                    for (output, input) in outputs.iter_mut().zip(x.chunks_exact(self.cols)) {
                        *output = dot(&decoded, input);
                    }
                }
            }
        }
    }

    /// Reorders rows: row `i` of the result is row `order[i]` of `self` (GGML rows only;
    /// used to undo llama.cpp's Q/K permutation).
    pub fn permute_rows(&mut self, order: &[usize]) -> bool {
        let Storage::Ggml { bytes, .. } = &mut self.storage else { return false };
        if order.len() != self.rows {
            return false;
        }
        let row_bytes = bytes.len() / self.rows;
        let mut permuted = Vec::with_capacity(bytes.len());
        for &source in order {
            permuted.extend_from_slice(&bytes[source * row_bytes..(source + 1) * row_bytes]);
        }
        *bytes = permuted;
        true
    }
}

/// Runs `kernel` compiled for the widest vector unit this CPU has (AVX-512, AVX2 with FMA, or
/// the baseline the binary targets): the host kernels are plain loops over fixed-size lanes that
/// the compiler vectorizes for whichever it is given. No FMA contraction happens, so every
/// choice decodes to the same bits. Give it an `#[inline(always)]` closure, so that the kernel is
/// compiled into the function built for the chosen features rather than called from it.
pub(crate) fn vectorized<R>(kernel: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(kernel)
}

/// A dot product in 16 independent lanes, which the compiler keeps in vector registers.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let (a_chunks, b_chunks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..16 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
