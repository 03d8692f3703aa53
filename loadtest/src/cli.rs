//! Command-line flags (clap) and their translation into a `RunConfig`.
//!
//! Parse errors (unknown flag, bad duration, unknown scenario in `--weights`,
//! malformed `--threshold`) are clap errors and exit with code 2, naming the flag.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser, ValueEnum};

use crate::arrival::{parse_stages, ArrivalSpec, Stage};
use crate::error::LoadError;
use crate::executor::LoadModel;
use crate::runner::{CorpusSource, RunConfig, Target};
use crate::scenarios::Weights;
use crate::threshold::Rule;
use crate::units::parse_duration;

/// Arrival process names for `--arrival`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ArrivalKind {
    /// N virtual users loop back to back (`--concurrency` users).
    Closed,
    /// Evenly spaced arrivals at `--rate`.
    Constant,
    /// Poisson arrivals at `--rate`.
    Poisson,
    /// Bursty two-state MMPP with mean `--rate`.
    Mmpp,
    /// Piecewise-constant Poisson over `--stages`.
    Ramp,
    /// Poisson at `--rate` with a `--flash-factor` spike.
    Flash,
}

/// `--stages` value: parsed ramp stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Stages(pub Vec<Stage>);

fn stages_arg(s: &str) -> Result<Stages, String> {
    parse_stages(s).map(Stages)
}

fn weights_arg(s: &str) -> Result<Weights, String> {
    Weights::parse(s).map_err(|e| e.to_string())
}

fn rule_arg(s: &str) -> Result<Rule, String> {
    s.parse::<Rule>().map_err(|e| e.to_string())
}

