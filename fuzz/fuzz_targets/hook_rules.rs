#![no_main]

use hookhost_fuzz::*;

libfuzzer_sys::fuzz_target!(|data: &[u8]| hook_rules(data));
