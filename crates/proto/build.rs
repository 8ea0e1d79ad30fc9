//! Compiles the .proto files with the vendored protoc, so no system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure()
        .bytes(".runnel.v1.ProduceRequest.batch")
        .bytes(".runnel.v1.FetchResponse.batches")
        .compile_protos(&["proto/runnel/v1/runnel.proto"], &["proto"])?;
    Ok(())
}
