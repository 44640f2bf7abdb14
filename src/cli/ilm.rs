//! `sluice ilm`: index lifecycle from the command line, for cron, systemd timers and Kubernetes
//! CronJobs.
//!
//! - `sluice ilm cleanup` deletes daily indices past a retention (`--older-than`), then the
//!   oldest while their total size is over a budget (`--max-size`), and force-merges old ones
//!   (`--force-merge-after`); it prints one line per action with its reason, and with
//!   `--dry-run` what it would do.
//! - `sluice ilm install` installs an ILM policy and the index template naming it, for clusters
//!   that have ILM.
//!
//! Exit status: 0 when everything was done, 1 when an action failed or the cluster could not be
//! reached, 2 on a usage error. The connection options are the elasticsearch output's.

use crate::config::settings::{parse_bytes, parse_duration};
use crate::ilm::cleanup::{self, Done};
use crate::ilm::cluster::Cluster;
use crate::ilm::install::{self, InstallConfig, InstallError};
use crate::ilm::{duration_option, flag_name, CleanupConfig, Connection};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct IlmArgs {
    #[command(subcommand)]
    pub command: IlmCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum IlmCommand {
    /// Delete daily indices past a retention or over a size budget; force-merge old ones.
    Cleanup(CleanupArgs),
    /// Install an ILM policy (hot, then delete) and an index template that names it.
    Install(InstallArgs),
}

/// How to reach the cluster, as the elasticsearch output's options.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Elasticsearch or OpenSearch nodes, tried in turn when one is unreachable (repeatable, or
    /// comma-separated).
    #[arg(long = "hosts", value_name = "URL", default_value = "http://localhost:9200")]
    pub hosts: Vec<String>,
    /// User for basic authentication.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Password for basic authentication (or in SLUICE_ILM_PASSWORD, out of the process list).
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// API key as Elasticsearch creates it, `id:api_key`, for https hosts only (or in
    /// SLUICE_ILM_API_KEY).
    #[arg(long = "api-key", value_name = "ID:KEY")]
    pub api_key: Option<String>,
    /// PEM file of certificate authorities to trust (repeatable).
    #[arg(long = "ca", value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// full checks the server certificate and name; none checks nothing.
    #[arg(long = "ssl-verification-mode", value_name = "MODE", default_value = "full", value_parser = ["full", "none"])]
    pub ssl_verification_mode: String,
    /// Timeout of each request (force merges wait for the merge instead).
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub timeout: String,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Index pattern: a glob with the date part the index is named by, e.g.
    /// 'logs-*-%{+YYYY.MM.dd}' (repeatable). Without a date part, the index creation date counts.
    #[arg(long = "index", value_name = "PATTERN", required = true)]
    pub index: Vec<String>,
    /// Delete indices whose newest data (the end of the day in their name) is this old: 7d, 36h.
    #[arg(long = "older-than", value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Then delete the oldest matching indices while they hold more than this (200gb); never
    /// those of the newest date.
    #[arg(long = "max-size", value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Force-merge matching indices this old to one segment per shard.
    #[arg(long = "force-merge-after", value_name = "DURATION")]
    pub force_merge_after: Option<String>,
    /// Print what would be done; change nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct InstallArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Name of the ILM policy.
    #[arg(long, value_name = "NAME", default_value = "sluice-logs")]
    pub policy: String,
    /// Delete an index this long after it was created (or rolled over): 7d.
    #[arg(long = "delete-after", value_name = "DURATION", required = true)]
    pub delete_after: String,
    /// Roll over at this primary store size (only for indices written through a rollover alias
    /// or a data stream; daily indices roll by date).
    #[arg(long = "rollover-max-size", value_name = "SIZE")]
    pub rollover_max_size: Option<String>,
    /// Roll over at this age (same caveat as --rollover-max-size).
    #[arg(long = "rollover-max-age", value_name = "DURATION")]
    pub rollover_max_age: Option<String>,
    /// Index pattern of the template (repeatable): a template per pattern.
    #[arg(long = "index-pattern", value_name = "PATTERN", default_value = "logs-*")]
    pub index_pattern: Vec<String>,
    /// Template name (one pattern only). Default sluice-<prefix>, the name the elasticsearch
    /// output gives its own template, which this one then takes the place of.
    #[arg(long = "template-name", value_name = "NAME")]
    pub template_name: Option<String>,
}

