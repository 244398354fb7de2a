//! Any bytes given to `qyv inspect`: a report or an error, never a panic; a report always
//! renders and serializes to JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = qyvinspect::inspect(data) {
        let _ = qyvinspect::render_human("fuzz.wasm", &report, false);
        serde_json::to_string(&report).expect("a report serializes");
    }
    let _ = qyvinspect::wit_text(data);
});
