//! The one linear layer of the model: a dense or packed (frozen, decoded on the fly) base
//! weight, an optional bias, and an optional LoRA adapter. Inference with an adapter needs no
//! merge, and the trainer trains the same layer.
//!
//! Where a packed weight is decoded depends on the device: on the CPU the host kernels decode
//! it (fused into the dot products for a few rows, into a GEMM operand for many); on a GPU it
//! lives on the device in its packed form ([`Resident`]) and is decoded there in each forward.

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorCreationOptions, TensorData};

use crate::packed::PackedWeight;
use crate::resident::Resident;
use crate::rng::SplitMix64;

/// Input rows up to which a packed matmul decodes weight rows into the dot products directly;
/// above it, the matrix is decoded once and multiplied by the backend's GEMM.
const FUSED_MAX_ROWS: usize = 8;

/// A LoRA adapter: `y += scale · B(A(dropout(x)))`, A `[r, in]`, B `[out, r]` (PEFT's layout).
#[derive(Module, Debug)]
pub struct Lora {
    pub a: Param<Tensor<2>>,
    pub b: Param<Tensor<2>>,
    pub scale: f64,
    pub dropout: Dropout,
}

impl Lora {
    /// A fresh adapter as PEFT initializes it: A Kaiming-uniform (a = √5, i.e. U(±1/√in)),
    /// B zeros, so that the layer starts out unchanged. A is drawn from `rng` on the host: the
    /// same seed gives the same adapter on every backend and in every thread.
    pub fn init(
        in_features: usize,
        out_features: usize,
        rank: usize,
        alpha: f64,
        dropout: f64,
        rng: &mut SplitMix64,
        device: &Device,
    ) -> Self {
        let bound = 1.0 / (in_features as f64).sqrt();
        let values: Vec<f32> = (0..rank * in_features).map(|_| ((2.0 * rng.next_f64() - 1.0) * bound) as f32).collect();
        let a = Tensor::from_data(TensorData::new(values, [rank, in_features]), device);
        let b = Tensor::zeros([out_features, rank], device);
        Self::from_tensors(a, b, alpha / rank as f64, dropout)
    }

    pub fn from_tensors(a: Tensor<2>, b: Tensor<2>, scale: f64, dropout: f64) -> Self {
        Self { a: Param::from_tensor(a), b: Param::from_tensor(b), scale, dropout: DropoutConfig::new(dropout).init() }
    }

    pub fn rank(&self) -> usize {
        self.a.dims()[0]
    }
}

#[derive(Module, Debug)]
pub struct Linear {
    /// `[out, in]`, frozen (the base model is never trained).
    dense: Option<Param<Tensor<2>>>,
    #[module(skip)]
    packed: Option<Arc<PackedWeight>>,
    /// `packed` on a GPU device, decoded there (`None` where the host kernels decode it).
    resident: Option<Resident>,
    bias: Option<Param<Tensor<1>>>,
    pub lora: Option<Lora>,
}

impl Linear {
    pub fn dense(weight: Tensor<2>, bias: Option<Tensor<1>>) -> Self {
        Self { dense: Some(frozen(weight)), packed: None, resident: None, bias: bias.map(frozen), lora: None }
    }

    /// A packed weight for `device`: kept on the host for the CPU's kernels, uploaded in its
    /// packed form to a GPU (an unquantized encoding is uploaded dense).
    pub fn packed(weight: PackedWeight, bias: Option<Tensor<1>>, device: &Device) -> Self {
        let mut linear =
            Self { dense: None, packed: Some(Arc::new(weight)), resident: None, bias: bias.map(frozen), lora: None };
        if !on_host(device) {
            linear.upload(device);
        }
        linear
    }

    /// Puts the packed weight on `device` in its packed form, to be decoded there from now on.
    /// Loading does this for a GPU; on the CPU it lets the two paths be compared.
    pub fn upload(&mut self, device: &Device) {
        let Some(packed) = &self.packed else { return };
        match Resident::new(packed, device) {
            Some(resident) => self.resident = Some(resident),
            None => self.dense = Some(frozen(decoded(packed, device))),
        }
    }

    /// Whether the base weight is decoded on the device in each forward.
    pub fn is_resident(&self) -> bool {
        self.resident.is_some()
    }

    /// `[out, in]`.
    pub fn shape(&self) -> [usize; 2] {
        match (&self.dense, &self.packed) {
            (Some(w), _) => w.dims(),
            (None, Some(p)) => [p.rows(), p.cols()],
            (None, None) => unreachable!("a linear layer has a weight"),
        }
    }

    pub fn packed_weight(&self) -> Option<&PackedWeight> {
        self.packed.as_deref()
    }