/// Run a subcommand; returns the exit status.
pub fn run(args: &IlmArgs) -> u8 {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).with_ansi(ansi).try_init();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 1;
        }
    };
    let (out, err) = (&mut std::io::stdout(), &mut std::io::stderr());
    match &args.command {
        IlmCommand::Cleanup(a) => match cleanup_config(a) {
            Ok(config) => runtime.block_on(run_cleanup(&config, out, err)),
            Err(e) => usage(err, &e),
        },
        IlmCommand::Install(a) => match install_config(a) {
            Ok((conn, config)) => runtime.block_on(run_install(&conn, &config, out, err)),
            Err(e) => usage(err, &e),
        },
    }
}

fn usage(err: &mut dyn Write, e: &str) -> u8 {
    let _ = writeln!(err, "error: {e}");
    2
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn connection(a: &ConnectionArgs) -> Result<Connection, String> {
    let timeout = parse_duration(&a.timeout, Duration::from_secs(1))
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--timeout must be a duration such as 60s, not `{}`", a.timeout))?;
    let c = Connection {
        hosts: a.hosts.clone(),
        user: a.user.clone(),
        // From the environment only where the flags leave room for it.
        password: a.password.clone().or_else(|| a.user.as_ref().and_then(|_| env("SLUICE_ILM_PASSWORD"))),
        api_key: a.api_key.clone().or_else(|| if a.user.is_none() { env("SLUICE_ILM_API_KEY") } else { None }),
        ca_files: a.ca.clone(),
        verify: a.ssl_verification_mode == "full",
        timeout,
    };
    c.resolve()?;
    Ok(c)
}

pub fn cleanup_config(a: &CleanupArgs) -> Result<CleanupConfig, String> {
    let connection = connection(&a.connection)?;
    let rules = crate::ilm::rules(&a.index, a.older_than.as_deref(), a.max_size.as_deref(), a.force_merge_after.as_deref(), &flag_name)?;
    Ok(CleanupConfig { connection, rules, dry_run: a.dry_run })
}

fn install_config(a: &InstallArgs) -> Result<(Connection, InstallConfig), String> {
    let connection = connection(&a.connection)?;
    if a.policy.is_empty() || a.policy.contains(['/', ',', '*', ' ']) {
        return Err(format!("--policy `{}` is not a valid policy name", a.policy));
    }
    if a.template_name.is_some() && a.index_pattern.len() > 1 {
        return Err("--template-name names one template; give one --index-pattern with it".into());
    }
    let size = |v: &str| parse_bytes(v).filter(|n| *n > 0).ok_or_else(|| format!("--rollover-max-size must be a size such as 50gb, not `{v}`"));
    let config = InstallConfig {
        policy: a.policy.clone(),
        delete_after: duration_option("--delete-after", &a.delete_after)?,
        rollover_max_size: a.rollover_max_size.as_deref().map(size).transpose()?,
        rollover_max_age: a.rollover_max_age.as_deref().map(|v| duration_option("--rollover-max-age", v)).transpose()?,
        index_patterns: a.index_pattern.clone(),
        template_name: a.template_name.clone(),
    };
    Ok((connection, config))
}

fn cluster(c: &Connection) -> Result<Cluster, String> {
    let (bases, client) = c.resolve()?;
    Cluster::new(bases, &client)
}

pub async fn run_cleanup(config: &CleanupConfig, out: &mut (dyn Write + Send), err: &mut dyn Write) -> u8 {
    let cluster = match cluster(&config.connection) {
        Ok(c) => c,
        Err(e) => return usage(err, &e),
    };
    let mut failures = Vec::new();
    let result = cleanup::run(&cluster, config, chrono::Utc::now(), &mut |o| {
        // Printed as each action settles: a long merge shows what came before it.
        match &o.done {
            Done::Failed(_) => failures.push(o.line()),
            _ => {
                let _ = writeln!(out, "{}", o.line());
                let _ = out.flush();
            }
        }
    })
    .await;
    for f in &failures {
        let _ = writeln!(err, "error: {f}");
    }
    match result {
        Ok(report) => {
            for k in &report.kept {
                let _ = writeln!(err, "kept {}: {}", k.index, k.why);
            }
            let _ = writeln!(err, "{}", report.summary(config.dry_run));
            u8::from(report.failed() > 0)
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}

async fn run_install(conn: &Connection, config: &InstallConfig, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let cluster = match cluster(conn) {
        Ok(c) => c,
        Err(e) => return usage(err, &e),
    };
    match install::install(&cluster, config, &mut |line| {
        let _ = writeln!(out, "{line}");
    })
    .await
    {
        Ok(()) => 0,
        Err(e @ (InstallError::NoIlm(_) | InstallError::Cluster(_))) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}
