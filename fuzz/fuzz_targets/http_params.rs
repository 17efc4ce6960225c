//! Arbitrary bytes as a path and a form body, through the path
//! canonicalization, the parameter parsers and the access map.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nocas_server::fuzzing::http_params(data);
});
