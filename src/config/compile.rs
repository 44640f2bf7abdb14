//! From the syntax tree to a runnable plan.
//!
//! Each plugin block is looked up in its kind's registry and built through `Args`, which checks
//! option names and types; conditions are compiled with their regexes; the filter and output
//! sections become trees of plugin indices and branches. Every error found is collected, each
//! with the span it is about, so `-t` reports all problems of a config in one run.

use super::args::{Args, EnvLookup};
use super::ast::{self, PluginKind, Statement};
use super::error::{did_you_mean, ConfigError};
use crate::filters::{Filter, FILTERS};
use crate::inputs::{Input, INPUTS};
use crate::metrics::{PipelineMetrics, PluginMetrics};
use crate::outputs::{Output, OUTPUTS};
use crate::pipeline::condition::Condition;
use crate::pipeline::decorate::Decorations;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;

/// What a plugin builder may need to know about where it runs.
pub struct BuildContext {
    pub pipeline_id: String,
    pub path_data: PathBuf,
    /// `pipeline.ecs_compatibility`: `disabled`, `v1` or `v8`.
    pub ecs_compatibility: String,
    /// Things `-t` should say without failing (a missing optional database...).
    pub warnings: Mutex<Vec<ConfigError>>,
    /// `geoip.database.path`: the City database geoip filters use when they name none.
    pub geoip_database: Option<PathBuf>,
    /// `dead_letter_queue.*`: where outputs put the events they reject for good.
    pub dead_letter_queue: crate::queue::dlq::DlqSettings,
}

impl BuildContext {
    pub fn new(pipeline_id: &str, path_data: PathBuf) -> BuildContext {
        BuildContext {
            pipeline_id: pipeline_id.to_string(),
            path_data,
            ecs_compatibility: "disabled".to_string(),
            warnings: Mutex::new(Vec::new()),
            geoip_database: None,
            dead_letter_queue: crate::queue::dlq::DlqSettings::default(),
        }
    }

    pub fn warn(&self, w: ConfigError) {
        self.warnings.lock().push(w);
    }
}

pub struct InputInstance {
    pub input: Box<dyn Input>,
    pub decorations: Arc<Decorations>,
    pub metrics: Arc<PluginMetrics>,
}

pub struct FilterInstance {
    pub filter: Box<dyn Filter>,
    pub decorations: Decorations,
    pub metrics: Arc<PluginMetrics>,
}

pub struct OutputInstance {
    pub output: Box<dyn Output>,
    pub metrics: Arc<PluginMetrics>,
}

/// A section body: plugins (by index into the plan's list) and branches, in order.
#[derive(Debug)]
pub enum Node {
    Plugin(usize),
    Branch { cases: Vec<(Condition, Vec<Node>)>, otherwise: Vec<Node> },
}

pub struct Plan {
    pub inputs: Vec<InputInstance>,
    pub filters: Vec<FilterInstance>,
    pub filter_tree: Vec<Node>,
    pub outputs: Vec<OutputInstance>,
    pub output_tree: Vec<Node>,
    pub metrics: Arc<PipelineMetrics>,
    pub warnings: Vec<ConfigError>,
}

pub fn compile(config: &ast::Config, ctx: &BuildContext, env: &EnvLookup) -> Result<Plan, Vec<ConfigError>> {
    let mut c = Compiler {
        ctx,
        env,
        errors: Vec::new(),
        ids: Vec::new(),
        counters: [0; 3],
        metrics: PipelineMetrics::new(&ctx.pipeline_id),
        inputs: Vec::new(),
        filters: Vec::new(),
        outputs: Vec::new(),
    };
    let mut filter_tree = Vec::new();
    let mut output_tree = Vec::new();
    for section in &config.sections {
        match section.kind {
            PluginKind::Input => {
                for stmt in &section.body {
                    match stmt {
                        Statement::Plugin(p) => c.input(p),
                        Statement::Branch(b) => c.errors.push(ConfigError::at(
                            b.span,
                            "conditionals are not allowed in the input section; put them in filter or output",
                        )),
                    }
                }
            }
            PluginKind::Filter => {
                let nodes = c.body(&section.body, PluginKind::Filter);
                filter_tree.extend(nodes);
            }
            PluginKind::Output => {
                let nodes = c.body(&section.body, PluginKind::Output);
                output_tree.extend(nodes);
            }
        }
    }
    if c.inputs.is_empty() && c.errors.is_empty() {
        c.errors.push(ConfigError::new("the pipeline has no input; add an input section, such as input { stdin {} }"));
    }
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(Plan {
        inputs: c.inputs,
        filters: c.filters,
        filter_tree,
        outputs: c.outputs,
        output_tree,
        metrics: c.metrics,
        warnings: std::mem::take(&mut *ctx.warnings.lock()),
    })
}

