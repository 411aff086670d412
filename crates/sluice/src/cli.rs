//! The command line: Fluent Bit's flags, turned into a configuration.
//!
//! `-i`, `-F` and `-o` start a plugin section; `-p key=value`, `-t` and
//! `-m` apply to the plugin named last. Sections from flags come after
//! those of `-c FILE`, as in Fluent Bit.

use std::path::PathBuf;

use sluice_core::config::{self, Config, ConfigError, Origin, Section, SectionKind};

/// What the user asked for.
#[derive(Debug)]
pub enum Action {
    Run(Box<RunArgs>),
    Help,
    Version,
    /// `-i NAME -h` and the like.
    PluginHelp(SectionKind, String),
    /// `sluice top [URL]`: the live view of a running instance.
    Top(String),
}

/// Where `sluice top` looks without a URL: Fluent Bit's default port.
pub const TOP_DEFAULT_URL: &str = "http://127.0.0.1:2020";

#[derive(Debug)]
pub struct RunArgs {
    pub config: Config,
    pub dry_run: bool,
    /// From `-v`, `-vv`, `-q`; overrides the SERVICE log level.
    pub log_level: Option<&'static str>,
    pub log_file: Option<String>,
}

pub const USAGE: &str = "\
Usage: sluice [OPTIONS]
       sluice top [http://HOST:PORT]   live view of a running instance's HTTP API

sluice collects, filters and forwards logs; it runs Fluent Bit configurations.

Options:
  -c, --config=FILE      configuration file (classic .conf, or .yaml/.yml)
  -i, --input=NAME       add an input plugin
  -F, --filter=NAME      add a filter plugin
  -o, --output=NAME      add an output plugin
  -p, --prop=KEY=VALUE   set a property of the plugin named last
  -m, --match=PATTERN    set the match pattern of the filter or output named last
  -t, --tag=TAG          set the tag of the input named last
  -f, --flush=SECONDS    flush interval (default 1)
  -R, --parser=FILE      load a parsers file
  -H, --http             start the HTTP monitoring server
  -L, --http_listen=ADDR address the HTTP server listens on (default 0.0.0.0)
  -P, --http_port=PORT   port of the HTTP server (default 2020)
  -Y, --enable-hot-reload  reload the configuration on SIGHUP or the HTTP API
  -l, --log_file=FILE    write the process log to FILE
  -v, --verbose          more log output (-vv for trace)
  -q, --quiet            log nothing
  -D, --dry-run          check the configuration and exit
  -V, --version          print the version and exit
  -h, --help             print this help; after -i/-F/-o NAME, that plugin's properties
";

/// Splits `--flag=value` and `-fvalue` forms into flag and inline value.
fn split_flag(arg: &str) -> (String, Option<String>) {
    if let Some(long) = arg.strip_prefix("--") {
        match long.split_once('=') {
            Some((f, v)) => (format!("--{f}"), Some(v.to_owned())),
            None => (arg.to_owned(), None),
        }
    } else if arg.len() > 2 && arg.starts_with('-') && !arg.starts_with("-vv") {
        (arg[..2].to_owned(), Some(arg[2..].to_owned()))
    } else {
        (arg.to_owned(), None)
    }
}

struct Parser {
    config: Config,
    sections: Vec<Section>,
    service: Vec<(String, String, String)>,
    parsers_files: Vec<PathBuf>,
    config_file: Option<PathBuf>,
    args: RunArgs,
}

/// Parses the arguments (without the program name).
///
/// # Errors
/// An unknown flag, a missing value, `-p` before any plugin, or any
/// error reading the files named.
pub fn parse(argv: &[String]) -> Result<Action, ConfigError> {
    if argv.first().is_some_and(|a| a == "top") {
        return match argv {
            [_] => Ok(Action::Top(TOP_DEFAULT_URL.to_owned())),
            [_, url] if !url.starts_with('-') => Ok(Action::Top(url.clone())),
            _ => Err(ConfigError::new("usage: sluice top [http://HOST:PORT]")),
        };
    }
    let mut p = Parser {
        config: Config::default(),
        sections: Vec::new(),
        service: Vec::new(),
        parsers_files: Vec::new(),
        config_file: None,
        args: RunArgs {
            config: Config::default(),
            dry_run: false,
            log_level: None,
            log_file: None,
        },
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = split_flag(arg);
        let mut value = |name: &str| -> Result<String, ConfigError> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| ConfigError::new(format!("option {name} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                return Ok(match p.sections.last() {
                    Some(s) => PluginHelp(s.kind, s.name().unwrap_or_default().to_owned()),
                    None => Action::Help,
                })
            }
            "-V" | "--version" => return Ok(Action::Version),
            "-D" | "--dry-run" => p.args.dry_run = true,
            "-v" | "--verbose" => p.args.log_level = Some("debug"),
            "-vv" => p.args.log_level = Some("trace"),
            "-q" | "--quiet" => p.args.log_level = Some("off"),
            "-c" | "--config" => p.config_file = Some(value(&flag)?.into()),
            "-R" | "--parser" => p.parsers_files.push(value(&flag)?.into()),
            "-l" | "--log_file" => p.args.log_file = Some(value(&flag)?),
            "-Y" | "--enable-hot-reload" => {
                p.service
                    .push(("hot_reload".into(), "on".into(), flag.clone()))
            }
            "-H" | "--http" => p
                .service
                .push(("http_server".into(), "on".into(), flag.clone())),
            "-L" | "--http_listen" | "--listen" => {
                p.service
                    .push(("http_listen".into(), value(&flag)?, flag.clone()))
            }
            "-P" | "--http_port" | "--port" => {
                p.service
                    .push(("http_port".into(), value(&flag)?, flag.clone()))
            }
            "-f" | "--flush" => p
                .service
                .push(("flush".into(), value(&flag)?, flag.clone())),
            "-i" | "--input" => p.start(SectionKind::Input, &flag, value(&flag)?),
            "-F" | "--filter" => p.start(SectionKind::Filter, &flag, value(&flag)?),
            "-o" | "--output" => p.start(SectionKind::Output, &flag, value(&flag)?),
            "-p" | "--prop" => {
                let kv = value(&flag)?;
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    ConfigError::at(&Origin::flag(&flag), format!("'{kv}' is not key=value"))
                })?;
                p.set(&flag, k.trim(), v.trim())?;
            }
            "-m" | "--match" => p.set(&flag, "match", &value(&flag)?)?,
            "-t" | "--tag" => p.set(&flag, "tag", &value(&flag)?)?,
            _ => {
                return Err(ConfigError::new(format!(
                    "unknown option '{arg}' (see sluice --help)"
                )))
            }
        }
    }
    p.finish()
}

