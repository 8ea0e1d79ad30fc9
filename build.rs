//! With the `codegen` feature (Runnel's own tests and benchmark), generates Rust
//! types from `.avsc` files with `runnel_codegen::Builder` into `OUT_DIR`, for
//! `tests/generated.rs` (the schema-first path, compiled for real),
//! `tests/derive_evolution.rs` and `benches/codec.rs`: every file of `schemas/`
//! on its own (its versions share names), each file of the code generator's
//! test corpus, and the corpus's `multi/` directory as one set (types
//! referenced across files). Without it, nothing: applications that depend on
//! `runnel` do not build the code generator.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "codegen")]
    generate::all();
}

#[cfg(feature = "codegen")]
mod generate {
    use std::path::Path;

    pub fn all() {
        let out_dir = match std::env::var_os("OUT_DIR") {
            Some(dir) => dir,
            None => fail("OUT_DIR is not set"),
        };
        for dir in ["schemas", "crates/codegen/tests/corpus"] {
            println!("cargo:rerun-if-changed={dir}");
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut files: Vec<_> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "avsc"))
                .collect();
            files.sort();
            for file in files {
                compile(&out_dir, &[file.as_path()], None);
            }
        }
        compile(&out_dir, &[Path::new("crates/codegen/tests/corpus/multi")], Some("multi"));
    }

    fn compile(out_dir: &std::ffi::OsStr, inputs: &[&Path], name: Option<&str>) {
        let mut builder = runnel_codegen::Builder::new().out_dir(out_dir);
        if let Some(name) = name {
            builder = builder.output_name(name);
        }
        if let Err(e) = builder.compile(inputs) {
            fail(&format!("runnel-codegen failed on {inputs:?}: {e}"));
        }
    }

    fn fail(msg: &str) -> ! {
        eprintln!("{msg}");
        std::process::exit(1)
    }
}
