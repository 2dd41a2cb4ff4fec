//! Weight encodings: GGML's block formats (as stored in GGUF) and NF4 with double-quantized
//! scales, decoded row by row on the host. Decoding follows ggml-quants.c exactly.

#![allow(
    clippy::inline_always,
    reason = "the host kernels are inlined into `vectorized` closures, to be compiled for their vector unit"
)]

use half::{bf16, f16};

/// A tensor element type as GGUF numbers it (`ggml_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

impl GgmlType {
    /// `None` for types this runtime does not decode (Q5_0, Q2_K, IQ* …).
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            12 => Self::Q4K,
            13 => Self::Q5K,
            14 => Self::Q6K,
            30 => Self::BF16,
            _ => return None,
        })
    }

    pub fn id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q8_0 => 8,
            Self::Q4K => 12,
            Self::Q5K => 13,
            Self::Q6K => 14,
            Self::BF16 => 30,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q8_0 => "Q8_0",
            Self::Q4K => "Q4_K",
            Self::Q5K => "Q5_K",
            Self::Q6K => "Q6_K",
        }
    }

    /// Elements per block.
    pub fn block_len(self) -> usize {
        match self {
            Self::F32 | Self::F16 | Self::BF16 => 1,
            Self::Q4_0 | Self::Q4_1 | Self::Q8_0 => 32,
            Self::Q4K | Self::Q5K | Self::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q8_0 => 34,
            Self::Q4K => 144,
            Self::Q5K => 176,
            Self::Q6K => 210,
        }
    }

    pub fn is_quantized(self) -> bool {
        self.block_len() > 1
    }

    /// Bytes of `n` elements, `None` when `n` is not a whole number of blocks.
    pub fn bytes_for(self, n: usize) -> Option<usize> {
        n.is_multiple_of(self.block_len()).then(|| n / self.block_len() * self.block_bytes())
    }

    /// Decodes `out.len()` elements (whole blocks) from `bytes`.
    #[inline(always)]
    pub fn dequantize(self, bytes: &[u8], out: &mut [f32]) {
        let block = self.block_len();
        let chunks = bytes.chunks_exact(self.block_bytes()).zip(out.chunks_exact_mut(block));
        match self {
            Self::F32 => chunks.for_each(|(b, y)| y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Self::F16 => chunks.for_each(|(b, y)| y[0] = half16(b, 0)),
            Self::BF16 => chunks.for_each(|(b, y)| y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32()),
            Self::Q4_0 => chunks.for_each(|(b, y)| dequantize_q4_0(b, y)),
            Self::Q4_1 => chunks.for_each(|(b, y)| dequantize_q4_1(b, y)),
            Self::Q8_0 => chunks.for_each(|(b, y)| dequantize_q8_0(b, y)),
            Self::Q4K => chunks.for_each(|(b, y)| dequantize_q4_k(b, y)),
            Self::Q5K => chunks.for_each(|(b, y)| dequantize_q5_k(b, y)),
            Self::Q6K => chunks.for_each(|(b, y)| dequantize_q6_k(b, y)),
        }
    }

    /// Whether [`Self::dot`] has a kernel for this format.
    pub(crate) fn has_dot(self) -> bool {
        matches!(self, Self::Q4_0 | Self::Q4_1 | Self::Q8_0)
    }

    /// The dot product of one row of blocks with `x` without decoding the row: each block's
    /// integer codes are multiplied by `x` in 16 f32 lanes and its scale is applied once.
    /// `block_sums` holds `Σx` of every 32-value block, for Q4_1's minimum (`m·Σx`).
    #[inline(always)]
    pub(crate) fn dot(self, row: &[u8], x: &[f32], block_sums: &[f32]) -> f32 {
        match self {
            Self::Q4_0 => dot_q4_0(row, x),
            Self::Q4_1 => dot_q4_1(row, x, block_sums),
            Self::Q8_0 => dot_q8_0(row, x),
            _ => unreachable!("{} has no block dot", self.name()),
        }
    }
}

/// The values of `x` block by block, as fixed-size arrays (no bounds checks in the lanes).
#[inline(always)]
fn blocks_of<'a, const BYTES: usize>(
    row: &'a [u8],
    x: &'a [f32],
) -> impl Iterator<Item = (&'a [u8; BYTES], &'a [f32; 32])> {
    row.as_chunks::<BYTES>().0.iter().zip(x.as_chunks::<32>().0)
}

