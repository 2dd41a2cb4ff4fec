//! Hostile and broken files: each is a clear error naming the file and the offset or tensor,
//! never a panic or a huge allocation.

mod support;

use std::path::Path;

use codi_model::gguf::Gguf;
use codi_model::quant::GgmlType;
use codi_model::safetensors::SafetensorsFile;
use codi_model::{Error, Quantize, cpu, from_gguf, from_hf_dir};
use support::{Encoding, GgufWriter, safetensors_bytes, tiny, tiny_gguf, write_hf_dir};

fn gguf_error(bytes: &[u8]) -> String {
    match Gguf::parse(Path::new("bad.gguf"), bytes) {
        Ok(_) => panic!("accepted a bad file"),
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("bad.gguf: "), "{message}");
            message
        }
    }
}

fn small_gguf() -> Vec<u8> {
    let mut w = GgufWriter::default();
    w.string("general.architecture", "llama");
    w.tensor("a.weight", &[2, 32], GgmlType::Q8_0.id(), vec![0; 2 * 34]);
    w.bytes()
}

#[test]
fn every_truncation_of_a_gguf_header_is_refused() {
    let (writer, _) = tiny_gguf(&tiny(false, 1), GgmlType::Q4_1, GgmlType::Q8_0);
    let bytes = writer.bytes();
    let gguf = Gguf::parse(Path::new("ok.gguf"), &bytes).expect("the whole file parses");
    let data_end = gguf.tensors.iter().map(|t| t.offset + t.bytes).max().expect("tensors");
    for len in (0..gguf.data_start).chain([data_end - 1]) {
        let message = gguf_error(&bytes[..len]);
        assert!(
            message.contains("truncated") || message.contains("past the end") || message.contains("more than the file"),
            "{len}: {message}"
        );
    }
}

#[test]
fn wrong_magic_and_version() {
    let mut bytes = small_gguf();
    bytes[0] = b'X';
    assert!(gguf_error(&bytes).contains("bad magic"));
    let mut bytes = small_gguf();
    bytes[4] = 1;
    assert!(gguf_error(&bytes).contains("unsupported GGUF version 1"));
}

