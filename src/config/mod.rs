//! The Logstash configuration language and sluice's settings.
//!
//! `source` reads config files (a file, a directory or a glob, in lexical order, concatenated as
//! Logstash does) into a `SourceMap`; `parser` turns the text into an `ast`; `compile` builds the
//! plugins through `args` into a runnable plan. `settings` reads sluice.yml / logstash.yml and
//! pipelines.yml; `env` substitutes `${VAR}`. Every error a person reads names file:line:column.

pub mod args;
pub mod ast;
pub mod compile;
pub mod env;
pub mod error;
pub mod parser;
pub mod settings;
pub mod source;

use error::ConfigError;
use source::SourceMap;
use std::path::{Path, PathBuf};

/// Where a pipeline's config text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `path.config` / `-f`: a file, a directory, or a glob; several may be comma-separated.
    Paths(String),
    /// `config.string` / `-e`.
    Inline(String),
}

/// Read the config files of a pipeline.
pub fn load_sources(source: &ConfigSource) -> Result<SourceMap, ConfigError> {
    match source {
        ConfigSource::Inline(text) => Ok(SourceMap::single("config string", text)),
        ConfigSource::Paths(spec) => {
            let mut files = Vec::new();
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                files.extend(expand(part)?);
            }
            let mut loaded = Vec::with_capacity(files.len());
            for f in files {
                let text = std::fs::read(&f).map_err(|e| ConfigError::new(format!("cannot read config file {}: {e}", f.display())))?;
                // A config file in another encoding is still read; bad bytes are shown as U+FFFD.
                loaded.push((f.display().to_string(), String::from_utf8_lossy(&text).into_owned()));
            }
            Ok(SourceMap::new(loaded))
        }
    }
}

/// The files one `path.config` entry names, sorted by name.
fn expand(part: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let path = Path::new(part);
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .map_err(|e| ConfigError::new(format!("cannot read config directory {part}: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect()
    } else if part.contains(['*', '?', '[']) {
        glob::glob(part)
            .map_err(|e| ConfigError::new(format!("invalid config path pattern {part}: {e}")))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect()
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return Err(ConfigError::new(format!("config file {part} does not exist")));
    };
    if files.is_empty() {
        return Err(ConfigError::new(format!("no config files found at {part}")));
    }
    files.sort();
    Ok(files)
}

/// Parse and compile a pipeline's config; errors come back rendered with file:line:col and a
/// caret under the spot, ready to print.
pub fn check(
    sources: &SourceMap,
    ctx: &compile::BuildContext,
    support_escapes: bool,
    env: &args::EnvLookup,
) -> Result<compile::Plan, Vec<String>> {
    let config = parser::parse_sources(sources, parser::ParseOptions { support_escapes })
        .map_err(|e| vec![sources.render(e.offset, &e.message)])?;
    compile::compile(&config, ctx, env).map_err(|errors| errors.iter().map(|e| render(sources, e)).collect())
}

/// One error as a person reads it.
pub fn render(sources: &SourceMap, e: &ConfigError) -> String {
    let mut text = match e.span {
        Some(span) => sources.render(span.start, &e.message),
        None => e.message.clone(),
    };
    if let Some(help) = &e.help {
        text.push_str(&format!("\n   = help: {help}"));
    }
    text
}
