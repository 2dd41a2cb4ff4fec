//! The parser on arbitrary bytes: no panic, and printing a parsed file and parsing it again
//! gives the same tree (positions and diagnostics aside).
#![no_main]

use codi_core::syntax::{ParseOptions, parse, parse_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = parse_bytes(data, &ParseOptions::default());
    let printed = file.to_string();
    let again = parse(&printed);
    assert_eq!(file.shape(), again.shape(), "printed:\n{printed}");
    assert_eq!(printed, again.to_string());
});
