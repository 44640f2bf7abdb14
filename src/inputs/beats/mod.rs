//! The `beats` input: a Lumberjack server for Filebeat, the other Beats and Elastic's Lumberjack
//! clients, speaking protocol v2 (JSON frames) and v1 (key/value frames), plain or over TLS with
//! optional client certificates.
//!
//! # Layout
//! - `mod.rs` (here): the options, checked and turned into a `Beats` value; the accept loop.
//! - `protocol.rs`: frames on the wire — parsing, inflating under a cap, encoding ACKs.
//! - `connection.rs`: one connection — windows, chunks to the pipeline, ACKs and keep-alives.
//! - `event.rs`: a Beat's document shaped into an event as Logstash's beats input shapes it.
//! - `tls.rs`: the server's TLS configuration and what it tells about a client.
//!
//! An ACK reaches a client only once the pipeline has the events it covers (every output has
//! them, or a filter dropped them on purpose); see `connection.rs`. A client that breaks the
//! protocol loses its connection, with a warning naming it and the reason, counted in the
//! plugin's failures by reason (`protocol_error`, `frame_too_large`, `decompression_limit`,
//! `truncated_frame`, `tls_handshake_failed`); nothing else is affected. The `connections` gauge
//! counts open connections.
//!
//! Logstash's options are accepted with their names and defaults, including the older ones
//! (`ssl`, `ssl_verify_mode`, `ssl_peer_metadata`, `cipher_suites`, `tls_min_version`,
//! `tls_max_version`) mapped to the current ones. `executor_threads` and `event_loop_threads`
//! are accepted and have no effect: connections run on the runtime's threads. sluice adds three
//! limits Logstash lacks: `max_frame_bytes`, `max_window_size`, `max_window_bytes`.

mod connection;
mod event;
mod protocol;
mod tls;

use super::{BoxFuture, Input, InputContext, InputError};
use crate::codec::Codec;
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use connection::Server;
use event::Shaper;
use protocol::Limits;
use std::sync::Arc;
use std::time::Duration;
use tls::{ClientAuth, TlsOptions};
use tokio::net::TcpListener;

pub struct Beats {
    host: String,
    port: u16,
    server: Arc<Server>,
}

const ENRICH_CHOICES: &[&str] = &["source_metadata", "codec_metadata", "ssl_peer_metadata", "all", "none"];

