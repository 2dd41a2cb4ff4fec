//! The safetensors header reader on arbitrary bytes: an error or a header whose every tensor
//! lies inside the input, never a panic or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(header) = codi_model::safetensors::Header::parse(std::path::Path::new("fuzz.safetensors"), bytes) {
        for entry in header.tensors.values() {
            assert!(entry.start <= entry.end && entry.end <= bytes.len());
            codi_model::safetensors::to_f32(entry.dtype, &bytes[entry.start..entry.end]);
        }
    }
});
