//! Packed weights resident on the device: decoded there, bit-exact with the host decoder for
//! every encoding, on the CPU backend and — in a build with `--features wgpu` — on wgpu (Mesa's
//! lavapipe runs it without a GPU), and a model computing with them as with host decoding.

mod support;

use burn::tensor::{DType, Int, Tensor, TensorData};
use codi_model::gguf::Gguf;
use codi_model::quant::GgmlType;
use codi_model::{Device, KvCache, PackedWeight, Quantize, Resident, SplitMix64, Transformer, cpu, from_gguf};
use support::{DIMS, random_blocks, tiny, tiny_gguf};

const QUANTIZED: [GgmlType; 6] =
    [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4K, GgmlType::Q5K, GgmlType::Q6K];

/// The devices under test: the CPU backend, and wgpu's default adapter in a wgpu build.
fn devices() -> Vec<Device> {
    let mut devices = vec![cpu()];
    if cfg!(feature = "wgpu") {
        devices.push(codi_model::DeviceKind::Wgpu.device().expect("a wgpu build has the wgpu device"));
    }
    devices
}

fn bits(tensor: Tensor<2>) -> Vec<u32> {
    tensor.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32").into_iter().map(f32::to_bits).collect()
}

fn assert_bit_exact(packed: &PackedWeight, device: &Device) {
    let resident = Resident::new(packed, device).expect("a quantized encoding");
    let host: Vec<u32> = packed.dequantize().into_iter().map(f32::to_bits).collect();
    let decoded = bits(resident.decode(DType::F32));
    let differing = host.iter().zip(&decoded).filter(|(h, d)| h != d).count();
    assert_eq!(differing, 0, "{} on {device:?}: {differing} of {} values differ", packed.format(), host.len());
    let ids = [5usize, 0, 5, packed.rows() - 1];
    let id_tensor = Tensor::<1, Int>::from_data(
        TensorData::new(ids.iter().map(|&i| i64::try_from(i).expect("a row index")).collect::<Vec<_>>(), [ids.len()]),
        device,
    );
    let rows = bits(resident.rows(id_tensor));
    let host_rows: Vec<u32> = packed.gather_rows(&ids).into_iter().map(f32::to_bits).collect();
    assert_eq!(rows, host_rows, "{} rows on {device:?}", packed.format());
}

#[test]
fn every_ggml_encoding_decodes_on_the_device_bit_exactly() {
    for device in devices() {
        for (i, ty) in QUANTIZED.into_iter().enumerate() {
            assert_bit_exact(&random_blocks(ty, 24, 512, 40 + i as u64), &device);
        }
    }
}

#[test]
fn nf4_decodes_on_the_device_bit_exactly() {
    let mut rng = SplitMix64(9);
    // 300 blocks: more than one group of the scales' second level, and a partial last group.
    let (rows, cols) = (75, 256);
    let values: Vec<f32> = (0..rows * cols).map(|_| (rng.next_f64() - 0.5) as f32 * 0.2).collect();
    let packed = PackedWeight::nf4(rows, cols, &values).expect("whole blocks");
    for device in devices() {
        assert_bit_exact(&packed, &device);
    }
}

#[test]
fn unquantized_encodings_have_no_device_form() {
    let bytes: Vec<u8> = [1.5f32, -2.0, 0.25, 8.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let packed = PackedWeight::from_ggml(GgmlType::F32, 2, 2, bytes).expect("2×2 F32");
    assert!(Resident::new(&packed, &cpu()).is_none());
}

fn tiny_model(device: &Device) -> Transformer {
    let (writer, _) = tiny_gguf(&tiny(false, 6), GgmlType::Q4_1, GgmlType::Q8_0);
    let bytes = writer.bytes();
    let gguf = Gguf::parse(std::path::Path::new("tiny.gguf"), &bytes).expect("parse GGUF");
    from_gguf(&gguf, &bytes, Quantize::AsStored, device).expect("load GGUF")
}

fn logits(model: &Transformer, ids: &[u32]) -> Vec<f32> {
    let hidden = model.forward(&[ids.to_vec()], None, &mut KvCache::default());
    model.logits(hidden).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32")
}

/// More than the fused kernel's rows: both paths multiply the same decoded matrix by one GEMM.
const IDS: [u32; 12] = [3, 17, 42, 5, 88, 61, 0, 95, 23, 7, 7, 64];

#[test]
fn a_model_with_resident_weights_computes_what_host_decoding_computes() {
    let host = tiny_model(&cpu());
    let mut resident = tiny_model(&cpu());
    assert!(!resident.embed_tokens.is_resident(), "the CPU keeps packed weights on the host");
    resident.embed_tokens.upload(&cpu());
    for (_, linear) in codi_model::linear_layers_mut(&mut resident) {
        linear.upload(&cpu());
    }
    assert!(resident.layers[0].mlp.down_proj.is_resident());
    let (expected, got) = (logits(&host, &IDS), logits(&resident, &IDS));
    assert_eq!(expected.len(), IDS.len() * DIMS.vocab);
    assert!(expected.iter().zip(&got).all(|(e, g)| e.to_bits() == g.to_bits()), "logits differ");
    // 300 tokens: three of the tensor path's query blocks on the GPU, the host kernel's on the CPU.
    let long: Vec<u32> = (0..300u32).map(|i| i * 37 % 96).collect();
    let expected_long = logits(&host, &long);
    for device in devices().into_iter().skip(1) {
        let model = tiny_model(&device);
        assert!(model.layers[0].self_attn.q_proj.is_resident(), "a GPU load keeps weights packed on the device");
        for (ids, expected) in [(&IDS[..], &expected), (&long[..], &expected_long)] {
            let delta = expected.iter().zip(logits(&model, ids)).map(|(e, g)| (e - g).abs()).fold(0.0, f32::max);
            assert!(delta < 1e-3, "{device:?}, {} tokens: max |Δ| {delta}", ids.len());
        }
    }
}
