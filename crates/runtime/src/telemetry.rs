//! Logging: `tracing` to stderr, human-readable or JSON lines.
//!
//! `LOG_FORMAT=pretty` (default) or `json`; `RUST_LOG` filters (default `info`).

use tracing_subscriber::EnvFilter;

use crate::config::{ConfigError, Env};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for a log pipeline.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!("expected `pretty` or `json`, got {other:?}")),
        }
    }
}

/// Installs the global subscriber. Later calls (several services in one
/// process, or many tests) keep the first one.
pub fn init(env: &Env) -> Result<(), ConfigError> {
    let format = env.parse_or("LOG_FORMAT", LogFormat::Pretty)?;
    let filter = match env.get("RUST_LOG") {
        Some(directives) => EnvFilter::try_new(&directives).map_err(|e| ConfigError {
            var: "RUST_LOG".into(),
            message: e.to_string(),
        })?,
        None => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}