use Action::PluginHelp;

impl Parser {
    fn start(&mut self, kind: SectionKind, flag: &str, name: String) {
        let origin = Origin::flag(flag);
        let mut s = Section::new(kind, origin.clone());
        s.push("name", name, origin);
        self.sections.push(s);
    }

    fn set(&mut self, flag: &str, key: &str, value: &str) -> Result<(), ConfigError> {
        let origin = Origin::flag(flag);
        let section = self.sections.last_mut().ok_or_else(|| {
            ConfigError::at(&origin, "must follow -i, -F or -o NAME").with_key(key)
        })?;
        section.push(key, value, origin);
        Ok(())
    }

    fn finish(mut self) -> Result<Action, ConfigError> {
        if let Some(path) = &self.config_file {
            self.config = config::load_file(path)?;
        } else if self.sections.is_empty() {
            return Ok(Action::Help);
        }
        for (key, value, flag) in self.service {
            self.config.service.push(key, value, Origin::flag(&flag));
        }
        for path in &self.parsers_files {
            config::load_parsers_file(path, &mut self.config)?;
        }
        for s in self.sections {
            self.config.add(s);
        }
        self.args.config = self.config;
        Ok(Action::Run(Box::new(self.args)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> RunArgs {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&argv).unwrap() {
            Action::Run(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_build_sections_in_order() {
        let r = run(&[
            "-i", "dummy", "-p", "rate=5", "-t", "app", "-o", "stdout", "-m", "app", "-f", "0.5",
        ]);
        let c = &r.config;
        assert_eq!(c.inputs[0].get("rate").unwrap().value, "5");
        assert_eq!(c.inputs[0].get("tag").unwrap().value, "app");
        assert_eq!(c.outputs[0].get("match").unwrap().value, "app");
        assert_eq!(c.service.get("flush").unwrap().value, "0.5");
    }

    #[test]
    fn long_and_glued_forms() {
        let r = run(&[
            "--input=dummy",
            "-pdummy={\"a\":1}",
            "--output=null",
            "-D",
            "-vv",
        ]);
        assert_eq!(r.config.inputs[0].get("dummy").unwrap().value, "{\"a\":1}");
        assert!(r.dry_run);
        assert_eq!(r.log_level, Some("trace"));
    }

    #[test]
    fn plugin_help_and_errors() {
        let argv: Vec<String> = ["-o", "stdout", "-h"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(
            matches!(parse(&argv).unwrap(), PluginHelp(SectionKind::Output, n) if n == "stdout")
        );
        let argv: Vec<String> = ["-p", "a=b"].iter().map(|s| s.to_string()).collect();
        let err = parse(&argv).unwrap_err().to_string();
        assert!(err.contains("must follow -i, -F or -o"), "{err}");
        let argv: Vec<String> = ["--bogus"].iter().map(|s| s.to_string()).collect();
        assert!(parse(&argv)
            .unwrap_err()
            .to_string()
            .contains("unknown option"));
    }
}
