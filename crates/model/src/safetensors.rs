//! safetensors files through the reference implementation (the `safetensors` crate), which checks
//! the header against the bytes before anything is trusted; on top of it, only the dtypes the
//! model decodes are accepted. Single files, sharded `model.safetensors.index.json` directories,
//! and the writer adapters, checkpoints and merges use.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use safetensors::tensor::{Metadata, TensorView};
use safetensors::{SafeTensorError, SafeTensors};
use serde::Deserialize;

use crate::error::{Error, Result};

/// The dtypes tensors are read and written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
        }
    }

    fn of(dtype: safetensors::Dtype) -> Option<Self> {
        match dtype {
            safetensors::Dtype::F32 => Some(Self::F32),
            safetensors::Dtype::F16 => Some(Self::F16),
            safetensors::Dtype::BF16 => Some(Self::BF16),
            _ => None,
        }
    }

    fn stored(self) -> safetensors::Dtype {
        match self {
            Self::F32 => safetensors::Dtype::F32,
            Self::F16 => safetensors::Dtype::F16,
            Self::BF16 => safetensors::Dtype::BF16,
        }
    }

    fn decode(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            Self::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Self::F16 => bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Self::BF16 => bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        }
    }

    fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            Self::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::F16 => values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect(),
            Self::BF16 => values.iter().flat_map(|&v| bf16::from_f32(v).to_le_bytes()).collect(),
        }
    }
}

/// One tensor as stored (its dtype and shape) and decoded to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A safetensors file held whole, its header checked; tensors are decoded on demand.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Where the data starts (after the length and the header).
    data_start: usize,
    metadata: Metadata,
}

impl SafetensorsFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, bytes)
    }

    /// The loader's checks on a whole file in `bytes`: the reference implementation's (header
    /// length, JSON, offsets contiguous and inside the data, sizes that match shape and dtype),
    /// then a dtype the model decodes for every tensor.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let (header_len, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| header_error(path, &e))?;
        for (name, info) in metadata.tensors() {
            if Dtype::of(info.dtype).is_none() {
                return Err(Error::format(
                    path,
                    format!("tensor `{name}`"),
                    format!("unsupported dtype {} (F32, F16 and BF16 are)", info.dtype),
                ));
            }
        }
        Ok(Self { path: path.to_owned(), bytes, data_start: 8 + header_len, metadata })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.metadata.tensors().into_keys().collect();
        names.sort();
        names
    }

    pub fn get(&self, name: &str) -> Option<StoredTensor> {
        let info = self.metadata.info(name)?;
        let dtype = Dtype::of(info.dtype).expect("dtypes are checked on parse");
        let (start, end) = info.data_offsets;
        let values = dtype.decode(&self.bytes[self.data_start + start..self.data_start + end]);
        Some(StoredTensor { dtype, shape: info.shape.clone(), values })
    }

    /// Every tensor, decoded, by name.
    pub fn tensors(&self) -> BTreeMap<String, StoredTensor> {
        self.names()
            .into_iter()
            .map(|name| {
                let tensor = self.get(&name).expect("a listed tensor");
                (name, tensor)
            })
            .collect()
    }
}

/// The reference implementation's refusal, with the file and where it applies.
fn header_error(path: &Path, error: &SafeTensorError) -> Error {
    let (at, message) = match error {
        SafeTensorError::HeaderTooSmall => {
            ("offset 0".to_owned(), "truncated: shorter than the 8-byte header length".into())
        }
        SafeTensorError::HeaderTooLarge | SafeTensorError::InvalidHeaderLength => {
            ("offset 0".to_owned(), "the header length is past the end of the file or over the 100 MB limit".into())
        }
        SafeTensorError::InvalidOffset(name) => {
            (format!("tensor `{name}`"), "data_offsets overlap, leave a gap or run backwards".into())
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            ("data".to_owned(), "the tensors do not cover the data exactly (truncated, or bytes left over)".into())
        }
        other => ("header".to_owned(), other.to_string()),
    };
    Error::format(path, at, message)
}

/// One tensor to write: its name, shape and row-major values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// `tensor`'s shape and values (read back from its device) under `name`.
pub fn named<const D: usize>(name: String, tensor: burn::tensor::Tensor<D>) -> NamedTensor {
    let shape = tensor.dims().to_vec();
    (name, shape, tensor.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 values"))
}

/// A safetensors file holding `tensors` as `dtype`, with `metadata` as its `__metadata__`, as the
/// reference writer lays it out.
pub fn to_bytes(tensors: &[NamedTensor], dtype: Dtype, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let encoded: Vec<(&str, &[usize], Vec<u8>)> =
        tensors.iter().map(|(name, shape, values)| (name.as_str(), shape.as_slice(), dtype.encode(values))).collect();
    let views = encoded
        .iter()
        .map(|(name, shape, bytes)| Ok((*name, TensorView::new(dtype.stored(), shape.to_vec(), bytes)?)))
        .collect::<Result<Vec<_>, SafeTensorError>>();
    let metadata: HashMap<String, String> = metadata.clone().into_iter().collect();
    views
        .and_then(|views| safetensors::serialize(views, (!metadata.is_empty()).then_some(metadata)))
        .map_err(|e| Error::Invalid(format!("writing safetensors: {e}")))
}

/// `model.safetensors.index.json`: which shard holds each tensor.
#[derive(Debug, Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

/// The shard file names an index names, each once, sorted; plain names only (no path may leave
/// the model directory).
pub(crate) fn shards(index_path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read(index_path).map_err(|e| Error::io(index_path, e))?;
    let index: ShardIndex =
        serde_json::from_slice(&text).map_err(|source| Error::Json { path: index_path.to_owned(), source })?;
    let mut shards: Vec<String> = index.weight_map.into_values().collect();
    shards.sort();
    shards.dedup();
    if shards.iter().any(|s| s.contains('/') || s.contains('\\') || s.starts_with('.')) {
        return Err(Error::format(index_path, "weight_map", "shard names must be plain file names"));
    }
    Ok(shards)
}

/// All tensors of a model directory: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` names. Shards are read whole, one at a time, on demand.
#[derive(Debug)]
pub(crate) struct SafetensorsSet {
    files: Vec<PathBuf>,
    /// Tensor name → index into `files`.
    index: BTreeMap<String, usize>,
    loaded: Option<(usize, SafetensorsFile)>,
}

impl SafetensorsSet {
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let index_path = dir.join("model.safetensors.index.json");
        let shards = if index_path.is_file() { shards(&index_path)? } else { vec!["model.safetensors".into()] };
        let (mut files, mut index) = (Vec::new(), BTreeMap::new());
        for shard in shards {
            let path = dir.join(&shard);
            for name in SafetensorsFile::read(&path)?.names() {
                if let Some(previous) = index.insert(name.clone(), files.len()) {
                    let other: &PathBuf = &files[previous];
                    return Err(Error::format(
                        &path,
                        format!("tensor `{name}`"),
                        format!("also in {}", other.display()),
                    ));
                }
            }
            files.push(path);
        }
        Ok(Self { files, index, loaded: None })
    }

    /// A tensor as its shape and f32 values.
    pub(crate) fn read_f32(&mut self, name: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
        let Some(&file) = self.index.get(name) else { return Ok(None) };
        if self.loaded.as_ref().is_none_or(|(loaded, _)| *loaded != file) {
            self.loaded = Some((file, SafetensorsFile::read(&self.files[file])?));
        }
        let loaded = &self.loaded.as_ref().expect("the shard was just loaded").1;
        Ok(loaded.get(name).map(|t| (t.shape, t.values)))
    }
}
