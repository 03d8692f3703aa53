//! `lakehouse-load`: parses flags, runs the library, prints the table and JSON, sets the exit code.
//!
//! Exit codes: 0 ok, 1 other errors, 2 usage/config errors, 3 thresholds violated.
//! Stdout gets the human table; stderr gets exactly one JSON object (the summary, or
//! `{"error": ...}`), which CI parses. Logs go to stderr only when `RUST_LOG` is set,
//! so they cannot break that contract by default.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use loadtest::cli::Cli;
use loadtest::report::table;

// The harness allocates per request; mimalloc keeps the client from being the bottleneck.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_tracing() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    }
}

fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let cli = Cli::parse();
    init_tracing();
    let config = match cli.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}", error_json(&e.to_string()));
            return ExitCode::from(e.exit_code());
        }
    };
    match run(config) {
        Ok(code) => code,
        Err(e) => {
            let code = e.downcast_ref::<loadtest::LoadError>().map_or(1, loadtest::LoadError::exit_code);
            eprintln!("{}", error_json(&format!("{e:#}")));
            ExitCode::from(code)
        }
    }
}

fn run(config: loadtest::RunConfig) -> anyhow::Result<ExitCode> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")?;
    let report = runtime.block_on(loadtest::run(config))?;
    print!("{}", table::render(&report.summary));
    eprintln!("{}", serde_json::to_string(&report.summary).context("encoding the summary")?);
    // The table above already lists each violated threshold.
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
