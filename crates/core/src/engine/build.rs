//! Turning a [`Config`] into a ready-to-run [`Engine`].

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;

use crate::config::{Config, ConfigError, PluginConfig, Section};
use crate::memory::Account;
use crate::metrics::{FilterMetrics, InputMetrics, OutputMetrics};
use crate::multiline::MultilineParsers;
use crate::parser::Parsers;
use crate::plugin::{Input, Setup};
use crate::registry::{Registry, FILTER_COMMON, INPUT_COMMON, OUTPUT_COMMON};
use crate::router::Matcher;
use crate::shutdown::Shutdown;
use crate::storage::{StorageMetrics, Store};

use super::emitter::Emitter;
use super::input::{InputContext, InputParts};
use super::limit::Ledger;
use super::log_settings::InstanceLog;
use super::output::{self, OutputRunner, OutputShared};
use super::pipeline::{FilterInstance, Pipeline};
use super::retry::RetryLimit;
use super::service::ServiceConfig;

/// An input ready to start.
pub(crate) struct InputInstance {
    pub plugin: Box<dyn Input>,
    pub ctx: InputContext,
    pub account: Arc<Account>,
}

/// Counters of every instance, by instance name, for reports and the
/// HTTP API.
#[derive(Debug, Default, Clone)]
pub struct InstanceMetrics {
    pub inputs: Vec<(Arc<str>, Arc<InputMetrics>)>,
    /// Each input's memory account (bytes held, limit, paused), in the
    /// order of `inputs`.
    pub input_memory: Vec<Arc<Account>>,
    pub filters: Vec<(Arc<str>, Arc<FilterMetrics>)>,
    pub outputs: Vec<(Arc<str>, Arc<OutputMetrics>)>,
    /// Filesystem storage's counters, when `storage.path` is set.
    pub storage: Option<Arc<StorageMetrics>>,
}

/// A built pipeline, not yet running.
pub struct Engine {
    pub(crate) service: ServiceConfig,
    pub(crate) inputs: Vec<InputInstance>,
    pub(crate) outputs: Vec<(Arc<OutputShared>, OutputRunner)>,
    /// One per filter that holds events back, in configuration order.
    pub(crate) emitters: Vec<Emitter>,
    pub(crate) shutdown: Shutdown,
    /// Triggered when this pipeline stops (see [`InputContext::stopping`]).
    pub(crate) stopping: Shutdown,
    pub(crate) metrics: InstanceMetrics,
    pub(crate) instance_logs: Vec<InstanceLog>,
    /// Filesystem storage, when `storage.path` is set.
    pub(crate) store: Option<Arc<Store>>,
    /// Whether the run delivers the chunk files an earlier run left (only
    /// the first pipeline of a process does).
    pub(crate) replay_backlog: bool,
    pub(crate) pipeline: Arc<Pipeline>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("metrics", &self.metrics)
            .finish()
    }
}

/// Hands out `name.N` instance names, counting per plugin as Fluent Bit
/// does.
#[derive(Default)]
struct Names(HashMap<String, usize>);

impl Names {
    fn next(&mut self, plugin: &str) -> String {
        let n = self.0.entry(plugin.to_owned()).or_insert(0);
        *n += 1;
        format!("{plugin}.{}", *n - 1)
    }
}

fn plugin_name(section: &Section) -> Result<String, ConfigError> {
    section
        .name()
        .map(|n| n.trim().to_ascii_lowercase())
        .ok_or_else(|| {
            ConfigError::at(
                &section.origin,
                format!("{} section has no 'name'", section.kind.as_str()),
            )
        })
}

fn unknown_plugin(section: &Section, name: &str) -> ConfigError {
    let origin = section
        .get("name")
        .map(|e| &e.origin)
        .unwrap_or(&section.origin);
    ConfigError::at(
        origin,
        format!("unknown {} plugin '{name}'", section.kind.as_str()),
    )
    .with_key("name")
}

fn matcher(cfg: &PluginConfig) -> Result<Option<Matcher>, ConfigError> {
    if let Some(re) = cfg.str("match_regex") {
        let re =
            Regex::new(re).map_err(|e| cfg.error("match_regex", format!("invalid regex; {e}")))?;
        return Ok(Some(Matcher::Regex(re)));
    }
    Ok(cfg.str("match").map(|p| Matcher::Pattern(p.to_owned())))
}

