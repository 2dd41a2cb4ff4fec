//! TensorBoard event files, written directly: TFRecord framing (length, masked CRC-32C of the
//! length, payload, masked CRC-32C of the payload) around `tensorflow.Event` protobufs holding
//! scalar summaries. Each record is flushed as it is written, so a crash keeps every logged point.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl EventWriter {
    /// A new `events.out.tfevents.<seconds>.<host>.<pid>.codi` file in `dir`, opened with the
    /// version record TensorBoard expects first.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        let path = dir.join(format!("events.out.tfevents.{}.{host}.{}.codi", now.as_secs(), std::process::id()));
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer = Self { path, file: BufWriter::new(file) };
        let mut event = event_header(now.as_secs_f64(), 0);
        field_bytes(&mut event, 3, b"brain.Event:2");
        writer.record(&event)?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn scalar(&mut self, tag: &str, step: usize, value: f64) -> Result<()> {
        let mut value_message = Vec::new();
        field_bytes(&mut value_message, 1, tag.as_bytes());
        // simple_value: field 2, fixed32.
        value_message.push(2 << 3 | 5);
        value_message.extend((value as f32).to_le_bytes());
        let mut summary = Vec::new();
        field_bytes(&mut summary, 1, &value_message);
        let wall_time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut event = event_header(wall_time.as_secs_f64(), step as u64);
        field_bytes(&mut event, 5, &summary);
        self.record(&event)
    }

    fn record(&mut self, payload: &[u8]) -> Result<()> {
        let length = (payload.len() as u64).to_le_bytes();
        let mut bytes = Vec::with_capacity(payload.len() + 16);
        bytes.extend(length);
        bytes.extend(masked_crc32c(&length).to_le_bytes());
        bytes.extend(payload);
        bytes.extend(masked_crc32c(payload).to_le_bytes());
        self.file.write_all(&bytes).and_then(|()| self.file.flush()).map_err(|e| Error::io(&self.path, e))
    }
}

/// `Event.wall_time` (field 1, double) and `Event.step` (field 2, varint).
fn event_header(wall_time: f64, step: u64) -> Vec<u8> {
    let mut event = vec![1 << 3 | 1];
    event.extend(wall_time.to_le_bytes());
    event.push(2 << 3);
    varint(&mut event, step);
    event
}

fn field_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend(bytes);
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// TFRecord's masked CRC-32C (Castagnoli).
fn masked_crc32c(bytes: &[u8]) -> u32 {
    let crc = crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn crc32c(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |crc, &b| TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The CRC-32C catalogue's check value for "123456789".
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn varints_encode_as_protobuf_does() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
    }
}