/// `lakehouse-load`: load-test Lakehouse with six coordinator scenarios.
#[derive(Debug, Parser)]
#[command(name = "lakehouse-load", version, about, long_about = None)]
#[command(group(ArgGroup::new("target").required(true).args(["gateway", "embedded"])))]
pub struct Cli {
    /// Base URL of a running server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// Start the server in-process with a generated corpus.
    #[arg(long)]
    pub embedded: bool,
    /// Corpus size (embedded: loaded; gateway: generated locally to draw queries).
    #[arg(long, default_value_t = 100_000)]
    pub workers: usize,
    /// Seed for corpus, schedule, scenario choice and queries.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Load phase length (30s, 5m, 1h).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Arrival process [default: mmpp].
    #[arg(long, value_enum)]
    pub arrival: Option<ArrivalKind>,
    /// Closed: virtual users [default: 50]. Open: in-flight cap [default: 256].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Mean scenarios per second (open loop).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// MMPP: burst rate ÷ base rate.
    #[arg(long, default_value_t = 4.0)]
    pub burst_factor: f64,
    /// MMPP: fraction of time in burst.
    #[arg(long, default_value_t = 0.2)]
    pub burst_fraction: f64,
    /// MMPP: mean burst length.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub burst_mean_len: Duration,
    /// Ramp: comma-separated DURATION:RATE stages, e.g. "10s:100,20s:400,10s:100".
    #[arg(long, value_parser = stages_arg)]
    pub stages: Option<Stages>,
    /// Flash: when the spike starts.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub flash_at: Duration,
    /// Flash: how long it lasts.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub flash_len: Duration,
    /// Flash: rate multiplier during the spike.
    #[arg(long, default_value_t = 10.0)]
    pub flash_factor: f64,
    /// Scenario weights, e.g. cold_search_email=35,profile_swap=15 (unnamed = 0)
    /// [default: the seed's 35/15/15/15/10/10].
    #[arg(long, value_parser = weights_arg)]
    pub weights: Option<Weights>,
    /// Ingest writes per second; 0 = off [default: 50 embedded, 0 gateway].
    #[arg(long)]
    pub ingest_rate: Option<f64>,
    /// Fraction of ingest upserts that create new workers (the rest update base-corpus
    /// workers; ~10% of writes delete workers the ingester created). 0.5 grows a 100k
    /// corpus by ~35% of the write rate; ~0.11 keeps its size steady.
    #[arg(long, default_value_t = crate::ingest::NEW_FRACTION)]
    pub ingest_new_fraction: f64,
    /// Output directory [default: out/run-<timestamp>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Pass/fail rule, repeatable: 'p99<20ms', 'fail<0.1%', 'rate>100/s',
    /// 'cold_search_email:p95<10ms', 'freshness:p99<1s'. Violations exit with 3.
    #[arg(long = "threshold", value_name = "RULE", value_parser = rule_arg)]
    pub thresholds: Vec<Rule>,
    /// Results per unfiltered search (1..=1000).
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// How long in-flight iterations may finish after the load phase.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// How long to wait for the target to become ready.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// Stop after this many iterations (started or dropped).
    #[arg(long)]
    pub max_iterations: Option<u64>,
    /// Embedded: server data directory [default: a temporary directory].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Embedded: the server's embedder — auto (static if distilled, else MiniLM if set up,
    /// else hashing), hashing, static or minilm.
    #[arg(long, default_value = "auto", value_name = "KIND")]
    pub embedder: crate::embedded::EmbedderKind,
    /// Embedded: nice increment for the server's request threads (0: same priority as its
    /// dataflow).
    #[arg(long, default_value_t = query_api::priority::DEFAULT_REQUEST_NICE, value_parser = clap::value_parser!(i32).range(0..=19))]
    pub server_nice: i32,
    /// Embedded: searches the server runs at once (0: no limit).
    #[arg(long, default_value_t = query_api::server::DEFAULT_SEARCH_CONCURRENCY, value_name = "N")]
    pub server_search_concurrency: usize,
    /// Embedded: timely worker threads of the server's dataflow.
    #[arg(long, default_value_t = crate::embedded::ServerTuning::default().dataflow_threads, value_name = "N", value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=64), usize::from))]
    pub server_dataflow_threads: usize,
    /// Embedded: searches that read the server's indexes at once (0: no limit).
    #[arg(long, default_value_t = crate::embedded::ServerTuning::default().index_readers, value_name = "N")]
    pub server_index_readers: usize,
    /// Embedded: threads that run the server's searches (0: the server's default, 8 per
    /// core, at least 16).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub server_search_threads: usize,
    /// Embedded: how often the server's indexes merge their unmerged writes (ms; see
    /// `lakehouse serve --merge-interval-ms`).
    #[arg(long, default_value_t = crate::embedded::ServerTuning::default().merge_interval_ms, value_name = "MS")]
    pub server_merge_interval_ms: u64,
    /// Never show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

impl Cli {
    /// Builds the run configuration; errors name the offending flag.
    pub fn into_config(self) -> Result<RunConfig, LoadError> {
        let target = match (self.gateway, self.embedded) {
            (Some(url), false) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(LoadError::config("--gateway", format!("`{url}` is not an http:// URL")));
                }
                Target::Gateway { url, corpus: CorpusSource::Generate { workers: self.workers } }
            }
            (None, true) => Target::Embedded { workers: self.workers, data_dir: self.data_dir },
            // clap's required, exclusive group makes these unreachable; be explicit anyway.
            (Some(_), true) | (None, false) => {
                return Err(LoadError::config(
                    "--gateway/--embedded",
                    "give exactly one of --gateway URL or --embedded",
                ))
            }
        };
        if self.workers == 0 {
            return Err(LoadError::config("--workers", "must be at least 1"));
        }
        let kind = self.arrival.unwrap_or(ArrivalKind::Mmpp);
        if self.stages.is_some() && kind != ArrivalKind::Ramp {
            return Err(LoadError::config("--stages", "only applies with --arrival ramp"));
        }
        let arrival = match kind {
            ArrivalKind::Closed => None,
            ArrivalKind::Constant => Some(ArrivalSpec::Constant { rate: self.rate }),
            ArrivalKind::Poisson => Some(ArrivalSpec::Poisson { rate: self.rate }),
            ArrivalKind::Mmpp => Some(ArrivalSpec::Mmpp {
                rate: self.rate,
                burst_factor: self.burst_factor,
                burst_fraction: self.burst_fraction,
                burst_mean_len: self.burst_mean_len,
            }),
            ArrivalKind::Ramp => Some(ArrivalSpec::Ramp {
                stages: self.stages.ok_or_else(|| LoadError::config("--stages", "required with --arrival ramp"))?.0,
            }),
            ArrivalKind::Flash => Some(ArrivalSpec::Flash {
                rate: self.rate,
                at: self.flash_at,
                len: self.flash_len,
                factor: self.flash_factor,
            }),
        };
        let load = match arrival {
            None => LoadModel::Closed { users: self.concurrency.unwrap_or(50) },
            Some(arrival) => LoadModel::Open { arrival, max_in_flight: self.concurrency.unwrap_or(256) },
        };
        let mut config = RunConfig::new(target);
        config.load = load;
        config.embedder = self.embedder;
        config.server = crate::embedded::ServerTuning {
            nice: self.server_nice,
            search_concurrency: self.server_search_concurrency,
            dataflow_threads: self.server_dataflow_threads,
            index_readers: self.server_index_readers,
            search_threads: self.server_search_threads,
            merge_interval_ms: self.server_merge_interval_ms,
        };
        if let Some(w) = self.weights {
            config.weights = w;
        }
        if let Some(r) = self.ingest_rate {
            config.ingest_rate = r;
        }
        config.ingest_new_fraction = self.ingest_new_fraction;
        if let Some(out) = self.out {
            config.out_dir = out;
        }
        config.duration = self.duration;
        config.thresholds = self.thresholds;
        config.seed = self.seed;
        config.k = self.k;
        config.request_timeout = self.request_timeout;
        config.drain_timeout = self.drain_timeout;
        config.ready_timeout = self.ready_timeout;
        config.max_iterations = self.max_iterations;
        config.stop_on_ctrl_c = true;
        config.progress = !self.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("lakehouse-load").chain(args.iter().copied()))
    }

    #[test]
    fn embedded_defaults_are_mmpp_with_ingest() {
        let config = parse(&["--embedded"]).map(Cli::into_config);
        let Ok(Ok(c)) = config else {
            panic!("parse failed: {config:?}");
        };
        assert!(matches!(c.load, LoadModel::Open { arrival: ArrivalSpec::Mmpp { .. }, max_in_flight: 256 }));
        assert!((c.ingest_rate - 50.0).abs() < f64::EPSILON);
        assert_eq!(c.k, 10);
        assert_eq!(c.seed, 42);
    }

    #[test]
    fn usage_errors_are_clap_errors() {
        assert!(parse(&[]).is_err(), "a target is required");
        assert!(parse(&["--embedded", "--gateway", "http://x"]).is_err());
        assert!(parse(&["--embedded", "--duration", "60"]).is_err());
        assert!(parse(&["--embedded", "--weights", "bogus=1"]).is_err());
        assert!(parse(&["--embedded", "--weights", "profile_swap=0"]).is_err());
        assert!(parse(&["--embedded", "--threshold", "p99<<"]).is_err());
        let e = parse(&["--embedded", "--arrival", "warp"]).map(|_| ()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn config_errors_name_the_flag() {
        let flag = |args: &[&str]| match parse(args).map(Cli::into_config) {
            Ok(Err(LoadError::Config { flag, .. })) => flag,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(flag(&["--embedded", "--arrival", "ramp"]), "--stages");
        assert_eq!(flag(&["--embedded", "--stages", "1s:10"]), "--stages");
        assert_eq!(flag(&["--embedded", "--burst-fraction", "1.5"]), "--burst-fraction");
        assert_eq!(flag(&["--embedded", "--k", "0"]), "--k");
        assert_eq!(flag(&["--gateway", "localhost:80"]), "--gateway");
        assert_eq!(flag(&["--embedded", "--concurrency", "0"]), "--concurrency");
        assert_eq!(flag(&["--embedded", "--ingest-new-fraction", "1.5"]), "--ingest-new-fraction");
    }

    #[test]
    fn closed_and_ramp_parse() {
        let c = parse(&["--gateway", "http://127.0.0.1:1", "--arrival", "closed"]).map(Cli::into_config);
        assert!(matches!(c, Ok(Ok(RunConfig { load: LoadModel::Closed { users: 50 }, .. }))));
        let c = parse(&["--embedded", "--arrival", "ramp", "--stages", "1s:5,2s:10"]).map(Cli::into_config);
        assert!(matches!(c, Ok(Ok(RunConfig { load: LoadModel::Open { arrival: ArrivalSpec::Ramp { .. }, .. }, .. }))));
    }
}