/// Gives each filter that holds events back an emitter: an input
/// context of its own, listed with the inputs in metrics.
fn emitters(
    pipeline: &Arc<Pipeline>,
    shutdown: &Shutdown,
    stopping: &Shutdown,
    store: Option<&Arc<Store>>,
    metrics: &mut InstanceMetrics,
) -> Vec<Emitter> {
    let mut emitters = Vec::new();
    for (filter, spec) in pipeline.emitters() {
        let name: Arc<str> = spec.name.as_str().into();
        if spec.on_disk && store.is_none() {
            tracing::warn!(
                emitter = %name,
                "emitter_storage.type filesystem needs storage.path in [SERVICE]; this emitter buffers in memory"
            );
        }
        let account = Account::new(Arc::clone(&name), spec.mem_buf_limit);
        let input_metrics = Arc::new(InputMetrics::default());
        metrics
            .inputs
            .push((Arc::clone(&name), Arc::clone(&input_metrics)));
        metrics.input_memory.push(Arc::clone(&account));
        let parts = InputParts {
            tag: Arc::clone(&name),
            name,
            routable: true,
            account,
            metrics: input_metrics,
            // Records the filter still holds are in memory whatever the
            // storage; once released, `emitter_storage.type` decides.
            store: store.filter(|_| spec.on_disk).cloned(),
            pause_on_overlimit: false,
            // Its events come from filters, not from a source.
            waits_for_held: false,
        };
        let ctx = InputContext::new(
            parts,
            Arc::clone(pipeline),
            shutdown.clone(),
            stopping.clone(),
        );
        emitters.push(Emitter {
            filter,
            ctx,
            pipeline: Arc::clone(pipeline),
            every: spec.check_every,
        });
    }
    emitters
}

impl Engine {
    /// Checks the configuration and builds every plugin.
    ///
    /// # Errors
    /// The first problem found, naming its file, line and key.
    pub fn build(
        config: Config,
        registry: &Registry,
        shutdown: Shutdown,
    ) -> Result<Self, ConfigError> {
        let service = ServiceConfig::from_section(&config.service)?;
        let config = Arc::new(config);
        let parsers = Parsers::build(&config.parsers, registry)?;
        let multiline = MultilineParsers::build(
            &config.multiline_parsers,
            &registry.builtin_multiline_parsers,
            &parsers,
        )?;
        let setup = Setup {
            parsers: Arc::new(parsers),
            multiline: Arc::new(multiline),
            config: Arc::clone(&config),
            shutdown: shutdown.clone(),
        };
        let store = match &service.storage {
            Some(settings) => Some(Store::open(settings.clone()).map_err(|e| {
                let message = format!(
                    "storage.path '{}' cannot be used; {e}",
                    settings.root.display()
                );
                match config.service.get("storage.path") {
                    Some(entry) => ConfigError::at(&entry.origin, message).with_key(&entry.key),
                    None => ConfigError::new(message),
                }
            })?),
            None => None,
        };
        // Numbered per kind, as Fluent Bit does: `tcp.0` can name both an
        // input and an output.
        let mut filter_names = Names::default();
        let mut output_names = Names::default();
        let mut input_names = Names::default();
        let mut metrics = InstanceMetrics {
            storage: store.as_ref().map(|s| Arc::clone(s.metrics())),
            ..InstanceMetrics::default()
        };
        let mut instance_logs = Vec::new();

        let mut filters = Vec::new();
        for section in &config.filters {
            let name = plugin_name(section)?;
            let spec = registry
                .filter(&name)
                .ok_or_else(|| unknown_plugin(section, &name))?;
            let cfg = PluginConfig::new(
                section,
                spec.name,
                filter_names.next(spec.name),
                &[FILTER_COMMON, spec.properties],
            )?;
            let matcher = matcher(&cfg)?.unwrap_or_else(|| {
                tracing::warn!(filter = %cfg.instance, "filter has no match; it applies to nothing");
                Matcher::Nothing
            });
            instance_logs.push(InstanceLog::from_config(&cfg)?);
            let filter = (spec.build)(&cfg, &setup)?;
            let instance = FilterInstance {
                name: cfg.instance.as_str().into(),
                filter,
                metrics: Arc::default(),
                span: tracing::info_span!("filter", name = %cfg.instance),
            };
            metrics
                .filters
                .push((Arc::clone(&instance.name), Arc::clone(&instance.metrics)));
            filters.push((instance, matcher));
        }

        let only_pair = config.inputs.len() == 1 && config.outputs.len() == 1;
        let mut outputs = Vec::new();
        let mut handles = Vec::new();
        for section in &config.outputs {
            let name = plugin_name(section)?;
            let spec = registry
                .output(&name)
                .ok_or_else(|| unknown_plugin(section, &name))?;
            let cfg = PluginConfig::new(
                section,
                spec.name,
                output_names.next(spec.name),
                &[OUTPUT_COMMON, spec.properties],
            )?;
            let matcher = match matcher(&cfg)? {
                Some(m) => m,
                None if only_pair => Matcher::Pattern("*".into()),
                None => {
                    tracing::warn!(output = %cfg.instance, "output has no match; it receives nothing");
                    Matcher::Nothing
                }
            };
            let retry_limit = RetryLimit::parse(cfg.str("retry_limit").unwrap_or("1"))
                .map_err(|m| cfg.error("retry_limit", m))?;
            let workers = cfg.int("workers").unwrap_or(1);
            if !(1..=256).contains(&workers) {
                return Err(cfg.error("workers", "must be between 1 and 256"));
            }
            instance_logs.push(InstanceLog::from_config(&cfg)?);
            let plugin = (spec.build)(&cfg, &setup)?;
            let shared = Arc::new(OutputShared {
                name: cfg.instance.as_str().into(),
                plugin,
                metrics: Arc::default(),
                retry_limit,
                backoff: service.backoff,
                workers: workers as usize,
                ledger: cfg
                    .size("storage.total_limit_size")
                    .filter(|&n| n > 0)
                    .map(|n| Ledger::new(usize::try_from(n).unwrap_or(usize::MAX))),
                rejected: store.clone().filter(|s| s.settings().rejected.is_some()),
            });
            metrics
                .outputs
                .push((Arc::clone(&shared.name), Arc::clone(&shared.metrics)));
            let (handle, runner) = output::queue(Arc::clone(&shared));
            handles.push((handle, matcher));
            outputs.push((shared, runner));
        }

        let pipeline = Arc::new(Pipeline::new(filters, handles));
        let stopping = Shutdown::new();
        let mut inputs = Vec::new();
        for section in &config.inputs {
            let name = plugin_name(section)?;
            let spec = registry
                .input(&name)
                .ok_or_else(|| unknown_plugin(section, &name))?;
            let cfg = PluginConfig::new(
                section,
                spec.name,
                input_names.next(spec.name),
                &[INPUT_COMMON, spec.properties],
            )?;
            let instance: Arc<str> = cfg.instance.as_str().into();
            let tag: Arc<str> = cfg
                .str("tag")
                .map(Arc::from)
                .unwrap_or_else(|| Arc::clone(&instance));
            let on_disk = check_storage_type(&cfg, store.is_some())?;
            let limit = cfg.size("mem_buf_limit").unwrap_or(0) as usize;
            let account = Account::new(Arc::clone(&instance), limit);
            let input_metrics = Arc::new(InputMetrics::default());
            metrics
                .inputs
                .push((Arc::clone(&instance), Arc::clone(&input_metrics)));
            metrics.input_memory.push(Arc::clone(&account));
            instance_logs.push(InstanceLog::from_config(&cfg)?);
            let plugin = (spec.build)(&cfg, &setup)?;
            let parts = InputParts {
                name: instance,
                tag,
                routable: cfg.bool("routable"),
                account: Arc::clone(&account),
                metrics: input_metrics,
                store: store.clone().filter(|_| on_disk),
                pause_on_overlimit: cfg.bool("storage.pause_on_chunks_overlimit"),
                waits_for_held: plugin.waits_for_held_records(),
            };
            let ctx = InputContext::new(
                parts,
                Arc::clone(&pipeline),
                shutdown.clone(),
                stopping.clone(),
            );
            inputs.push(InputInstance {
                plugin,
                ctx,
                account,
            });
        }

        let emitters = emitters(
            &pipeline,
            &shutdown,
            &stopping,
            store.as_ref(),
            &mut metrics,
        );
        Ok(Engine {
            service,
            inputs,
            outputs,
            emitters,
            shutdown,
            stopping,
            metrics,
            instance_logs,
            store,
            replay_backlog: true,
            pipeline,
        })
    }

