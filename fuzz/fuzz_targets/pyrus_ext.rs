#![no_main]

use hookhost_fuzz::*;

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyrus_ext(data));
