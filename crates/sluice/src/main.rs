//! The `sluice` binary: reads the command line and configuration, sets up
//! logging and signals, and runs the engine.
//!
//! Everything that decides behaviour lives in `sluice-core` and the
//! plugins; this file only wires them together.

mod api;
mod cli;
mod help;
mod logging;
mod pages;
mod supervise;
mod top;

use std::process::ExitCode;
use std::sync::Arc;

use sluice_core::engine::{Engine, LogLevel, ServiceConfig};
use sluice_core::shutdown::Shutdown;

use cli::{Action, RunArgs};

fn main() -> ExitCode {
    pages::note_start_up_files();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let action = match cli::parse(&argv) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let registry = sluice_plugins::registry();
    match action {
        Action::Help => {
            print!("{}", cli::USAGE);
            help::print_plugin_list(&registry);
            ExitCode::SUCCESS
        }
        Action::Version => {
            println!("sluice v{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Action::PluginHelp(kind, name) => help::print_plugin(&registry, kind, &name),
        Action::Top(url) => match top::run(&url) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Action::Run(args) => run(*args, argv, registry),
    }
}

fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("sluice: error: {err}");
    ExitCode::FAILURE
}

fn run(args: RunArgs, argv: Vec<String>, registry: sluice_core::registry::Registry) -> ExitCode {
    let service = match ServiceConfig::from_section(&args.config.service) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let log = logging::LogSettings {
        level: args
            .log_level
            .and_then(LogLevel::parse)
            .unwrap_or(service.log_level),
        file: args.log_file.clone().or(service.log_file.clone()),
        suppress_interval: service.log_suppress_interval,
    };
    if let Err(e) = logging::init(&log) {
        return fail(&e);
    }

    raise_open_files_limit();
    let shutdown = Shutdown::new();
    let engine = match Engine::build(args.config, &registry, shutdown.clone()) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    logging::set_instances(engine.instance_logs());
    if args.dry_run {
        println!("configuration test is successful");
        return ExitCode::SUCCESS;
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime; {e}")),
    };
    let hot_reload = engine.service().hot_reload;
    let (reload_tx, reloads) = tokio::sync::mpsc::channel(1);
    let api = engine.service().http.clone().map(|http| {
        let state = api::ApiState::new(
            engine.metrics().clone(),
            api::PluginNames::of(&registry),
            engine.service().health,
            hot_reload.then(|| reload_tx.clone()),
            engine.service().storage_metrics,
        );
        (http, Arc::new(state))
    });
    let supervisor = supervise::Supervisor {
        argv,
        registry,
        shutdown: shutdown.clone(),
        reloads,
        api: api.as_ref().map(|(_, state)| Arc::clone(state)),
    };
    let report = runtime.block_on(async {
        if let Some((http, state)) = api {
            match api::bind(&http.listen, http.port).await {
                Ok(listener) => drop(tokio::spawn(api::serve(listener, state))),
                Err(e) => {
                    let addr = format!("{}:{}", http.listen, http.port);
                    return Err(format!("cannot serve the http api on {addr}; {e}"));
                }
            }
        }
        let reload = hot_reload.then_some(reload_tx);
        tokio::spawn(watch_signals(shutdown, reload));
        tokio::spawn(async {
            tokio::time::sleep(pages::START_UP).await;
            pages::release_start_up();
        });
        Ok(supervisor.run(engine).await)
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    // Flushes abandoned after Grace may still hold tasks: do not wait.
    runtime.shutdown_background();
    logging::report_pending();
    if report.undelivered_bytes > 0 {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// Lifts the soft limit on open files to the hard one: a network input
/// holds a descriptor per connection, and the usual soft limit of 1024
/// would refuse clients long before `net.max_connections`.
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(err) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %err, "cannot raise the open files limit");
        }
    }
}

/// SIGTERM or SIGINT asks for a graceful stop; a second one exits at
/// once. SIGHUP asks for a hot reload when `Hot_Reload` is on.
async fn watch_signals(shutdown: Shutdown, reload: Option<tokio::sync::mpsc::Sender<()>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop sluice with SIGKILL");
        return;
    };
    let mut stops = 0;
    loop {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {
                match &reload {
                    // A full channel means a reload is already pending.
                    Some(tx) => drop(tx.try_send(())),
                    None => tracing::warn!("SIGHUP ignored: hot_reload is off"),
                }
                continue;
            }
        }
        if stops > 0 {
            tracing::warn!("second stop signal; exiting without draining");
            std::process::exit(130);
        }
        stops += 1;
        tracing::info!("stop signal received");
        shutdown.trigger();
    }
}
