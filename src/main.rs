//! The `sluice` command. Logstash's flags work unchanged (`-f`, `-e`, `-t`, `-w`, `-b`, `-u`,
//! `-r`, `--path.settings`, `--path.data`, `--log.level`), so a unit file or Dockerfile that ran
//! logstash runs sluice with only the binary's name changed; subcommands add what Logstash lacks.

use clap::{Args, Parser, Subcommand};
use sluice::config::settings::{self, Settings};
use sluice::config::ConfigSource;
use sluice::pipeline::manager::{LoadedSpec, Manager, PipelineSpec};
use sluice::pipeline::PipelineSettings;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Events are built on I/O threads and freed on worker threads; glibc's allocator serialises
/// those cross-thread frees on arena locks (measured: a third of the CPU), mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "sluice", version, about = "Runs Logstash pipeline configs: inputs, filters, outputs.")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run pipelines (the default when no subcommand is given).
    Run(RunArgs),
    /// Check the configuration and exit (same as -t).
    Check(RunArgs),
    /// Debug a grok expression against lines (files or stdin), or list the pattern library.
    Grok(sluice::cli::grok::GrokArgs),
    /// Index lifecycle: delete old daily indices, or install an ILM policy.
    Ilm(sluice::cli::ilm::IlmArgs),
    /// Print the version.
    Version,
}

#[derive(Args, Debug, Clone, Default)]
struct RunArgs {
    /// Pipeline config: a file, a directory or a glob (conf.d/*.conf).
    #[arg(short = 'f', long = "path.config", value_name = "PATH")]
    path_config: Option<String>,
    /// Pipeline config given as a string.
    #[arg(short = 'e', long = "config.string", value_name = "CONFIG")]
    config_string: Option<String>,
    /// Check the configuration and exit: 0 when valid, 1 with the errors otherwise.
    #[arg(short = 't', long = "config.test_and_exit")]
    test: bool,
    /// Worker threads per pipeline (default: number of cores).
    #[arg(short = 'w', long = "pipeline.workers", value_name = "N")]
    workers: Option<usize>,
    /// Events per batch.
    #[arg(short = 'b', long = "pipeline.batch.size", value_name = "N")]
    batch_size: Option<usize>,
    /// Milliseconds to wait for a batch to fill.
    #[arg(short = 'u', long = "pipeline.batch.delay", value_name = "MS")]
    batch_delay: Option<u64>,
    /// Reload configs when they change (and on SIGHUP, which always reloads).
    #[arg(short = 'r', long = "config.reload.automatic")]
    reload: bool,
    /// How often to look for config changes with -r (e.g. 3s).
    #[arg(long = "config.reload.interval", value_name = "DURATION")]
    reload_interval: Option<String>,
    /// Directory holding sluice.yml (or logstash.yml) and pipelines.yml.
    #[arg(long = "path.settings", value_name = "DIR")]
    path_settings: Option<PathBuf>,
    /// Directory for state: queues, dead letter queue, checkpoints.
    #[arg(long = "path.data", value_name = "DIR")]
    path_data: Option<PathBuf>,
    /// Accepted for compatibility; sluice logs to standard error.
    #[arg(short = 'l', long = "path.logs", value_name = "DIR")]
    path_logs: Option<PathBuf>,
    /// fatal, error, warn, info, debug or trace.
    #[arg(long = "log.level", value_name = "LEVEL")]
    log_level: Option<String>,
    /// plain or json.
    #[arg(long = "log.format", value_name = "FORMAT")]
    log_format: Option<String>,
    /// Pipeline id when running a single pipeline from -f / -e.
    #[arg(long = "pipeline.id", value_name = "ID")]
    pipeline_id: Option<String>,
    /// Process escape sequences (\n, \t, \", \\) in quoted config strings.
    #[arg(long = "config.support_escapes")]
    support_escapes: bool,
    /// Name of this node in the monitoring API.
    #[arg(short = 'n', long = "node.name", value_name = "NAME")]
    node_name: Option<String>,
    /// Host for the HTTP API.
    #[arg(long = "api.http.host", value_name = "HOST")]
    api_host: Option<String>,
    /// Port for the HTTP API.
    #[arg(long = "api.http.port", value_name = "PORT")]
    api_port: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Version) => {
            println!("sluice {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(Command::Check(mut a)) => {
            a.test = true;
            run(a)
        }
        Some(Command::Run(a)) => run(a),
        Some(Command::Grok(a)) => {
            let stdin = std::io::stdin();
            let code = sluice::cli::grok::run(&a, &mut stdin.lock(), &mut std::io::stdout().lock(), &mut std::io::stderr());
            ExitCode::from(code)
        }
        Some(Command::Ilm(a)) => ExitCode::from(sluice::cli::ilm::run(&a)),
        None => run(cli.run),
    }
}

