//! Fuzzes the disclosure-policy parser: any text gives a policy or an error naming where it is
//! wrong, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ror_opendata::disclose::Policy::parse(text, "fuzz.toml");
    }
});
