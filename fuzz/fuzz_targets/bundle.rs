//! Any bytes given as a `.qyvbin`: the reader returns a verified bundle or an error, never
//! panics, and never accepts more than its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qyvpack::bundle::{self, ReadLimits};

fuzz_target!(|data: &[u8]| {
    let limits = ReadLimits {
        max_unpacked: 1 << 20,
        max_entries: 64,
    };
    if let Ok(b) = bundle::read(data, limits) {
        assert!(b.unpacked_size() <= limits.max_unpacked);
        assert!(b.files.len() <= limits.max_entries);
        let _ = b.manifest_text();
        let _ = b.component();
    }
});
