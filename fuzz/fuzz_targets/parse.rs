#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| netpol_testkit::fuzz::run("parse", data));
