//! Arbitrary bytes as a gRPC `Payload` frame, through decoding and the
//! handlers' key parsing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nocas_server::fuzzing::grpc_payload(data);
});
