//! GGUF v2/v3 reader. Every count, length, offset and size is checked against the bytes that
//! are actually there before anything is allocated, so a hostile header yields an error that
//! names the file and the offset or tensor, never a panic or a huge allocation.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::quant::GgmlType;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: usize = 32;
/// GGML_MAX_DIMS.
const MAX_DIMS: usize = 4;
/// Arrays may nest (GGUF allows it); deeper than this is an attack, not a model.
const MAX_NESTING: usize = 4;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// One tensor's entry in the header. `dims` are in GGML order (innermost first), so a
/// PyTorch `[out, in]` matrix has `dims == [in, out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<usize>,
    pub ty: GgmlType,
    /// Absolute byte offset in the file.
    pub offset: usize,
    pub bytes: usize,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.dims.iter().product()
    }

    /// The shape in PyTorch order (outermost first).
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().copied().collect()
    }
}

/// A parsed GGUF header: metadata and the tensor table, validated against the file length.
#[derive(Debug, Clone)]
pub struct Gguf {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    pub data_start: usize,
}

impl Gguf {
    /// Parses and validates the header of a whole GGUF file held in `bytes`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader { bytes, pos: 0, path };
        if reader.take(4)? != MAGIC {
            return Err(Error::format(path, "offset 0", "not a GGUF file (bad magic)"));
        }
        let version = reader.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::format(path, "offset 4", format!("unsupported GGUF version {version} (2 and 3 are)")));
        }
        // The smallest tensor entry is 8 (name len) + 4 (n_dims) + 8 (a dim) + 4 + 8 bytes; the
        // smallest metadata entry 8 (key len) + 4 (type) + 1 bytes.
        let tensor_count = reader.count(32, "tensor count")?;
        let kv_count = reader.count(13, "metadata count")?;
        let mut metadata = BTreeMap::new();
        for _ in 0..kv_count {
            let at = reader.pos;
            let key = reader.string()?;
            let ty = reader.u32()?;
            let value = reader.value(ty, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(Error::format(path, format!("offset {at}"), format!("duplicate metadata key `{key}`")));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(value) => match value.as_u64().and_then(|a| usize::try_from(a).ok()) {
                Some(a) if a.is_power_of_two() && a <= 1 << 20 => a,
                _ => return Err(Error::format(path, "general.alignment", format!("invalid alignment {value:?}"))),
            },
        };
        let mut raw = Vec::with_capacity(tensor_count);
        for _ in 0..tensor_count {
            raw.push(reader.tensor_entry()?);
        }
        let data_start = reader.pos.next_multiple_of(alignment);
        if data_start > bytes.len() {
            return Err(Error::format(path, "tensor data", "truncated: the file ends before the tensor data starts"));
        }
        let mut tensors = Vec::with_capacity(raw.len());
        let mut names = HashSet::with_capacity(raw.len());
        for (name, dims, type_id, relative) in raw {
            let fail = |message: String| Err(Error::format(path, format!("tensor `{name}`"), message));
            if !names.insert(name.clone()) {
                return fail("duplicate tensor name".into());
            }
            let Some(ty) = GgmlType::from_id(type_id) else {
                return fail(format!("unsupported tensor type {type_id}"));
            };
            let Some(elements) = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
                return fail(format!("dimensions {dims:?} overflow"));
            };
            if dims[0] % ty.block_len() != 0 {
                return fail(format!(
                    "row length {} is not a multiple of the {} block length {}",
                    dims[0],
                    ty.name(),
                    ty.block_len()
                ));
            }
            let Some(size) = (elements / ty.block_len()).checked_mul(ty.block_bytes()) else {
                return fail(format!("dimensions {dims:?} of {} overflow", ty.name()));
            };
            if relative % alignment != 0 {
                return fail(format!("data offset {relative} is not aligned to {alignment}"));
            }
            let offset = data_start.checked_add(relative);
            match offset.and_then(|o| o.checked_add(size)) {
                Some(end) if end <= bytes.len() => {}
                _ => {
                    return fail(format!(
                        "data [{relative}, +{size}) runs past the end of the file ({} bytes)",
                        bytes.len()
                    ));
                }
            }
            tensors.push(TensorInfo { name, dims, ty, offset: data_start + relative, bytes: size });
        }
        let mut by_offset: Vec<&TensorInfo> = tensors.iter().filter(|t| t.bytes > 0).collect();
        by_offset.sort_by_key(|t| t.offset);
        for pair in by_offset.windows(2) {
            if pair[0].offset + pair[0].bytes > pair[1].offset {
                return Err(Error::format(
                    path,
                    format!("tensor `{}`", pair[1].name),
                    format!("data overlaps tensor `{}`", pair[0].name),
                ));
            }
        }
        Ok(Self { path: path.to_owned(), version, metadata, tensors, data_start })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// The Hugging Face repo the weights were converted from, when the file says so
    /// (llama.cpp's `general.source.*` and `general.repo_url`). `general.base_model.*` is not
    /// read: it names the model this one was fine-tuned *from*.
    pub fn source_repo(&self) -> Option<String> {
        ["general.source.repo_url", "general.source.url", "general.source.huggingface.repository", "general.repo_url"]
            .iter()
            .find_map(|key| crate::hub::hub_id(self.get(key)?.as_str()?))
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A metadata value that must be present, with a clear error otherwise.
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| Error::format(&self.path, key, "missing metadata key"))
    }

    pub fn require_u64(&self, key: &str) -> Result<u64> {
        let value = self.require(key)?;
        value.as_u64().ok_or_else(|| Error::format(&self.path, key, format!("expected an integer, found {value:?}")))
    }

    pub fn require_str(&self, key: &str) -> Result<&str> {
        let value = self.require(key)?;
        value.as_str().ok_or_else(|| Error::format(&self.path, key, "expected a string"))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn error(&self, message: impl Into<String>) -> Error {
        Error::format(self.path, format!("offset {}", self.pos), message)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(format!("truncated: needs {n} more bytes, {} left", self.remaining())));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count of items at least `min_item_bytes` each, refused when the rest of the file
    /// could not hold that many.
    fn count(&mut self, min_item_bytes: usize, what: &str) -> Result<usize> {
        let n = self.u64()?;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_item_bytes) <= self.remaining() => Ok(n),
            _ => Err(self.error(format!("{what} {n} is more than the file could hold"))),
        }
    }

    fn string(&mut self) -> Result<String> {
        let len = self.count(1, "string length")?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.error("string is not UTF-8"))
    }

    fn value(&mut self, ty: u32, depth: usize) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>()?[0]),
            1 => Value::I8(i8::from_le_bytes(self.array()?)),
            2 => Value::U16(u16::from_le_bytes(self.array()?)),
            3 => Value::I16(i16::from_le_bytes(self.array()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.array()?)),
            6 => Value::F32(f32::from_le_bytes(self.array()?)),
            7 => match self.array::<1>()?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(self.error(format!("invalid bool {b}"))),
            },
            8 => Value::String(self.string()?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(self.error("arrays nested too deeply"));
                }
                let item_type = self.u32()?;
                let min = match item_type {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    other => return Err(self.error(format!("unknown array item type {other}"))),
                };
                let len = self.count(min, "array length")?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.value(item_type, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.array()?)),
            12 => Value::F64(f64::from_le_bytes(self.array()?)),
            other => return Err(self.error(format!("unknown metadata value type {other}"))),
        })
    }

    fn tensor_entry(&mut self) -> Result<(String, Vec<usize>, u32, usize)> {
        let name = self.string()?;
        let n_dims = self.u32()? as usize;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(self.error(format!("tensor `{name}` has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")));
        }
        let mut dims = Vec::with_capacity(n_dims);
        for _ in 0..n_dims {
            let dim = self.u64()?;
            match usize::try_from(dim) {
                Ok(d) if d > 0 => dims.push(d),
                _ => return Err(self.error(format!("tensor `{name}` has dimension {dim}"))),
            }
        }
        let ty = self.u32()?;
        let offset = self.u64()?;
        let offset =
            usize::try_from(offset).map_err(|_| self.error(format!("tensor `{name}` offset {offset} is too large")))?;
        Ok((name, dims, ty, offset))
    }
}