/// `Σ d·(low·x[j] + high·x[j+16])` over the blocks of a row, in 16 lanes, where `d` is the
/// block's leading f16 scale and `codes(block, j)` gives the values of its `j`th code pair.
#[inline(always)]
fn block_dot<const BYTES: usize>(row: &[u8], x: &[f32], codes: impl Fn(&[u8; BYTES], usize) -> (f32, f32)) -> f32 {
    let mut lanes = [0f32; 16];
    for (b, x) in blocks_of::<BYTES>(row, x) {
        let d = half16(b, 0);
        for (j, lane) in lanes.iter_mut().enumerate() {
            let (low, high) = codes(b, j);
            *lane += d * (low * x[j] + high * x[j + 16]);
        }
    }
    lanes.iter().sum()
}

#[inline(always)]
fn dot_q4_0(row: &[u8], x: &[f32]) -> f32 {
    block_dot::<18>(row, x, |b, j| (f32::from(b[2 + j] & 0x0F) - 8.0, f32::from(b[2 + j] >> 4) - 8.0))
}

#[inline(always)]
fn dot_q4_1(row: &[u8], x: &[f32], block_sums: &[f32]) -> f32 {
    let scaled = block_dot::<20>(row, x, |b, j| (f32::from(b[4 + j] & 0x0F), f32::from(b[4 + j] >> 4)));
    let minimums: f32 = row.as_chunks::<20>().0.iter().zip(block_sums).map(|(b, &sum)| half16(b, 2) * sum).sum();
    scaled + minimums
}

#[inline(always)]
fn dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
    block_dot::<34>(row, x, |b, j| (f32::from(b[2 + j].cast_signed()), f32::from(b[18 + j].cast_signed())))
}

/// Every f16 bit pattern as f32, built at compile time (256 KiB): a block's scales cost one
/// load each in the kernels instead of a conversion (`half` checks the CPU on every call).
static HALF_TO_F32: [f32; 1 << 16] = {
    let mut table = [0.0; 1 << 16];
    let mut bits = 0;
    while bits < table.len() {
        table[bits] = f16::from_bits(bits as u16).to_f32_const();
        bits += 1;
    }
    table
};

#[inline(always)]
pub(crate) fn half16(bytes: &[u8], at: usize) -> f32 {
    HALF_TO_F32[usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))]
}

#[inline(always)]
fn dequantize_q4_0(b: &[u8], y: &mut [f32]) {
    let d = half16(b, 0);
    for (j, &q) in b[2..18].iter().enumerate() {
        y[j] = (f32::from(q & 0x0F) - 8.0) * d;
        y[j + 16] = (f32::from(q >> 4) - 8.0) * d;
    }
}

#[inline(always)]
fn dequantize_q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half16(b, 0), half16(b, 2));
    let (low, high) = y.split_at_mut(16);
    for ((q, lo), hi) in b[4..20].iter().zip(low).zip(high) {
        *lo = f32::from(q & 0x0F) * d + m;
        *hi = f32::from(q >> 4) * d + m;
    }
}

#[inline(always)]
fn dequantize_q8_0(b: &[u8], y: &mut [f32]) {
    let d = half16(b, 0);
    for (q, out) in b[2..34].iter().zip(y) {
        *out = f32::from(q.cast_signed()) * d;
    }
}

/// The 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block (`get_scale_min_k4`).
#[inline(always)]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (f32, f32) {
    let (scale, min) = if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    };
    (f32::from(scale), f32::from(min))
}

#[inline(always)]
fn dequantize_q4_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half16(b, 0), half16(b, 2));
    let scales = &b[4..16];
    for (chunk, (qs, out)) in b[16..144].chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
        let (s1, m1) = scale_min_k4(2 * chunk, scales);
        let (s2, m2) = scale_min_k4(2 * chunk + 1, scales);
        for (l, &q) in qs.iter().enumerate() {
            out[l] = d * s1 * f32::from(q & 0x0F) - dmin * m1;
            out[l + 32] = d * s2 * f32::from(q >> 4) - dmin * m2;
        }
    }
}

#[inline(always)]
fn dequantize_q5_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half16(b, 0), half16(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    for (chunk, (qs, out)) in b[48..176].chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
        let (s1, m1) = scale_min_k4(2 * chunk, scales);
        let (s2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
        for (l, &q) in qs.iter().enumerate() {
            let high1 = if qh[l] & u1 == 0 { 0.0 } else { 16.0 };
            let high2 = if qh[l] & u2 == 0 { 0.0 } else { 16.0 };
            out[l] = d * s1 * (f32::from(q & 0x0F) + high1) - dmin * m1;
            out[l + 32] = d * s2 * (f32::from(q >> 4) + high2) - dmin * m2;
        }
    }
}