    /// The counters of every instance.
    pub fn metrics(&self) -> &InstanceMetrics {
        &self.metrics
    }

    /// Each instance's own `log_level` and `log_suppress_interval`, for
    /// the binary's log subscriber.
    pub fn instance_logs(&self) -> &[InstanceLog] {
        &self.instance_logs
    }

    pub fn service(&self) -> &ServiceConfig {
        &self.service
    }

    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Leaves the chunk files an earlier pipeline wrote alone: a pipeline
    /// built by a hot reload runs beside the one it replaces, which still
    /// delivers them.
    pub fn skip_backlog(&mut self) {
        self.replay_backlog = false;
    }
}

/// `storage.type` must name a buffer sluice knows; says whether the
/// input's chunks go to disk.
///
/// `filesystem` without a `storage.path` buffers in memory, with a
/// warning, as Fluent Bit does: refusing it would stop such a
/// configuration from loading at all.
fn check_storage_type(cfg: &PluginConfig, have_path: bool) -> Result<bool, ConfigError> {
    match cfg
        .str("storage.type")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("memory") => Ok(false),
        Some("filesystem") if have_path => Ok(true),
        Some("filesystem") => {
            tracing::warn!(
                input = %cfg.instance,
                "storage.type filesystem needs storage.path in [SERVICE]; this input buffers in memory"
            );
            Ok(false)
        }
        Some(other) => Err(cfg.error(
            "storage.type",
            format!("'{other}' is not memory or filesystem"),
        )),
    }
}