#[test]
fn absurd_counts_are_refused_before_allocating() {
    let mut bytes = small_gguf();
    bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(gguf_error(&bytes).contains("tensor count"));
    let mut bytes = small_gguf();
    bytes[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(gguf_error(&bytes).contains("metadata count"));
    // A string claiming 2^60 bytes.
    let mut bytes = small_gguf();
    bytes[24..32].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(gguf_error(&bytes).contains("string length"));
}

#[test]
fn bad_tensor_entries_name_the_tensor() {
    let mut w = GgufWriter::default();
    w.tensor("zero.weight", &[0, 32], GgmlType::F32.id(), vec![]);
    assert!(gguf_error(&w.bytes()).contains("dimension 0"));

    let mut w = GgufWriter::default();
    w.tensor("huge.weight", &[1 << 40, 1 << 40], GgmlType::F32.id(), vec![0; 4]);
    let message = gguf_error(&w.bytes());
    assert!(message.contains("tensor `huge.weight`") && message.contains("overflow"), "{message}");

    // Found by the fuzzer: the element count fits, its size in bytes does not.
    let mut w = GgufWriter::default();
    w.tensor("wide.weight", &[1 << 62, 2], GgmlType::F16.id(), vec![0; 4]);
    let message = gguf_error(&w.bytes());
    assert!(message.contains("tensor `wide.weight`") && message.contains("overflow"), "{message}");

    let mut w = GgufWriter::default();
    w.tensor("odd.weight", &[2, 33], GgmlType::Q4_1.id(), vec![0; 40]);
    assert!(gguf_error(&w.bytes()).contains("not a multiple of the Q4_1 block length"));

    let mut w = GgufWriter::default();
    w.tensor("q5.weight", &[2, 32], 6, vec![0; 44]);
    let message = gguf_error(&w.bytes());
    assert!(message.contains("tensor `q5.weight`: unsupported tensor type 6"), "{message}");

    let mut w = GgufWriter::default();
    w.tensor("short.weight", &[64, 64], GgmlType::F32.id(), vec![0; 64]);
    let message = gguf_error(&w.bytes());
    assert!(message.contains("tensor `short.weight`") && message.contains("past the end"), "{message}");
}

#[test]
fn offsets_past_the_end_and_misaligned_are_refused() {
    let bytes = small_gguf();
    Gguf::parse(Path::new("ok.gguf"), &bytes).expect("parse");
    // The tensor entry: name, n_dims (4), two dims (16), type (4), then the offset.
    let name_at = bytes.windows(8).position(|w| w == b"a.weight").expect("tensor name");
    let entry_end = name_at + 8 + 4 + 16 + 4;
    let mut bad = bytes.clone();
    bad[entry_end..entry_end + 8].copy_from_slice(&(1u64 << 20).to_le_bytes());
    assert!(gguf_error(&bad).contains("past the end"));
    let mut bad = bytes;
    bad[entry_end..entry_end + 8].copy_from_slice(&3u64.to_le_bytes());
    assert!(gguf_error(&bad).contains("not aligned"));
}

#[test]
fn a_config_that_does_not_fit_the_weights_names_the_tensor() {
    let tiny = tiny(false, 2);
    let (mut writer, _) = tiny_gguf(&tiny, GgmlType::F32, GgmlType::F32);
    writer.kv.retain(|(k, _)| k != "llama.feed_forward_length");
    writer.u32("llama.feed_forward_length", 96);
    let bytes = writer.bytes();
    let gguf = Gguf::parse(Path::new("mismatch.gguf"), &bytes).expect("well-formed");
    let message = from_gguf(&gguf, &bytes, Quantize::AsStored, &cpu()).expect_err("mismatch").to_string();
    assert!(
        message.contains("mismatch.gguf") && message.contains("blk.0.ffn_gate.weight")
            || message.contains("mlp.gate_proj"),
        "{message}"
    );
    assert!(message.contains("[128, 64]") && message.contains("[96, 64]"), "{message}");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut missing = tiny.clone();
    missing.tensors.remove("model.layers.1.mlp.up_proj.weight");
    write_hf_dir(dir.path(), &missing, 1, Encoding::F32);
    let message = from_hf_dir(dir.path(), Quantize::AsStored, &cpu()).expect_err("missing").to_string();
    assert!(message.contains("missing tensor `model.layers.1.mlp.up_proj.weight`"), "{message}");
}

fn safetensors_error(bytes: &[u8]) -> String {
    let error = SafetensorsFile::parse(Path::new("bad.safetensors"), bytes.to_vec()).expect_err("accepted a bad file");
    assert!(matches!(error, Error::Format { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("bad.safetensors: "), "{message}");
    message
}

#[test]
fn bad_safetensors_files_are_refused() {
    let good = safetensors_bytes(&[("w", &vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])], Encoding::F32);
    let file = SafetensorsFile::parse(Path::new("ok.safetensors"), good.clone()).expect("good file");
    assert_eq!(file.get("w").expect("w").values, [1.0, 2.0, 3.0, 4.0]);
    for len in 0..good.len() - 1 {
        let message = safetensors_error(&good[..len]);
        assert!(message.contains("truncated") || message.contains("past the end"), "{len}: {message}");
    }
    let with_header = |json: &str| {
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend(json.as_bytes());
        bytes.extend([0u8; 16]);
        bytes
    };
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(safetensors_error(&huge).contains("past the end"));
    assert!(safetensors_error(&with_header("{not json")).contains("invalid JSON"));
    assert!(
        safetensors_error(&with_header(r#"{"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#))
            .contains("tensor `w`: unsupported dtype I64")
    );
    for bad_size in [
        r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,64]}}"#,
        r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
    ] {
        assert!(safetensors_error(&with_header(bad_size)).contains("invalid shape, data type, or offset"));
    }
    assert!(
        safetensors_error(&with_header(
            r#"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#
        ))
        .contains("overflow")
    );
    let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    assert!(safetensors_error(&with_header(overlap)).contains("tensor `b`: data_offsets overlap"));
    let short = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    assert!(safetensors_error(&with_header(short)).contains("bytes left over"));
}
