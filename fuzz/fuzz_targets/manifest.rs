//! Any bytes given as a `.qyv` manifest: parsing returns a manifest or diagnostics, never
//! panics, and every diagnostic's position lies inside the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use qyvpack::manifest::{self, ManifestError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(ManifestError::Invalid(diagnostics)) = manifest::parse(text, Path::new("fuzz.qyv")) {
        let lines = text.split('\n').count();
        for d in diagnostics {
            assert!(!d.to_string().is_empty());
            assert!(d.line >= 1 && d.line <= lines, "line {} of {lines}", d.line);
            assert!(d.column >= 1);
        }
    }
});