struct Compiler<'a> {
    ctx: &'a BuildContext,
    env: &'a EnvLookup,
    errors: Vec<ConfigError>,
    ids: Vec<String>,
    counters: [usize; 3],
    metrics: Arc<PipelineMetrics>,
    inputs: Vec<InputInstance>,
    filters: Vec<FilterInstance>,
    outputs: Vec<OutputInstance>,
}

impl Compiler<'_> {
    fn body(&mut self, body: &[Statement], kind: PluginKind) -> Vec<Node> {
        let mut nodes = Vec::new();
        for stmt in body {
            match stmt {
                Statement::Plugin(p) => {
                    let index = match kind {
                        PluginKind::Filter => self.filter(p),
                        _ => self.output(p),
                    };
                    if let Some(i) = index {
                        nodes.push(Node::Plugin(i));
                    }
                }
                Statement::Branch(b) => {
                    let mut cases = Vec::new();
                    for (cond, stmts) in &b.cases {
                        let compiled = Condition::compile(cond);
                        let inner = self.body(stmts, kind);
                        match compiled {
                            Ok(c) => cases.push((c, inner)),
                            Err(e) => self.errors.push(e),
                        }
                    }
                    let otherwise = b.otherwise.as_ref().map(|s| self.body(s, kind)).unwrap_or_default();
                    nodes.push(Node::Branch { cases, otherwise });
                }
            }
        }
        nodes
    }

    /// The plugin's id: its `id` option, unique in the pipeline, or `<name>_<n>`.
    fn id(&mut self, args: &mut Args, kind: usize, name: &str) -> String {
        let span = args.span_of("id");
        let id = match args.string("id") {
            Ok(Some(id)) => id,
            Ok(None) => {
                self.counters[kind] += 1;
                format!("{name}_{}", self.counters[kind])
            }
            Err(e) => {
                self.errors.push(e);
                String::new()
            }
        };
        if self.ids.contains(&id) {
            self.errors.push(ConfigError::at(span, format!("plugin id `{id}` is used twice in this pipeline")));
        }
        self.ids.push(id.clone());
        if let Err(e) = args.bool("enable_metric", true) {
            self.errors.push(e);
        }
        id
    }

    fn unknown_plugin(&mut self, p: &ast::Plugin, kind: &str, known: Vec<&'static str>) {
        let err = ConfigError::at(p.name_span, format!("unknown {kind} plugin `{}`", p.name));
        let err = match did_you_mean(&p.name, known.iter().copied()) {
            Some(m) => err.with_help(format!("did you mean `{m}`?")),
            None => err.with_help(format!("available {kind} plugins: {}", known.join(", "))),
        };
        self.errors.push(err);
    }

    fn finish(&mut self, args: &Args) {
        self.errors.extend(args.unknown());
    }

    fn input(&mut self, p: &ast::Plugin) {
        let Some(plugin) = INPUTS.iter().find(|i| i.name == p.name) else {
            return self.unknown_plugin(p, "input", INPUTS.iter().map(|i| i.name).collect());
        };
        let mut args = Args::new("input", p, self.env);
        let id = self.id(&mut args, 0, plugin.name);
        let built = Decorations::for_input(&mut args).and_then(|d| Ok((d, (plugin.build)(&mut args, self.ctx)?)));
        self.finish(&args);
        match built {
            Ok((decorations, input)) => {
                let metrics = self.metrics.plugin(id, "input", plugin.name);
                self.inputs.push(InputInstance { input, decorations: Arc::new(decorations), metrics });
            }
            Err(e) => self.errors.push(e),
        }
    }

    fn filter(&mut self, p: &ast::Plugin) -> Option<usize> {
        let Some(plugin) = FILTERS.iter().find(|i| i.name == p.name) else {
            self.unknown_plugin(p, "filter", FILTERS.iter().map(|i| i.name).collect());
            return None;
        };
        let mut args = Args::new("filter", p, self.env);
        let id = self.id(&mut args, 1, plugin.name);
        let _ = args.bool("periodic_flush", false);
        let built = Decorations::for_filter(&mut args).and_then(|d| Ok((d, (plugin.build)(&mut args, self.ctx)?)));
        self.finish(&args);
        match built {
            Ok((decorations, filter)) => {
                let metrics = self.metrics.plugin(id, "filter", plugin.name);
                self.filters.push(FilterInstance { filter, decorations, metrics });
                Some(self.filters.len() - 1)
            }
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    fn output(&mut self, p: &ast::Plugin) -> Option<usize> {
        let Some(plugin) = OUTPUTS.iter().find(|i| i.name == p.name) else {
            self.unknown_plugin(p, "output", OUTPUTS.iter().map(|i| i.name).collect());
            return None;
        };
        let mut args = Args::new("output", p, self.env);
        let id = self.id(&mut args, 2, plugin.name);
        let built = (plugin.build)(&mut args, self.ctx);
        self.finish(&args);
        match built {
            Ok(output) => {
                let metrics = self.metrics.plugin(id, "output", plugin.name);
                output.bind(&metrics);
                self.outputs.push(OutputInstance { output, metrics });
                Some(self.outputs.len() - 1)
            }
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }
}
