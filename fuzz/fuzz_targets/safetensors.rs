//! The safetensors loader (the reference implementation's checks, then ours) on arbitrary bytes:
//! an error, or a file whose every tensor decodes, never a panic or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = std::path::Path::new("fuzz.safetensors");
    if let Ok(file) = codi_model::safetensors::SafetensorsFile::parse(path, bytes.to_vec()) {
        for tensor in file.tensors().values() {
            assert_eq!(tensor.values.len(), tensor.shape.iter().product::<usize>());
        }
    }
});
