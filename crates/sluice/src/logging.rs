//! The process log: `tracing` to stderr or to `Log_File`.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber at `level` (Fluent Bit's names).
///
/// # Errors
/// The log file cannot be opened.
pub fn init(level: &str, file: Option<&str>) -> Result<(), String> {
    let level = match level {
        "warning" => "warn",
        "off" => "off",
        other => other,
    };
    // Our own crates at the chosen level; dependencies only when warning.
    let directives = format!("warn,sluice={level},sluice_core={level},sluice_plugins={level}");
    let filter = EnvFilter::try_new(if level == "off" { "off" } else { &directives })
        .map_err(|e| format!("bad log level '{level}'; {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match file {
        Some(path) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {path}; {e}"))?;
            builder.with_ansi(false).with_writer(Mutex::new(f)).init();
        }
        None => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder.with_ansi(ansi).with_writer(std::io::stderr).init();
        }
    }
    Ok(())
}
