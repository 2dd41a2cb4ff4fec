//! The GGUF header reader on arbitrary bytes: an error or a header whose every tensor lies
//! inside the input, never a panic or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(gguf) = codi_model::gguf::Gguf::parse(std::path::Path::new("fuzz.gguf"), bytes) {
        for tensor in &gguf.tensors {
            assert!(tensor.offset + tensor.bytes <= bytes.len());
            let mut values = vec![0.0f32; tensor.elements().min(1 << 16) / tensor.ty.block_len() * tensor.ty.block_len()];
            let used = values.len() / tensor.ty.block_len() * tensor.ty.block_bytes();
            tensor.ty.dequantize(&bytes[tensor.offset..tensor.offset + used], &mut values);
        }
    }
});