    /// The base weight as a dense `[out, in]` tensor (decoded when packed).
    pub fn weight(&self, device: &Device) -> Tensor<2> {
        match (&self.dense, &self.resident, &self.packed) {
            (Some(w), _, _) => w.val(),
            (None, Some(r), _) => r.decode(DType::F32),
            (None, None, Some(p)) => decoded(p, device),
            (None, None, None) => unreachable!("a linear layer has a weight"),
        }
    }

    /// The base weight with the adapter folded in, `W + scale·B·A` (`[out, in]`).
    pub fn merged_weight(&self, device: &Device) -> Tensor<2> {
        let weight = self.weight(device);
        match &self.lora {
            Some(lora) => weight + lora.b.val().matmul(lora.a.val()).mul_scalar(lora.scale),
            None => weight,
        }
    }

    pub fn bias(&self) -> Option<Tensor<1>> {
        self.bias.as_ref().map(Param::val)
    }

    /// `x·Wᵀ (+ bias) (+ LoRA)` computed in `x`'s dtype; weights of another dtype (f32 LoRA
    /// masters under bf16 compute) are cast on the way in, so their gradients come back in f32.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dims = x.dims();
        let dtype = x.dtype();
        let [out_features, in_features] = self.shape();
        let rows = dims[..D - 1].iter().product::<usize>();
        let x2: Tensor<2> = x.reshape([rows, in_features]);
        let mut y = self.base_forward(x2.clone(), rows);
        if let Some(bias) = &self.bias {
            y = y + bias.val().cast(dtype).unsqueeze::<2>();
        }
        if let Some(lora) = &self.lora {
            y = y + lora
                .dropout
                .forward(x2)
                .matmul(lora.a.val().cast(dtype).transpose())
                .matmul(lora.b.val().cast(dtype).transpose())
                .mul_scalar(lora.scale);
        }
        let mut out_dims = dims;
        out_dims[D - 1] = out_features;
        y.reshape(out_dims)
    }

    fn base_forward(&self, x: Tensor<2>, rows: usize) -> Tensor<2> {
        let (device, dtype) = (x.device(), x.dtype());
        match (&self.dense, &self.resident, &self.packed) {
            (Some(w), _, _) => x.matmul(w.val().cast(dtype).transpose()),
            (None, Some(r), _) => x.matmul(r.decode(dtype).transpose()),
            (None, None, Some(p)) if rows <= FUSED_MAX_ROWS && host_kernels(&device) => {
                let input = x.into_data().convert::<f32>();
                let values = input.as_slice::<f32>().expect("f32 activations");
                Tensor::from_data(TensorData::new(p.matmul_t(values, rows), [rows, p.rows()]), (&device, dtype))
            }
            // Decoded straight into the compute dtype: no f32 copy of the matrix on the device.
            (None, None, Some(p)) => x.matmul(decoded(p, (&device, dtype)).transpose()),
            (None, None, None) => unreachable!("a linear layer has a weight"),
        }
    }

    /// Embedding lookup: the rows `ids` of the weight, `[n, in]`.
    pub fn rows(&self, ids: &[u32], device: &Device) -> Tensor<2> {
        let indices = || {
            Tensor::<1, Int>::from_data(
                TensorData::new(ids.iter().map(|&i| i64::from(i)).collect::<Vec<_>>(), [ids.len()]),
                device,
            )
        };
        match (&self.dense, &self.resident, &self.packed) {
            (Some(w), _, _) => w.val().select(0, indices()),
            (None, Some(r), _) => r.rows(indices()),
            (None, None, Some(p)) => {
                let indices: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
                Tensor::from_data(TensorData::new(p.gather_rows(&indices), [ids.len(), p.cols()]), device)
            }
            (None, None, None) => unreachable!("a linear layer has a weight"),
        }
    }
}

/// A packed matrix decoded into a dense `[out, in]` tensor.
fn decoded(packed: &PackedWeight, options: impl Into<TensorCreationOptions>) -> Tensor<2> {
    Tensor::from_data(TensorData::new(packed.dequantize(), [packed.rows(), packed.cols()]), options)
}

/// A frozen parameter: loaded weights are never trained.
pub(crate) fn frozen<const D: usize>(tensor: Tensor<D>) -> Param<Tensor<D>> {
    Param::from_tensor(tensor).set_require_grad(false)
}

/// Whether tensors of this device live in host memory (the CPU backend, with or without a
/// gradient graph), where the host kernels decode packed weights.
fn on_host(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// Whether the host kernels may run on tensors of this device: the CPU backend without a
/// gradient graph (the fused kernel is not differentiable with respect to its input).
pub(crate) fn host_kernels(device: &Device) -> bool {
    *device == Device::flex() && !device.is_autodiff()
}
