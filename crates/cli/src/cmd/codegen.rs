//! `runnel codegen FILE_OR_DIR... --out DIR`: Rust types with `#[derive(Avro)]`
//! from `.avsc` files, through `runnel_codegen::Builder` (the same generator
//! `build.rs` scripts use). The inputs are parsed as one set, so named types
//! may be referenced across files; the output is one `.rs` file.

use std::path::PathBuf;

use anyhow::Context;

use crate::{Global, Output};

/// Arguments of `runnel codegen`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// `.avsc` files, or directories whose `.avsc` files are all taken.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// The directory to write the generated `.rs` file into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The output file's stem (default: the first input file's stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Generate `#[avro(crate = PATH)]` and derive `runnel_derive::Avro`, for crates
    /// that depend on `runnel_avro` and `runnel_derive` rather than the `runnel` facade.
    #[arg(long, value_name = "PATH")]
    pub crate_path: Option<String>,
}

/// Generates the file and prints its path.
pub fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let mut builder = runnel_codegen::Builder::new().out_dir(&args.out).emit_rerun_if_changed(false);
    if let Some(name) = &args.name {
        builder = builder.output_name(name);
    }
    if let Some(path) = &args.crate_path {
        builder = builder.crate_path(path).derive_path("::runnel_derive::Avro");
    }
    let written = builder.compile(&args.inputs[..]).context("code generation failed")?;
    match global.output {
        Output::Text => println!("{}", written.display()),
        Output::Json => println!("{}", serde_json::json!({ "file": written.display().to_string() })),
    }
    Ok(())
}
