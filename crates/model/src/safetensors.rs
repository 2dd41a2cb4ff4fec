//! safetensors reader (single files and sharded `model.safetensors.index.json`), validating the
//! header against the file before anything is trusted, and the writer adapters and merges use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// The header may not claim more than this (the reference implementation's own limit).
const MAX_HEADER: usize = 100 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
}

impl Dtype {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "F32" => Some(Self::F32),
            "F16" => Some(Self::F16),
            "BF16" => Some(Self::BF16),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
        }
    }

    pub fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Absolute byte range in the file.
    pub start: usize,
    pub end: usize,
}

/// A parsed header: tensor table and `__metadata__`.
#[derive(Debug, Clone)]
pub struct Header {
    pub tensors: BTreeMap<String, TensorEntry>,
    pub metadata: BTreeMap<String, String>,
}

impl Header {
    /// Parses the header of a whole safetensors file held in `bytes`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let fail = |at: &str, message: String| Error::format(path, at, message);
        let Some(len) = bytes.get(..8) else {
            return Err(fail("offset 0", "truncated: shorter than the 8-byte header length".into()));
        };
        let len = u64::from_le_bytes(len.try_into().map_err(|_| fail("offset 0", "truncated".into()))?);
        let header_len = usize::try_from(len).ok().filter(|&n| n <= MAX_HEADER && n <= bytes.len() - 8);
        let Some(header_len) = header_len else {
            return Err(fail(
                "offset 0",
                format!("header length {len} is past the end of the file ({} bytes)", bytes.len()),
            ));
        };
        let data_start = 8 + header_len;
        let json: Json =
            serde_json::from_slice(&bytes[8..data_start]).map_err(|e| fail("header", format!("invalid JSON: {e}")))?;
        let Json::Object(entries) = json else {
            return Err(fail("header", "not a JSON object".into()));
        };
        let data_len = bytes.len() - data_start;
        let mut tensors = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        for (name, entry) in entries {
            if name == "__metadata__" {
                let Json::Object(map) = entry else {
                    return Err(fail("__metadata__", "not an object".into()));
                };
                for (key, value) in map {
                    let Json::String(value) = value else {
                        return Err(fail("__metadata__", format!("`{key}` is not a string")));
                    };
                    metadata.insert(key, value);
                }
                continue;
            }
            let at = format!("tensor `{name}`");
            let dtype_name =
                entry.get("dtype").and_then(Json::as_str).ok_or_else(|| fail(&at, "missing dtype".into()))?;
            let dtype = Dtype::parse(dtype_name).ok_or_else(|| fail(&at, format!("unsupported dtype {dtype_name}")))?;
            let shape = entry
                .get("shape")
                .and_then(Json::as_array)
                .and_then(|dims| {
                    dims.iter().map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok())).collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| fail(&at, "missing or invalid shape".into()))?;
            let offsets = entry
                .get("data_offsets")
                .and_then(Json::as_array)
                .filter(|o| o.len() == 2)
                .and_then(|o| Some((usize::try_from(o[0].as_u64()?).ok()?, usize::try_from(o[1].as_u64()?).ok()?)))
                .ok_or_else(|| fail(&at, "missing or invalid data_offsets".into()))?;
            let size = shape.iter().try_fold(dtype.size(), |n, &d| n.checked_mul(d));
            let (start, end) = offsets;
            if start > end || end > data_len {
                return Err(fail(
                    &at,
                    format!("data_offsets [{start}, {end}] are outside the data ({data_len} bytes)"),
                ));
            }
            if size != Some(end - start) {
                return Err(fail(
                    &at,
                    format!(
                        "shape {shape:?} of {} needs {size:?} bytes, the offsets give {}",
                        dtype.name(),
                        end - start
                    ),
                ));
            }
            tensors.insert(name, TensorEntry { dtype, shape, start: data_start + start, end: data_start + end });
        }
        let mut ranges: Vec<(&String, &TensorEntry)> = tensors.iter().filter(|(_, t)| t.end > t.start).collect();
        ranges.sort_by_key(|(_, t)| t.start);
        for pair in ranges.windows(2) {
            if pair[0].1.end > pair[1].1.start {
                return Err(fail(&format!("tensor `{}`", pair[1].0), format!("data overlaps tensor `{}`", pair[0].0)));
            }
        }
        Ok(Self { tensors, metadata })
    }
}

