//! `codi adapter merge`: a model loaded with its adapter (see `codi_model::load`) with the
//! adapter folded into its weights (`W + scale·B·A`), written as a Hugging Face model directory
//! any loader reads.

use std::collections::BTreeMap;
use std::path::Path;

use codi_model::Model;
use codi_model::safetensors::{Dtype, to_bytes};

use crate::error::Result;
use crate::package::write_dir_atomically;

/// Writes `config.json`, `model.safetensors` (as `dtype`) and the tokenizer files of `model`,
/// adapters merged, to `out`. Returns the number of tensors written.
pub fn merge(model: &Model, out: &Path, dtype: Dtype) -> Result<usize> {
    let tensors = model.transformer.hf_tensors();
    let metadata = BTreeMap::from([("format".to_owned(), "pt".to_owned())]);
    let mut config = model.transformer.config.to_hf_json();
    config["torch_dtype"] = match dtype {
        Dtype::F32 => "float32",
        Dtype::F16 => "float16",
        Dtype::BF16 => "bfloat16",
    }
    .into();
    let mut files = vec![
        ("config.json", serde_json::to_vec_pretty(&config).unwrap_or_default()),
        ("model.safetensors", to_bytes(&tensors, dtype, &metadata)?),
    ];
    files.extend(model.tokenizer.to_files()?);
    write_dir_atomically(out, &files)?;
    Ok(tensors.len())
}