fn env_lookup(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn init_logging(level: &str, format: &str) {
    let level = match level {
        "fatal" => "error",
        other => other,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("sluice={level},{level}")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).with_ansi(ansi);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Settings from the settings directory (sluice.yml, or logstash.yml when migrating as-is).
fn load_settings(dir: Option<&Path>) -> Result<Settings, String> {
    let Some(dir) = dir else { return Ok(Settings::default()) };
    for name in ["sluice.yml", "logstash.yml"] {
        let p = dir.join(name);
        if p.exists() {
            return Settings::load(&p, &env_lookup).map_err(|e| e.to_string());
        }
    }
    Ok(Settings::default())
}

/// The pipelines to run: -f/-e if given, else pipelines.yml, else path.config in the settings.
fn specs(args: &RunArgs) -> Result<Vec<PipelineSpec>, String> {
    let dir = args.path_settings.clone().or_else(settings::default_settings_dir);
    let mut base = load_settings(dir.as_deref())?;
    // Command-line flags override the file.
    if let Some(d) = &args.path_data {
        base.set("path.data", d.display().to_string());
    }
    if let Some(w) = args.workers {
        base.set("pipeline.workers", w.to_string());
    }
    if let Some(b) = args.batch_size {
        base.set("pipeline.batch.size", b.to_string());
    }
    if let Some(u) = args.batch_delay {
        base.set("pipeline.batch.delay", u.to_string());
    }
    if args.support_escapes {
        base.set("config.support_escapes", "true");
    }
    let flag_source = match (&args.path_config, &args.config_string) {
        (Some(_), Some(_)) => return Err("give either -f (path.config) or -e (config.string), not both".into()),
        (Some(p), None) => Some(ConfigSource::Paths(p.clone())),
        (None, Some(s)) => Some(ConfigSource::Inline(s.clone())),
        (None, None) => None,
    };
    let pipelines_yml = dir.as_ref().map(|d| d.join("pipelines.yml")).filter(|p| p.exists());
    let entries: Vec<(Settings, ConfigSource)> = match (flag_source, pipelines_yml) {
        (Some(src), yml) => {
            if let Some(yml) = yml {
                tracing::warn!(path = %yml.display(), "Ignoring pipelines.yml because a config was given with -f or -e.");
            }
            let mut s = base.clone();
            s.set("pipeline.id", args.pipeline_id.clone().unwrap_or_else(|| base.get("pipeline.id").unwrap_or("main").to_string()));
            vec![(s, src)]
        }
        (None, Some(yml)) => settings::load_pipelines(&yml, &env_lookup)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|p| {
                let merged = base.merged(&p);
                let src = match (merged.get("config.string").filter(|_| p.get("path.config").is_none()), merged.get("path.config")) {
                    (Some(s), _) => ConfigSource::Inline(s.to_string()),
                    (None, Some(path)) => ConfigSource::Paths(path.to_string()),
                    (None, None) => ConfigSource::Inline(String::new()),
                };
                (merged, src)
            })
            .collect(),
        (None, None) => {
            let src = match (base.get("path.config"), base.get("config.string")) {
                (Some(p), _) => ConfigSource::Paths(p.to_string()),
                (None, Some(s)) => ConfigSource::Inline(s.to_string()),
                (None, None) => {
                    return Err("no pipeline configuration: give -f PATH or -e CONFIG, or a pipelines.yml in --path.settings".into())
                }
            };
            let mut s = base.clone();
            if s.get("pipeline.id").is_none() {
                s.set("pipeline.id", "main");
            }
            vec![(s, src)]
        }
    };
    entries.into_iter().map(|(s, src)| spec_from(&s, src)).collect()
}

fn spec_from(s: &Settings, source: ConfigSource) -> Result<PipelineSpec, String> {
    let e = |e: settings::SettingsError| e.to_string();
    let id = s.get("pipeline.id").unwrap_or("main");
    let mut ps = PipelineSettings::new(id);
    if let Some(w) = s.usize("pipeline.workers").map_err(e)? {
        ps.workers = w.max(1);
    }
    if let Some(b) = s.usize("pipeline.batch.size").map_err(e)? {
        ps.batch_size = b.max(1);
    }
    if let Some(d) = s.duration("pipeline.batch.delay", Duration::from_millis(1)).map_err(e)? {
        ps.batch_delay = d;
    }
    if let Some(m) = s.usize("queue.max_events").map_err(e)? {
        ps.queue_max_events = m;
    }
    match s.get("queue.type").unwrap_or("memory") {
        "memory" => {}
        "persisted" => {
            return Err(format!(
                "pipeline `{id}`: queue.type persisted is not available yet in this version of sluice; use memory"
            ))
        }
        other => return Err(format!("pipeline `{id}`: queue.type must be memory or persisted, not `{other}`")),
    }
    let ecs = s.get("pipeline.ecs_compatibility").unwrap_or("disabled").to_string();
    if !["disabled", "v1", "v8"].contains(&ecs.as_str()) {
        return Err(format!("pipeline `{id}`: pipeline.ecs_compatibility must be disabled, v1 or v8, not `{ecs}`"));
    }
    Ok(PipelineSpec {
        settings: ps,
        source,
        support_escapes: s.bool("config.support_escapes").map_err(e)?.unwrap_or(false),
        path_data: PathBuf::from(s.get("path.data").unwrap_or("data")),
        ecs_compatibility: ecs,
        geoip_database: s.get("geoip.database.path").filter(|p| !p.is_empty()).map(PathBuf::from),
        dead_letter_queue: sluice::queue::dlq::DlqSettings::from_settings(s).map_err(|e| format!("pipeline `{id}`: {e}"))?,
    })
}

/// The HTTP API settings, or `None` when `api.enabled: false`.
fn api_settings(args: &RunArgs, s: &Settings) -> Result<Option<sluice::metrics::api::ApiSettings>, String> {
    if s.bool("api.enabled").map_err(|e| e.to_string())? == Some(false) {
        return Ok(None);
    }
    let host = args.api_host.clone().or_else(|| s.get("api.http.host").or(s.get("http.host")).map(String::from)).unwrap_or_else(|| "127.0.0.1".into());
    let port_spec = args.api_port.clone().or_else(|| s.get("api.http.port").or(s.get("http.port")).map(String::from)).unwrap_or_else(|| "9600-9700".into());
    let ports = sluice::metrics::api::parse_ports(&port_spec).ok_or_else(|| format!("api.http.port must be a port or a range like 9600-9700, not `{port_spec}`"))?;
    let node_name = args.node_name.clone().or_else(|| s.get("node.name").map(String::from)).unwrap_or_else(|| sluice::util::hostname().to_string());
    Ok(Some(sluice::metrics::api::ApiSettings { host, ports, node_name }))
}

fn run(args: RunArgs) -> ExitCode {
    let dir = args.path_settings.clone().or_else(settings::default_settings_dir);
    let file_settings = load_settings(dir.as_deref()).unwrap_or_default();
    let level = args.log_level.clone().or_else(|| file_settings.get("log.level").map(String::from)).unwrap_or_else(|| "info".into());
    let format = args.log_format.clone().or_else(|| file_settings.get("log.format").map(String::from)).unwrap_or_else(|| "plain".into());
    init_logging(&level, &format);

    let specs_now = match specs(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut loaded = Vec::new();
    let mut failed = false;
    for spec in specs_now {
        match LoadedSpec::load(spec) {
            Ok(l) => loaded.push(l),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return ExitCode::from(1);
    }
    let ilm_cleanup = match sluice::ilm::schedule::CleanupJob::from_settings(&file_settings) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if args.test {
        for l in &loaded {
            match l.compile() {
                Ok(plan) => {
                    for w in l.render_warnings(&plan) {
                        eprintln!("warning: {w}");
                    }
                }
                Err(errors) => {
                    for e in errors {
                        eprintln!("error: {e}\n");
                    }
                    failed = true;
                }
            }
        }
        if failed {
            return ExitCode::from(1);
        }
        println!("Configuration OK");
        return ExitCode::SUCCESS;
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("sluice-io").build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let reload = (args.reload || file_settings.bool("config.reload.automatic").ok().flatten().unwrap_or(false)).then(|| {
        args.reload_interval
            .as_deref()
            .or(file_settings.get("config.reload.interval"))
            .and_then(|v| settings::parse_duration(v, Duration::from_secs(1)))
            .unwrap_or(Duration::from_secs(3))
    });
    let api = match api_settings(&args, &file_settings) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async move {
        let reload_args = args.clone();
        let mut manager = Manager::new(Box::new(move || specs(&reload_args)), reload).with_ilm_cleanup(ilm_cleanup);
        if let Err(errors) = manager.start(loaded) {
            for e in errors {
                eprintln!("error: {e}\n");
            }
            return ExitCode::from(1);
        }
        let api_stop = tokio_util::sync::CancellationToken::new();
        if let Some(api) = api {
            if let Err(e) = sluice::metrics::api::serve(api, api_stop.clone()).await {
                tracing::error!(error = %e, "Cannot start the HTTP API; pipelines keep running without it.");
            }
        }
        manager.run().await;
        api_stop.cancel();
        ExitCode::SUCCESS
    });
    // Inputs blocked in a read (stdin) must not hold the process open.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}
