//! `.avsc` → Rust source whose types carry `#[derive(Avro)]`.
//!
//! The schema-first path of Runnel: Avro schema files become Rust structs,
//! enums and newtypes with the `#[avro(...)]` attributes that reproduce the
//! schema (names, namespaces, docs, aliases, defaults, enum defaults, logical
//! types, fixed), so that the derived schema of each generated type has the
//! Parsing Canonical Form of its input. Schemas are parsed by apache-avro
//! (several files at once, so named types may be referenced across files);
//! generation is in [`gen`], formatting by prettyplease.
//!
//! For `build.rs`, in the style of prost-build:
//!
//! ```no_run
//! runnel_codegen::Builder::new().compile(&["schemas/user.avsc"]).unwrap();
//! // then, in the crate: include!(concat!(env!("OUT_DIR"), "/user.rs"));
//! ```

use std::path::{Path, PathBuf};

mod gen;

/// Why code generation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written (the cause is the `source`).
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The schemas do not parse (as a set: references must resolve).
    #[error("invalid Avro schema: {0}")]
    Schema(String),
    /// A schema uses something the generated Rust types cannot express.
    #[error("cannot generate Rust for {path}: {reason}")]
    Unsupported { path: String, reason: String },
    /// No output directory: neither `out_dir` nor the `OUT_DIR` environment variable.
    #[error("no output directory: call Builder::out_dir or run from a build script (OUT_DIR)")]
    NoOutDir,
    /// No input schema was given (or a directory held no `.avsc` file).
    #[error("no .avsc input")]
    NoInput,
}

/// Configures and runs code generation.
#[derive(Debug, Clone)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    output_name: Option<String>,
    derive_path: String,
    crate_path: Option<String>,
    extra_derives: Vec<String>,
    rerun_if_changed: Option<bool>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            out_dir: None,
            output_name: None,
            derive_path: "::runnel::Avro".to_owned(),
            crate_path: None,
            extra_derives: vec!["Debug".into(), "Clone".into(), "PartialEq".into()],
            rerun_if_changed: None,
        }
    }
}

impl Builder {
    /// A builder with the defaults: types derive `Debug, Clone, PartialEq` and
    /// `::runnel::Avro`; output to `$OUT_DIR`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where [`compile`](Self::compile) writes (default: `$OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The output file's stem (default: the stem of the first input file), so
    /// `output_name("user_v2")` writes `user_v2.rs`.
    pub fn output_name(mut self, name: impl Into<String>) -> Self {
        self.output_name = Some(name.into());
        self
    }

    /// The path of the derive macro in generated code (default `::runnel::Avro`).
    pub fn derive_path(mut self, path: impl Into<String>) -> Self {
        self.derive_path = path.into();
        self
    }

    /// The runtime path generated code names in `#[avro(crate = "...")]`, for
    /// crates that depend on `runnel_avro` rather than the `runnel` facade.
    pub fn crate_path(mut self, path: impl Into<String>) -> Self {
        self.crate_path = Some(path.into());
        self
    }

    /// The derives added next to `Avro` (default `Debug, Clone, PartialEq`).
    pub fn derives(mut self, derives: &[&str]) -> Self {
        self.extra_derives = derives.iter().map(|d| (*d).to_owned()).collect();
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for each input (default: when
    /// `OUT_DIR` is set, i.e. in a build script).
    pub fn emit_rerun_if_changed(mut self, yes: bool) -> Self {
        self.rerun_if_changed = Some(yes);
        self
    }

    /// Generates the types of `inputs` (files, or directories whose `.avsc`
    /// files are taken in name order) into one file in the output directory,
    /// and returns its path.
    pub fn compile(&self, inputs: &[impl AsRef<Path>]) -> Result<PathBuf, Error> {
        let files = collect_inputs(inputs)?;
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or(Error::NoOutDir)?,
        };
        if self.rerun_if_changed.unwrap_or_else(|| std::env::var_os("OUT_DIR").is_some()) {
            for file in &files {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
        let source = self.generate(&files)?;
        let stem = match &self.output_name {
            Some(name) => name.clone(),
            None => files[0]
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "avro".into()),
        };
        std::fs::create_dir_all(&out_dir).map_err(|source| Error::Io { path: out_dir.clone(), source })?;
        let path = out_dir.join(format!("{stem}.rs"));
        std::fs::write(&path, source).map_err(|source| Error::Io { path: path.clone(), source })?;
        Ok(path)
    }

    /// The generated source for `inputs` (files or directories), as a string.
    pub fn compile_to_string(&self, inputs: &[impl AsRef<Path>]) -> Result<String, Error> {
        let files = collect_inputs(inputs)?;
        self.generate(&files)
    }

    /// The generated source for schemas given as JSON text (each a named type;
    /// later ones may reference earlier ones' names and vice versa).
    pub fn compile_schemas_to_string(&self, schemas: &[&str]) -> Result<String, Error> {
        if schemas.is_empty() {
            return Err(Error::NoInput);
        }
        let parsed = apache_avro::Schema::parse_list(schemas).map_err(|e| Error::Schema(e.to_string()))?;
        let sources: Vec<String> = (0..schemas.len()).map(|i| format!("schema #{i}")).collect();
        self.render(&parsed, &sources)
    }

    fn generate(&self, files: &[PathBuf]) -> Result<String, Error> {
        let mut texts = Vec::with_capacity(files.len());
        for file in files {
            texts.push(
                std::fs::read_to_string(file).map_err(|source| Error::Io { path: file.clone(), source })?,
            );
        }
        let parsed = apache_avro::Schema::parse_list(&texts).map_err(|e| Error::Schema(e.to_string()))?;
        let sources: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.render(&parsed, &sources)
    }

    fn render(&self, schemas: &[apache_avro::Schema], sources: &[String]) -> Result<String, Error> {
        let options = gen::Options {
            derive_path: &self.derive_path,
            crate_path: self.crate_path.as_deref(),
            extra_derives: &self.extra_derives,
        };
        let file = gen::generate(schemas, &options)?;
        let mut out = String::from("// @generated by runnel-codegen from:\n");
        for s in sources {
            out.push_str("//   ");
            out.push_str(s);
            out.push('\n');
        }
        out.push_str("// Do not edit: regenerate from the schema.\n\n");
        out.push_str(&prettyplease::unparse(&file));
        Ok(rustfmt(&out).unwrap_or(out))
    }
}

/// The source formatted by `rustfmt` (`$RUSTFMT` or the one on `PATH`), so
/// that it passes `cargo fmt --check` exactly; `None` when rustfmt is not
/// available or fails (prettyplease's output is then used as it is).
fn rustfmt(source: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let program = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let mut child = Command::new(program)
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(source.as_bytes()).ok()?;
    let output = child.wait_with_output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}

/// Files as given, and the `.avsc` files of directories, in name order.
fn collect_inputs(inputs: &[impl AsRef<Path>]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for input in inputs {
        let input = input.as_ref();
        if input.is_dir() {
            let entries =
                std::fs::read_dir(input).map_err(|source| Error::Io { path: input.to_owned(), source })?;
            let mut found = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|source| Error::Io { path: input.to_owned(), source })?;
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "avsc") {
                    found.push(path);
                }
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(input.to_owned());
        }
    }
    if files.is_empty() {
        return Err(Error::NoInput);
    }
    Ok(files)
}