/// Decodes a tensor's bytes to f32.
pub fn to_f32(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
    }
}

/// One tensor to write: its name, shape and row-major values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// `tensor`'s shape and values (read back from its device) under `name`.
pub fn named<const D: usize>(name: String, tensor: burn::tensor::Tensor<D>) -> NamedTensor {
    let shape = tensor.dims().to_vec();
    (name, shape, tensor.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 values"))
}

/// A safetensors file holding `tensors` (in name order) as `dtype`, with `metadata` as its
/// `__metadata__`. The header is padded to 8 bytes, as the reference writer does.
pub fn to_bytes(tensors: &[NamedTensor], dtype: Dtype, metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut sorted: Vec<&NamedTensor> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(metadata).unwrap_or_default());
    }
    let mut offset = 0;
    for (name, shape, values) in &sorted {
        let end = offset + values.len() * dtype.size();
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype.name(), "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut header = serde_json::to_vec(&header).unwrap_or_default();
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header);
    for (_, _, values) in sorted {
        match dtype {
            Dtype::F32 => out.extend(values.iter().flat_map(|v| v.to_le_bytes())),
            Dtype::F16 => out.extend(values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes())),
            Dtype::BF16 => out.extend(values.iter().flat_map(|&v| bf16::from_f32(v).to_le_bytes())),
        }
    }
    out
}

/// All tensors of a model directory: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` names. Files are read whole, one at a time, on demand.
#[derive(Debug)]
pub struct SafetensorsSet {
    files: Vec<(PathBuf, Header)>,
    /// Tensor name → index into `files`.
    index: BTreeMap<String, usize>,
    loaded: Option<(usize, Vec<u8>)>,
}

impl SafetensorsSet {
    pub fn open(dir: &Path) -> Result<Self> {
        let index_path = dir.join("model.safetensors.index.json");
        let shard_names: Vec<String> = if index_path.is_file() {
            let text = std::fs::read(&index_path).map_err(|e| Error::io(&index_path, e))?;
            let json: Json =
                serde_json::from_slice(&text).map_err(|source| Error::Json { path: index_path.clone(), source })?;
            let map = json
                .get("weight_map")
                .and_then(Json::as_object)
                .ok_or_else(|| Error::format(&index_path, "weight_map", "missing or not an object"))?;
            let mut shards: Vec<String> = map.values().filter_map(Json::as_str).map(str::to_owned).collect();
            shards.sort();
            shards.dedup();
            if shards.iter().any(|s| s.contains('/') || s.contains('\\') || s.starts_with('.')) {
                return Err(Error::format(&index_path, "weight_map", "shard names must be plain file names"));
            }
            shards
        } else {
            vec!["model.safetensors".into()]
        };
        let mut files = Vec::new();
        let mut index = BTreeMap::new();
        for shard in shard_names {
            let path = dir.join(&shard);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let header = Header::parse(&path, &bytes)?;
            for name in header.tensors.keys() {
                if let Some(previous) = index.insert(name.clone(), files.len()) {
                    let other: &(PathBuf, Header) = &files[previous];
                    return Err(Error::format(
                        &path,
                        format!("tensor `{name}`"),
                        format!("also in {}", other.0.display()),
                    ));
                }
            }
            files.push((path, header));
        }
        Ok(Self { files, index, loaded: None })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    pub fn entry(&self, name: &str) -> Option<(&Path, &TensorEntry)> {
        let file = *self.index.get(name)?;
        let (path, header) = &self.files[file];
        Some((path, &header.tensors[name]))
    }

    /// A tensor as f32 values with its shape.
    pub fn read_f32(&mut self, name: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
        let Some(&file) = self.index.get(name) else { return Ok(None) };
        if self.loaded.as_ref().is_none_or(|(loaded, _)| *loaded != file) {
            let path = &self.files[file].0;
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            self.loaded = Some((file, bytes));
        }
        let entry = &self.files[file].1.tensors[name];
        let bytes = &self.loaded.as_ref().map_or(&[][..], |(_, b)| b.as_slice());
        let Some(data) = bytes.get(entry.start..entry.end) else {
            return Err(Error::format(
                &self.files[file].0,
                format!("tensor `{name}`"),
                "the file changed while it was read",
            ));
        };
        Ok(Some((entry.shape.clone(), to_f32(entry.dtype, data))))
    }
}