pub fn build(args: &mut Args, ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigError> {
    let host = args.string_or("host", "0.0.0.0")?;
    let port = args.integer("port", -1, 0, 65535)?;
    if port < 0 {
        return Err(args.error("input `beats` requires the option `port`"));
    }
    let ecs = match args.choice("ecs_compatibility", &["disabled", "v1", "v8"], "")? {
        "" => ctx.ecs_compatibility != "disabled",
        v => v != "disabled",
    };
    let codec_given = args.has("codec");
    let codec = Codec::from_args(args, "plain")?;
    let _ = args.integer("executor_threads", 1, 1, 4096)?;
    let _ = args.integer("event_loop_threads", 0, 0, 4096)?;
    let add_hostname = args.bool("add_hostname", false)?;
    let inactivity = args.integer("client_inactivity_timeout", 60, 0, i64::from(u32::MAX))?;

    // enrich, and the older switches it replaced.
    let enrich_given = args.has("enrich");
    let include_codec_tag_given = args.has("include_codec_tag");
    let peer_metadata_given = args.has("ssl_peer_metadata");
    let include_codec_tag = args.bool("include_codec_tag", true)?;
    let ssl_peer_metadata = args.bool("ssl_peer_metadata", false)?;
    let enrich_span = args.span_of("enrich");
    let enrich = args.string_list("enrich")?;
    for e in &enrich {
        if !ENRICH_CHOICES.contains(&e.as_str()) {
            let err = ConfigError::at(enrich_span, format!("`{e}` is not a valid value for `enrich`; expected some of {}", ENRICH_CHOICES.join(", ")));
            return Err(match crate::config::error::did_you_mean(e, ENRICH_CHOICES.iter().copied()) {
                Some(m) => err.with_help(format!("did you mean `{m}`?")),
                None => err,
            });
        }
    }
    if enrich_given && (include_codec_tag_given || peer_metadata_given) {
        let old = if include_codec_tag_given { "include_codec_tag" } else { "ssl_peer_metadata" };
        return Err(ConfigError::at(enrich_span, format!("both `enrich` and the older `{old}` are given; use only `enrich`")));
    }
    if enrich.len() > 1 && enrich.iter().any(|e| e == "all" || e == "none") {
        return Err(ConfigError::at(enrich_span, "`all` and `none` must be the only value of `enrich`"));
    }
    let enriched = |name: &str| -> bool {
        if !enrich_given {
            return match name {
                "codec_metadata" => include_codec_tag,
                "source_metadata" => true,
                _ => ssl_peer_metadata,
            };
        }
        enrich.iter().any(|e| e == name || e == "all")
    };
    let codec_metadata = enriched("codec_metadata");
    let source_metadata = enriched("source_metadata");
    let peer_metadata = enriched("ssl_peer_metadata");
    // Logstash's plain codec keeps `[event][original]` under ECS; without codec_metadata (and
    // with no codec written out) the input falls back to a plain codec with ECS off.
    let event_original = ecs && matches!(codec, Codec::Plain { .. }) && (codec_metadata || codec_given);

    let tls = tls_options(args, ctx, peer_metadata)?;
    let limits = Limits {
        max_frame_bytes: args.integer("max_frame_bytes", 64 << 20, 1024, i64::from(u32::MAX))? as usize,
        max_window_size: args.integer("max_window_size", 100_000, 1, i64::from(u32::MAX))? as u32,
        max_window_bytes: args.integer("max_window_bytes", 256 << 20, 1024, i64::MAX)? as usize,
    };

    // The input's own tags, when they need no event to render: see `Shaper::static_tags`.
    let static_tags = args
        .string_list("tags")?
        .into_iter()
        .filter(|t| !t.contains("%{"))
        .collect();

    let built_tls = match tls {
        None => None,
        Some(o) => {
            let (t, warnings) = tls::build(&o)?;
            for w in warnings {
                ctx.warn(w);
            }
            Some(t)
        }
    };
    let shaper = Shaper::new(
        codec,
        codec_metadata,
        event_original,
        add_hostname,
        source_metadata,
        peer_metadata && built_tls.as_ref().is_some_and(|t| t.client_auth != ClientAuth::None),
        ecs,
        static_tags,
    );
    let server = Server {
        shaper,
        limits,
        tls: built_tls,
        inactivity: (inactivity > 0).then(|| Duration::from_secs(inactivity as u64)),
        keepalive: connection::KEEPALIVE_INTERVAL,
    };
    Ok(Box::new(Beats { host, port: port as u16, server: Arc::new(server) }))
}

/// The `ssl_*` options (and their older names), checked as Logstash checks them.
fn tls_options(args: &mut Args, ctx: &BuildContext, peer_metadata: bool) -> Result<Option<TlsOptions>, ConfigError> {
    if args.has("ssl") && args.has("ssl_enabled") {
        return Err(ConfigError::at(args.span_of("ssl"), "both `ssl` and `ssl_enabled` are given; use only `ssl_enabled`"));
    }
    let enabled = if args.has("ssl") { args.bool("ssl", false)? } else { args.bool("ssl_enabled", false)? };

    if args.has("ssl_verify_mode") && args.has("ssl_client_authentication") {
        return Err(ConfigError::at(
            args.span_of("ssl_verify_mode"),
            "both `ssl_verify_mode` and `ssl_client_authentication` are given; use only `ssl_client_authentication`",
        ));
    }
    let auth_given = args.has("ssl_verify_mode") || args.has("ssl_client_authentication");
    let auth_span = if args.has("ssl_verify_mode") { args.span_of("ssl_verify_mode") } else { args.span_of("ssl_client_authentication") };
    let mut client_auth = match args.choice("ssl_verify_mode", &["none", "peer", "force_peer"], "")? {
        "peer" => ClientAuth::Optional,
        "force_peer" => ClientAuth::Required,
        "none" => ClientAuth::None,
        _ => match args.choice("ssl_client_authentication", &["none", "optional", "required"], "none")? {
            "optional" => ClientAuth::Optional,
            "required" => ClientAuth::Required,
            _ => ClientAuth::None,
        },
    };
    let certificate = args.string("ssl_certificate")?;
    let key = args.string("ssl_key")?;
    let key_passphrase = args.string("ssl_key_passphrase")?;
    let cas_span = args.span_of("ssl_certificate_authorities");
    let certificate_authorities = args.string_list("ssl_certificate_authorities")?;
    let handshake_ms = args.integer("ssl_handshake_timeout", 10_000, 1, i64::from(u32::MAX))?;

    let (protocols, protocols_span) = if args.has("tls_min_version") || args.has("tls_max_version") {
        if args.has("ssl_supported_protocols") {
            return Err(ConfigError::at(
                args.span_of("tls_min_version"),
                "`tls_min_version`/`tls_max_version` and `ssl_supported_protocols` are both given; use only `ssl_supported_protocols`",
            ));
        }
        let span = args.span_of(if args.has("tls_min_version") { "tls_min_version" } else { "tls_max_version" });
        let min = args.number("tls_min_version")?.unwrap_or(1.2);
        let max = args.number("tls_max_version")?.unwrap_or(1.3);
        let all = [(1.0, "TLSv1"), (1.1, "TLSv1.1"), (1.2, "TLSv1.2"), (1.3, "TLSv1.3")];
        let list = all.iter().filter(|(v, _)| *v >= min - 1e-9 && *v <= max + 1e-9).map(|(_, n)| n.to_string()).collect();
        (list, span)
    } else {
        let span = args.span_of("ssl_supported_protocols");
        let list = args.string_list("ssl_supported_protocols")?;
        (if list.is_empty() { vec!["TLSv1.2".to_string(), "TLSv1.3".to_string()] } else { list }, span)
    };
    if args.has("cipher_suites") && args.has("ssl_cipher_suites") {
        return Err(ConfigError::at(args.span_of("cipher_suites"), "both `cipher_suites` and `ssl_cipher_suites` are given; use only `ssl_cipher_suites`"));
    }
    let suites_name = if args.has("cipher_suites") { "cipher_suites" } else { "ssl_cipher_suites" };
    let cipher_suites_span = args.span_of(suites_name);
    let cipher_suites = if suites_name == "cipher_suites" { args.string_list("cipher_suites")? } else { args.string_list("ssl_cipher_suites")? };

    for (old, new) in [
        ("ssl", "ssl_enabled"),
        ("ssl_verify_mode", "ssl_client_authentication"),
        ("ssl_peer_metadata", "enrich"),
        ("cipher_suites", "ssl_cipher_suites"),
        ("tls_min_version", "ssl_supported_protocols"),
        ("tls_max_version", "ssl_supported_protocols"),
    ] {
        if args.has(old) {
            ctx.warn(ConfigError::at(args.span_of(old), format!("`{old}` is the older name of `{new}`; it still works")));
        }
    }

    if !enabled {
        let unused: Vec<&str> = ["ssl_certificate", "ssl_key", "ssl_key_passphrase", "ssl_certificate_authorities", "ssl_client_authentication", "ssl_verify_mode"]
            .into_iter()
            .filter(|o| args.has(o))
            .collect();
        if let Some(first) = unused.first() {
            ctx.warn(ConfigError::at(args.span_of(first), format!("TLS options are not used while `ssl_enabled` is false: {}", unused.join(", "))));
        }
        return Ok(None);
    }

    let Some(key) = key else {
        return Err(args.error("`ssl_key` is required when `ssl_enabled => true`"));
    };
    let Some(certificate) = certificate else {
        return Err(args.error("`ssl_certificate` is required when `ssl_enabled => true`"));
    };
    if !auth_given && !certificate_authorities.is_empty() {
        // Logstash: authorities without an explicit mode mean clients must present a certificate.
        client_auth = ClientAuth::Required;
    }
    if client_auth != ClientAuth::None && certificate_authorities.is_empty() {
        return Err(ConfigError::at(auth_span, "client authentication needs `ssl_certificate_authorities` to verify client certificates"));
    }
    if auth_given && client_auth == ClientAuth::None && !certificate_authorities.is_empty() {
        return Err(ConfigError::at(
            cas_span,
            "`ssl_certificate_authorities` needs `ssl_client_authentication => optional` or `required`",
        ));
    }
    if peer_metadata && client_auth == ClientAuth::None {
        return Err(args.error("the `ssl_peer_metadata` enrichment needs `ssl_client_authentication => optional` or `required`"));
    }
    let key_span = args.span_of("ssl_key");
    let cert_span = args.span_of("ssl_certificate");
    Ok(Some(TlsOptions {
        certificate: (certificate, cert_span),
        key: (key, key_span),
        key_passphrase,
        certificate_authorities,
        certificate_authorities_span: cas_span,
        client_auth,
        protocols,
        protocols_span,
        cipher_suites,
        cipher_suites_span,
        handshake_timeout: Duration::from_millis(handshake_ms as u64),
    }))
}

impl Input for Beats {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), InputError>> {
        Box::pin(async move {
            let InputContext { sink, shutdown, metrics } = ctx;
            let listener = match super::retry_bind("beats input", &self.host, self.port, &shutdown, || TcpListener::bind((self.host.as_str(), self.port))).await {
                Some(l) => l,
                None => return Ok(()),
            };
            tracing::info!(
                address = %listener.local_addr()?,
                tls = self.server.tls.is_some(),
                plugin_id = %metrics.id,
                "beats input listening."
            );
            // The closure owns the sink: once accepting stops it goes, and connections stop
            // reading while they still acknowledge what the pipeline delivers.
            let server = self.server.clone();
            let (conn_metrics, conn_shutdown) = (metrics.clone(), shutdown.clone());
            super::serve_connections("beats input", listener, &metrics, &shutdown, move |stream, peer| {
                connection::serve(server.clone(), sink.clone(), conn_metrics.clone(), conn_shutdown.clone(), stream, peer)
            })
            .await;
            Ok(())
        })
    }
}

