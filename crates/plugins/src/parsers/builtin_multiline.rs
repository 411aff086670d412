//! The built-in multiline parsers (`docker`, `cri`, `go`, `python`,
//! `java`, `ruby`) and the two `[PARSER]`s the container ones read lines
//! with. They are read from the shipped `conf/multiline_parsers.conf`
//! (`include_str!`), so each rule has one definition that users can read
//! and copy; a configuration defining the same name uses its own.

use std::path::Path;

use sluice_core::config::Section;
use sluice_core::config::{classic, Config};

const SHIPPED: &str = include_str!("../../../../conf/multiline_parsers.conf");

/// The built-in multiline parsers' names.
pub const BUILTIN: &[&str] = &["docker", "cri", "go", "python", "java", "ruby"];

fn shipped() -> Config {
    let origin = "conf/multiline_parsers.conf (built in)";
    classic::parse_str(SHIPPED, origin, Path::new("."))
        // The file is part of the source tree; the tests below load it.
        .expect("the shipped conf/multiline_parsers.conf parses")
}

/// The `[PARSER]`s the built-in multiline parsers use.
pub fn parser_sections() -> Vec<Section> {
    shipped().parsers
}

/// The built-in `[MULTILINE_PARSER]` sections.
pub fn sections() -> Vec<Section> {
    shipped().multiline_parsers
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sluice_core::multiline::{MultilineBuffer, MultilineParsers};
    use sluice_core::parser::Parsers;
    use sluice_core::{Event, EventTime, Value};

    /// Feeds `text` line by line to the built-in `names` and returns the
    /// `log` of each record, pending ones flushed at the end.
    fn join(names: &str, text: &str) -> Vec<String> {
        records(names, text)
            .iter()
            .map(|e| {
                e.body
                    .get("log")
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    fn records(names: &str, text: &str) -> Vec<Event> {
        let registry = crate::registry();
        let parsers = Parsers::build(&[], &registry).unwrap();
        let set =
            MultilineParsers::build(&[], &registry.builtin_multiline_parsers, &parsers).unwrap();
        let list = names
            .split(',')
            .map(|n| set.get(n.trim()).unwrap())
            .collect();
        let mut buffer = MultilineBuffer::new(list);
        let (now, mut out) = (Instant::now(), Vec::new());
        for line in text.lines() {
            buffer.feed_line("s", line.as_bytes(), EventTime::new(1, 0), now, &mut out);
        }
        let mut rest = Vec::new();
        buffer.flush_due(now + Duration::from_secs(60), &mut rest);
        out.extend(rest.into_iter().map(|(_, e)| e));
        out
    }

    #[test]
    fn every_builtin_builds() {
        assert_eq!(super::sections().len(), super::BUILTIN.len());
        let registry = crate::registry();
        let parsers = Parsers::build(&[], &registry).unwrap();
        let set =
            MultilineParsers::build(&[], &registry.builtin_multiline_parsers, &parsers).unwrap();
        for name in super::BUILTIN {
            assert!(set.get(name).is_some(), "{name}");
        }
    }

    const JAVA: &str = "\
2024-03-01 10:00:00 INFO Starting service
Exception in thread \"main\" java.lang.IllegalStateException: could not load config
\tat com.example.config.Loader.load(Loader.java:42)
\tat com.example.Main.main(Main.java:12)
Caused by: java.io.FileNotFoundException: /etc/app.yaml (No such file or directory)
\tat java.base/java.io.FileInputStream.open0(Native Method)
\tat java.base/java.io.FileInputStream.<init>(FileInputStream.java:216)
\t... 2 more
2024-03-01 10:00:01 INFO Shutting down
";

    #[test]
    fn java_joins_frames_and_causes() {
        let logs = join("java", JAVA);
        assert_eq!(logs.len(), 3, "{logs:#?}");
        assert_eq!(logs[0], "2024-03-01 10:00:00 INFO Starting service");
        let trace: Vec<&str> = JAVA.lines().skip(1).take(7).collect();
        assert_eq!(logs[1], trace.join("\n"));
        assert_eq!(logs[2], "2024-03-01 10:00:01 INFO Shutting down");
    }

    const PYTHON: &str = "\
starting worker
Traceback (most recent call last):
  File \"/srv/app/worker.py\", line 18, in run
    result = handle(job)
  File \"/srv/app/jobs.py\", line 7, in handle
    return 1 / job.weight
           ~~^~~~~~~~~~~~
ZeroDivisionError: division by zero

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File \"/srv/app/worker.py\", line 20, in run
    raise RuntimeError(\"job failed\")
RuntimeError: job failed
worker stopped
";

    #[test]
    fn python_joins_chained_tracebacks() {
        let logs = join("python", PYTHON);
        assert_eq!(logs.len(), 3, "{logs:#?}");
        let trace: Vec<&str> = PYTHON.lines().skip(1).take(14).collect();
        assert_eq!(logs[1], trace.join("\n"));
        assert_eq!(logs[2], "worker stopped");
    }

    const GO: &str = "\
listening on :8080
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]

goroutine 1 [running]:
main.(*Server).handle(0x0, {0x5c3e20, 0xc000012345})
\t/home/dev/app/server.go:42 +0x1c
main.main()
\t/home/dev/app/main.go:17 +0x85

goroutine 6 [chan receive]:
net/http.(*conn).serve(0xc0001b2000, {0x6f1e30, 0xc0001a0ba0})
\t/usr/local/go/src/net/http/server.go:2009 +0x5f4
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3086 +0x5cb
exit status 2
";

    #[test]
    fn go_joins_a_panic_and_its_goroutines() {
        let logs = join("go", GO);
        assert_eq!(logs.len(), 2, "{logs:#?}");
        assert_eq!(logs[0], "listening on :8080");
        let trace: Vec<&str> = GO.lines().skip(1).collect();
        assert_eq!(logs[1], trace.join("\n"));
    }

    const RUBY: &str = "\
I, [2024-03-01T10:00:00] INFO -- : booting
app/models/order.rb:12:in 'Integer#/': divided by 0 (ZeroDivisionError)
\tfrom app/models/order.rb:12:in 'Order#average'
\tfrom app/jobs/report.rb:5:in 'block in Report.run'
\tfrom app/jobs/report.rb:4:in 'Array#each'
\tfrom bin/report:3:in '<main>'
I, [2024-03-01T10:00:01] INFO -- : done
";

    #[test]
    fn ruby_joins_a_backtrace() {
        let logs = join("ruby", RUBY);
        assert_eq!(logs.len(), 3, "{logs:#?}");
        let trace: Vec<&str> = RUBY.lines().skip(1).take(5).collect();
        assert_eq!(logs[1], trace.join("\n"));
        let old = "x.rb:1:in `/': divided by 0 (ZeroDivisionError)\n\tfrom x.rb:1:in `<main>'\n";
        assert_eq!(join("ruby", old), [old.trim_end()]);
    }

    #[test]
    fn docker_rejoins_split_lines_per_stream() {
        let text = r#"{"log":"first half of a long ","stream":"stdout","time":"2024-03-01T10:00:00.5Z"}
{"log":"an error\n","stream":"stderr","time":"2024-03-01T10:00:00.6Z"}
{"log":"line, second half\n","stream":"stdout","time":"2024-03-01T10:00:00.7Z"}
not json at all
"#;
        let out = records("docker", text);
        let logs: Vec<_> = out
            .iter()
            .map(|e| e.body.get("log").unwrap().clone())
            .collect();
        assert_eq!(
            logs,
            [
                Value::from("an error\n"),
                Value::from("first half of a long line, second half\n"),
                Value::from("not json at all"),
            ]
        );
        assert_eq!(out[1].time, EventTime::new(1709287200, 500_000_000));
        assert_eq!(out[1].body.get("stream").unwrap().as_str(), Some("stdout"));
    }

    #[test]
    fn cri_rejoins_partial_lines_and_drops_the_flag() {
        let text = "\
2024-03-01T10:00:00.100000000Z stdout P part one, 
2024-03-01T10:00:00.200000000Z stderr F err line
2024-03-01T10:00:00.300000000Z stdout F part two
";
        let out = records("docker, cri", text);
        let logs: Vec<_> = out
            .iter()
            .map(|e| e.body.get("log").unwrap().as_str().unwrap())
            .collect();
        assert_eq!(logs, ["err line", "part one, part two"]);
        assert!(out.iter().all(|e| e.body.get("_p").is_none()));
        assert_eq!(out[1].time, EventTime::new(1709287200, 100_000_000));
    }
}
