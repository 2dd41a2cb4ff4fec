//! A packed matrix resident on a GPU: its codes as integer words and its group scales as
//! tensors on the device, decoded there inside each forward, so that no weight is decoded on
//! the host or uploaded per step.
//!
//! Every encoding reduces to one form, `value = table(code + shift) · scale (+ offset)` per
//! group of a row, with the products the host decoder forms (`d · sc`, `dmin · m`, NF4's
//! double-quantized absmax) computed once at upload in the same f32 order. The device then does
//! what the host decoder does after them — one multiply and at most one add per value — which is
//! why its result is bit-exact with [`PackedWeight::dequantize`] (tested on every format).

use crate::packed::{PackedWeight, Storage};
use crate::quant::{GgmlType, NF4_BLOCK, NF4_CODES, Nf4, half16};
use burn::module::{Module, Param, ParamId};
use burn::tensor::{DType, Device, FloatDType, Int, Tensor, TensorData};

/// A packed matrix on the device: `[rows, cols]`, decoded per forward.
#[derive(Module, Debug)]
pub struct Resident {
    /// `[rows, cols · bits / 32]`: `32 / bits` codes per word, the first in the lowest bits.
    words: Param<Tensor<2, Int>>,
    /// `[rows, cols / group]`.
    scales: Param<Tensor<2>>,
    /// `[rows, cols / group]`, for the encodings that add a group minimum.
    offsets: Option<Param<Tensor<2>>>,
    /// The code book a code indexes (NF4), instead of the code's own value.
    table: Option<Param<Tensor<1>>>,
    /// Bits per code as stored in a word (4 or 8).
    bits: usize,
    /// Values per scale.
    group: usize,
    /// Added to a code's value before scaling (a signed encoding's zero point).
    shift: f32,
}

/// The matrix in the one form, on the host: what [`Resident`] uploads.
struct Affine {
    bits: usize,
    group: usize,
    shift: f32,
    /// One code per value, row-major.
    codes: Vec<u8>,
    scales: Vec<f32>,
    offsets: Option<Vec<f32>>,
    table: bool,
}

impl Resident {
    /// Uploads `packed` to `device` in its device form; `None` for an unquantized encoding
    /// (F32, F16, BF16), which is uploaded dense instead.
    pub fn new(packed: &PackedWeight, device: &Device) -> Option<Self> {
        let (rows, cols) = (packed.rows(), packed.cols());
        let affine = Affine::of(packed)?;
        let per_word = 32 / affine.bits;
        let words: Vec<i32> = affine
            .codes
            .chunks_exact(per_word)
            .map(|codes| {
                let word = codes.iter().enumerate().fold(0u32, |w, (k, &c)| w | u32::from(c) << (affine.bits * k));
                word.cast_signed()
            })
            .collect();
        let groups = cols / affine.group;
        let float = |values: Vec<f32>, shape: [usize; 2]| {
            Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), (device, DType::F32)))
                .set_require_grad(false)
        };
        Some(Self {
            words: Param::initialized(
                ParamId::new(),
                Tensor::from_data(TensorData::new(words, [rows, cols / per_word]), device),
            ),
            scales: float(affine.scales, [rows, groups]),
            offsets: affine.offsets.map(|offsets| float(offsets, [rows, groups])),
            table: affine.table.then(|| {
                Param::from_tensor(Tensor::from_data(TensorData::new(NF4_CODES.to_vec(), [16]), (device, DType::F32)))
                    .set_require_grad(false)
            }),
            bits: affine.bits,
            group: affine.group,
            shift: affine.shift,
        })
    }

    /// The whole matrix, decoded on the device into `dtype`.
    pub fn decode(&self, dtype: DType) -> Tensor<2> {
        let offsets = self.offsets.as_ref().map(Param::val);
        self.decode_parts(&self.words.val(), self.scales.val(), offsets, dtype)
    }

    /// Rows `ids` decoded on the device (an embedding lookup), `[n, cols]`.
    pub fn rows(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        let words = self.words.val().select(0, ids.clone());
        let scales = self.scales.val().select(0, ids.clone());
        let offsets = self.offsets.as_ref().map(|o| o.val().select(0, ids));
        self.decode_parts(&words, scales, offsets, DType::F32)
    }

    fn decode_parts(
        &self,
        words: &Tensor<2, Int>,
        scales: Tensor<2>,
        offsets: Option<Tensor<2>>,
        dtype: DType,
    ) -> Tensor<2> {
        let [rows, width] = words.dims();
        let per_word = 32 / self.bits;
        let cols = width * per_word;
        let mask = (1u32 << self.bits) - 1;
        let codes: Tensor<2, Int> = Tensor::stack::<3>(
            (0..per_word)
                .map(|k| {
                    let shift = u32::try_from(self.bits * k).expect("a shift within a 32-bit word");
                    words.clone().bitwise_right_shift_scalar(shift).bitwise_and_scalar(mask)
                })
                .collect(),
            2,
        )
        .reshape([rows, cols]);
        let values: Tensor<2> = match &self.table {
            Some(table) => table.val().select(0, codes.reshape([rows * cols])).reshape([rows, cols]),
            None if self.shift == 0.0 => codes.cast(FloatDType::F32),
            None => codes.cast(FloatDType::F32).add_scalar(self.shift),
        };
        let groups = cols / self.group;
        let scaled = values.reshape([rows, groups, self.group]) * scales.unsqueeze_dim::<3>(2);
        let decoded = match offsets {
            Some(offsets) => scaled + offsets.unsqueeze_dim::<3>(2),
            None => scaled,
        };
        decoded.reshape([rows, cols]).cast(dtype)
    }
}

