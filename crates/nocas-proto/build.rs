//! Generates the gRPC `Payload` types and the `Request`/`BiRequestStream`
//! services from `proto/nacos_grpc.proto`, with a pure-Rust protobuf
//! compiler (protox), so a fresh clone builds without `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/nacos_grpc.proto");
    let fds = protox::compile(["nacos_grpc.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .codec_path("crate::codec::LeanCodec")
        .compile_fds(fds)?;
    Ok(())
}
