//! `sluice -h` and `sluice -o NAME -h`: what plugins exist and what each
//! one takes, printed from the plugins' own declarations.

use std::process::ExitCode;

use sluice_core::config::{Property, SectionKind};
use sluice_core::registry::{Registry, FILTER_COMMON, INPUT_COMMON, OUTPUT_COMMON};

pub fn print_plugin_list(registry: &Registry) {
    println!("\nInputs:");
    for s in &registry.inputs {
        println!("  {:<20} {}", s.name, s.description);
    }
    println!("\nFilters:");
    for s in &registry.filters {
        println!("  {:<20} {}", s.name, s.description);
    }
    println!("\nOutputs:");
    for s in &registry.outputs {
        println!("  {:<20} {}", s.name, s.description);
    }
}

/// Prints one plugin's properties, its own first, then the common ones.
pub fn print_plugin(registry: &Registry, kind: SectionKind, name: &str) -> ExitCode {
    let found = match kind {
        SectionKind::Input => registry
            .input(name)
            .map(|s| (s.name, s.description, s.properties, INPUT_COMMON)),
        SectionKind::Filter => registry
            .filter(name)
            .map(|s| (s.name, s.description, s.properties, FILTER_COMMON)),
        SectionKind::Output => registry
            .output(name)
            .map(|s| (s.name, s.description, s.properties, OUTPUT_COMMON)),
        _ => None,
    };
    let Some((name, description, own, common)) = found else {
        eprintln!("sluice: error: unknown {} plugin '{name}'", kind.as_str());
        return ExitCode::FAILURE;
    };
    println!("{name}: {description}\n");
    println!("{:<34} {:<7} {:<20} DESCRIPTION", "KEY", "TYPE", "DEFAULT");
    for p in own {
        print_property(p);
    }
    println!("\nCommon to every {}:", kind.as_str());
    for p in common
        .iter()
        .filter(|c| !own.iter().any(|o| o.name == c.name))
    {
        print_property(p);
    }
    ExitCode::SUCCESS
}

fn print_property(p: &Property) {
    let name = if p.multiple {
        format!("{} (repeatable)", p.name)
    } else {
        p.name.to_owned()
    };
    let default = p.default.unwrap_or("-");
    println!(
        "{:<34} {:<7} {:<20} {}",
        name,
        p.kind.as_str(),
        default,
        p.description
    );
}