impl Affine {
    fn of(packed: &PackedWeight) -> Option<Self> {
        match packed.storage() {
            Storage::Ggml { ty, bytes } => Self::ggml(*ty, bytes, packed.rows() * packed.cols()),
            Storage::Nf4(nf4) => Some(Self::nf4(nf4)),
        }
    }

    fn new(bits: usize, group: usize, shift: f32, values: usize, offsets: bool) -> Self {
        Self {
            bits,
            group,
            shift,
            codes: Vec::with_capacity(values),
            scales: Vec::with_capacity(values / group),
            offsets: offsets.then(|| Vec::with_capacity(values / group)),
            table: false,
        }
    }

    fn push_group(&mut self, scale: f32, offset: Option<f32>) {
        self.scales.push(scale);
        if let (Some(offsets), Some(offset)) = (&mut self.offsets, offset) {
            offsets.push(offset);
        }
    }

    /// GGML blocks in the one form (`None` for the unquantized types, which are dense).
    fn ggml(ty: GgmlType, bytes: &[u8], values: usize) -> Option<Self> {
        let blocks = bytes.chunks_exact(ty.block_bytes());
        Some(match ty {
            GgmlType::Q4_0 | GgmlType::Q4_1 => {
                let mut form =
                    Self::new(4, 32, if ty == GgmlType::Q4_0 { -8.0 } else { 0.0 }, values, ty == GgmlType::Q4_1);
                for b in blocks {
                    let offset = (ty == GgmlType::Q4_1).then(|| half16(b, 2));
                    form.push_group(half16(b, 0), offset);
                    let nibbles = &b[if ty == GgmlType::Q4_0 { 2..18 } else { 4..20 }];
                    form.codes.extend(nibbles.iter().map(|q| q & 0x0F));
                    form.codes.extend(nibbles.iter().map(|q| q >> 4));
                }
                form
            }
            GgmlType::Q8_0 => {
                let mut form = Self::new(8, 32, -128.0, values, false);
                for b in blocks {
                    form.push_group(half16(b, 0), None);
                    form.codes.extend(b[2..34].iter().map(|q| q ^ 0x80));
                }
                form
            }
            GgmlType::Q4K | GgmlType::Q5K => {
                let five = ty == GgmlType::Q5K;
                let mut form = Self::new(if five { 8 } else { 4 }, 32, 0.0, values, true);
                for b in blocks {
                    let (d, dmin) = (half16(b, 0), half16(b, 2));
                    let scales = &b[4..16];
                    let (qh, qs) = if five { (&b[16..48], &b[48..176]) } else { (&b[0..0], &b[16..144]) };
                    for (chunk, qs) in qs.chunks_exact(32).enumerate() {
                        for (half, shift) in [(0, 0u32), (1, 4)] {
                            let (scale, min) = crate::quant::scale_min_k4(2 * chunk + half, scales);
                            form.push_group(d * scale, Some(-(dmin * min)));
                            let high = 1u8 << (2 * chunk + half);
                            form.codes.extend(qs.iter().enumerate().map(|(l, q)| {
                                let low = (q >> shift) & 0x0F;
                                if five && qh[l] & high != 0 { low + 16 } else { low }
                            }));
                        }
                    }
                }
                form
            }
            GgmlType::Q6K => {
                let mut form = Self::new(8, 16, -32.0, values, false);
                for b in blocks {
                    let (ql_all, rest) = b.split_at(128);
                    let (qh_all, rest) = rest.split_at(64);
                    let (sc, d) = rest.split_at(16);
                    let d = half16(d, 0);
                    for half_block in 0..2 {
                        let (ql, qh) = (&ql_all[64 * half_block..], &qh_all[32 * half_block..]);
                        // The four 32-value runs of a half block: (low bytes at, high nibble?, qh shift).
                        for (run, (at, upper, qh_shift)) in
                            [(0, false, 0), (32, false, 2), (0, true, 4), (32, true, 6)].into_iter().enumerate()
                        {
                            for sub in 0..2 {
                                let scale = sc[8 * half_block + 2 * run + sub].cast_signed();
                                form.push_group(d * f32::from(scale), None);
                            }
                            form.codes.extend((0..32).map(|l| {
                                let low = if upper { ql[at + l] >> 4 } else { ql[at + l] & 0x0F };
                                low | (((qh[l] >> qh_shift) & 3) << 4)
                            }));
                        }
                    }
                }
                form
            }
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => return None,
        })
    }

    fn nf4(nf4: &Nf4) -> Self {
        let blocks = nf4.scales.len();
        let mut form = Self::new(4, NF4_BLOCK, 0.0, blocks * NF4_BLOCK, false);
        form.table = true;
        form.scales.extend((0..blocks).map(|block| nf4.block_absmax(block)));
        form.codes.extend(nf4.codes.iter().flat_map(|c| [c & 0x0F, c >> 4]));
        form
    }
}
