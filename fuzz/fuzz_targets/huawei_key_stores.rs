#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_fuzz::huawei_key_stores(data));