#[inline(always)]
fn dequantize_q6_k(b: &[u8], y: &mut [f32]) {
    let (ql_all, rest) = b.split_at(128);
    let (qh_all, rest) = rest.split_at(64);
    let (scales, d) = rest.split_at(16);
    let d = half16(d, 0);
    for half_block in 0..2 {
        let ql = &ql_all[64 * half_block..];
        let qh = &qh_all[32 * half_block..];
        let sc = &scales[8 * half_block..];
        let out = &mut y[128 * half_block..];
        for l in 0..32 {
            let is = l / 16;
            let q = |low: u8, shift: u32| i32::from(low | (((qh[l] >> shift) & 3) << 4)) - 32;
            let scale = |k: usize| d * f32::from(sc[is + k].cast_signed());
            out[l] = scale(0) * q(ql[l] & 0x0F, 0) as f32;
            out[l + 32] = scale(2) * q(ql[l + 32] & 0x0F, 2) as f32;
            out[l + 64] = scale(4) * q(ql[l] >> 4, 4) as f32;
            out[l + 96] = scale(6) * q(ql[l + 32] >> 4, 6) as f32;
        }
    }
}

/// The 16 NF4 code values (QLoRA, Dettmers et al. 2023): quantiles of N(0, 1) scaled to [-1, 1].
pub const NF4_CODES: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];

/// Values per NF4 block (each has its own absmax scale).
pub const NF4_BLOCK: usize = 64;
/// NF4 blocks per group of the second quantization level (the scales' own scale).
pub const NF4_SCALE_GROUP: usize = 256;

/// An NF4 matrix with double quantization: 4-bit codes, one 8-bit absmax per 64 values, and the
/// absmaxes quantized around their mean with one f32 scale per 256 blocks.
#[derive(Debug, Clone)]
pub struct Nf4 {
    /// Two codes per byte, low nibble first.
    pub codes: Vec<u8>,
    pub scales: Vec<i8>,
    pub scale_scales: Vec<f32>,
    pub scale_offset: f32,
}

impl Nf4 {
    /// Quantizes `values` (a whole number of 64-value blocks).
    pub fn quantize(values: &[f32]) -> Self {
        assert_eq!(values.len() % NF4_BLOCK, 0, "NF4 needs whole blocks");
        let absmax: Vec<f32> =
            values.chunks_exact(NF4_BLOCK).map(|b| b.iter().fold(0f32, |a, v| a.max(v.abs()))).collect();
        let scale_offset = absmax.iter().sum::<f32>() / absmax.len().max(1) as f32;
        let mut scales = Vec::with_capacity(absmax.len());
        let mut scale_scales = Vec::with_capacity(absmax.len().div_ceil(NF4_SCALE_GROUP));
        for group in absmax.chunks(NF4_SCALE_GROUP) {
            let range = group.iter().fold(0f32, |a, s| a.max((s - scale_offset).abs()));
            let step = if range > 0.0 { range / 127.0 } else { 1.0 };
            scale_scales.push(step);
            scales.extend(group.iter().map(|s| ((s - scale_offset) / step).round().clamp(-127.0, 127.0) as i8));
        }
        let mut nf4 = Self { codes: Vec::with_capacity(values.len() / 2), scales, scale_scales, scale_offset };
        for (block, chunk) in values.chunks_exact(NF4_BLOCK).enumerate() {
            let absmax = nf4.block_absmax(block);
            let inverse = if absmax > 0.0 { 1.0 / absmax } else { 0.0 };
            for pair in chunk.chunks_exact(2) {
                nf4.codes.push(nearest_nf4(pair[0] * inverse) | (nearest_nf4(pair[1] * inverse) << 4));
            }
        }
        nf4
    }

    /// The absmax of block `block` after the second quantization level.
    #[inline(always)]
    pub fn block_absmax(&self, block: usize) -> f32 {
        f32::from(self.scales[block]) * self.scale_scales[block / NF4_SCALE_GROUP] + self.scale_offset
    }

    /// Decodes blocks starting at `first_block` into `out` (a whole number of blocks).
    #[inline(always)]
    pub fn dequantize(&self, first_block: usize, out: &mut [f32]) {
        for (i, y) in out.chunks_exact_mut(NF4_BLOCK).enumerate() {
            let block = first_block + i;
            let absmax = self.block_absmax(block);
            let codes = &self.codes[block * NF4_BLOCK / 2..(block + 1) * NF4_BLOCK / 2];
            for (pair, &c) in y.chunks_exact_mut(2).zip(codes) {
                pair[0] = NF4_CODES[usize::from(c & 0x0F)] * absmax;
                pair[1] = NF4_CODES[usize::from(c >> 4)] * absmax;
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.codes.len() + self.scales.len() + 4 * self.scale_scales.len() + 4
    }
}

fn nearest_nf4(x: f32) -> u8 {
    let mut best = 0;
    for (i, code) in NF4_CODES.iter().enumerate() {
        if (code - x).abs() < (NF4_CODES[best] - x).abs() {
            best = i;
        }
    }
    best as u8
}
