//! `file`: appends records to a file, one file per tag by default.
//!
//! Options: `path` (directory; default the working directory), `file`
//! (file name; default the chunk's tag), `format` (`out_file` default,
//! `plain`, `json_lines`, `csv`, `ltsv`, `template`, `msgpack`; see
//! `file_format`), `delimiter` (CSV default `,`, LTSV default tab; `\t`
//! or `tab`, `space`, `comma`), `label_delimiter` (LTSV, default `:`),
//! `csv_column_names` (write a header line into a new file, default
//! off), `template` (default `{time} {message}`), `mkdir` (create the
//! directory when missing, mode 0755, default off).
//!
//! A chunk is rendered in memory first; the file is then opened, written
//! and closed on a blocking thread, one flush at a time per instance so
//! lines of concurrent flushes never mix. Failing to open or write (the
//! directory is missing, permissions, a full disk) is a retry: the cause
//! may go away. A name taken from a tag never leaves `path`: separators
//! become `_`, and `.`/`..` cannot be produced.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::Chunk;

use super::file_format::{render, FileFormat, Template};

// TODO: `line_append` (Fluent Bit 3.x: no newline between records) is not
// declared, because nothing needs it yet; a config using it fails as an
// unknown key rather than being silently misread.
const PROPS: &[Property] = &[
    Property::new(
        "path",
        PropKind::Str,
        None,
        "Directory to write files in (default: the working directory)",
    ),
    Property::new("file", PropKind::Str, None, "File name (default: the tag)"),
    Property::new(
        "format",
        PropKind::Str,
        Some("out_file"),
        "out_file, plain, json_lines, csv, ltsv, template or msgpack",
    ),
    Property::new(
        "delimiter",
        PropKind::Str,
        None,
        "CSV/LTSV field separator: \\t (tab), space or comma",
    ),
    Property::new(
        "label_delimiter",
        PropKind::Str,
        None,
        "LTSV separator of label and value (default ':')",
    ),
    Property::new(
        "csv_column_names",
        PropKind::Bool,
        Some("off"),
        "Write the keys as a header line into a new CSV file",
    ),
    Property::new(
        "template",
        PropKind::Str,
        Some("{time} {message}"),
        "Line template: {time} and {key} are replaced",
    ),
    Property::new(
        "mkdir",
        PropKind::Bool,
        Some("off"),
        "Create the directory when it is missing",
    ),
];

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "file",
    description: "Append records to files",
    properties: PROPS,
    build,
};

struct FileOutput {
    dir: Option<PathBuf>,
    file: Option<String>,
    mkdir: bool,
    format: FileFormat,
    /// Held while a flush writes, so two flushes never mix their lines.
    writing: Arc<Mutex<()>>,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    let file = cfg.str("file").map(str::to_owned);
    if file
        .as_deref()
        .is_some_and(|f| f.is_empty() || f.contains('\0'))
    {
        return Err(cfg.error("file", "must be a file name"));
    }
    Ok(Arc::new(FileOutput {
        dir: cfg.str("path").filter(|p| !p.is_empty()).map(PathBuf::from),
        file,
        mkdir: cfg.bool("mkdir"),
        format: format(cfg)?,
        writing: Arc::new(Mutex::new(())),
    }))
}

fn format(cfg: &PluginConfig) -> Result<FileFormat, ConfigError> {
    let name = cfg.str("format").unwrap_or("out_file");
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "out_file" => FileFormat::OutFile,
        "plain" => FileFormat::Plain,
        "json_lines" => FileFormat::JsonLines,
        "csv" => FileFormat::Csv {
            delimiter: delimiter(cfg, "delimiter", b','),
            column_names: cfg.bool("csv_column_names"),
        },
        "ltsv" => FileFormat::Ltsv {
            delimiter: delimiter(cfg, "delimiter", b'\t'),
            label_delimiter: delimiter(cfg, "label_delimiter", b':'),
        },
        "template" => FileFormat::Template(Template::parse(cfg.str("template").unwrap_or(""))),
        "msgpack" => FileFormat::Msgpack,
        _ => {
            return Err(cfg.error(
                "format",
                format!(
                    "unknown format '{name}'; use out_file, plain, json_lines, csv, ltsv, \
                     template or msgpack"
                ),
            ))
        }
    })
}

/// Fluent Bit's delimiter names. Like Fluent Bit, an unknown value falls
/// back to the default, but here with a warning instead of silently.
fn delimiter(cfg: &PluginConfig, key: &str, default: u8) -> u8 {
    let Some(value) = cfg.str(key) else {
        return default;
    };
    match value.to_ascii_lowercase().as_str() {
        "\\t" | "tab" | "\t" => b'\t',
        "space" | " " => b' ',
        "comma" | "," => b',',
        _ => {
            tracing::warn!(
                output = %cfg.instance,
                key,
                value,
                "unsupported delimiter; using the default"
            );
            default
        }
    }
}

/// A file name made from a tag that cannot point outside the directory:
/// path separators and NUL become `_`, and a name that would be empty,
/// `.` or `..` is made of underscores instead.
pub(crate) fn file_name_for_tag(tag: &str) -> String {
    let name: String = tag
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    match name.as_str() {
        "" => "_".to_owned(),
        "." | ".." => "_".repeat(name.len()),
        _ => name,
    }
}

impl FileOutput {
    fn target(&self, tag: &str) -> PathBuf {
        let name = match &self.file {
            Some(f) => f.clone(),
            None => file_name_for_tag(tag),
        };
        match &self.dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }
}

#[async_trait]
impl Output for FileOutput {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let rendered = render(&self.format, chunk);
        rendered.walk.log(chunk.tag());
        if rendered.text.is_empty() {
            return Verdict::Ok;
        }
        let path = self.target(chunk.tag());
        let mkdir = self.mkdir;
        let writing = Arc::clone(&self.writing);
        let done = tokio::task::spawn_blocking(move || {
            // A poisoned lock only means another flush panicked mid-write;
            // the guard protects no data, so go on.
            let _guard = writing.lock().unwrap_or_else(|e| e.into_inner());
            append(&path, mkdir, rendered.header.as_deref(), &rendered.text)
        })
        .await;
        match done {
            Ok(Ok(())) => Verdict::Ok,
            Ok(Err(reason)) => Verdict::Retry(reason),
            Err(e) => Verdict::Retry(format!("file writer failed; {e}")),
        }
    }
}

/// Appends `text` to `path`, after `header` when the file is empty.
/// Blocking: runs on a blocking thread.
fn append(path: &Path, mkdir: bool, header: Option<&[u8]>, text: &[u8]) -> Result<(), String> {
    let mut file = open(path, mkdir).map_err(|e| format!("cannot open {}; {e}", path.display()))?;
    let write = |file: &mut File| -> io::Result<()> {
        if let Some(header) = header {
            if file.metadata()?.len() == 0 {
                file.write_all(header)?;
            }
        }
        file.write_all(text)
    };
    write(&mut file).map_err(|e| format!("cannot write {}; {e}", path.display()))
}

fn open(path: &Path, mkdir: bool) -> io::Result<File> {
    let options = || OpenOptions::new().create(true).append(true).open(path);
    match options() {
        Err(e) if e.kind() == io::ErrorKind::NotFound && mkdir => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir(dir)?;
            }
            options()
        }
        other => other,
    }
}

fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o755);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk, config, setup};
    use sluice_core::Value;

    /// A fresh directory under the system's temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("sluice-out-file-{}-{name}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn output(pairs: &[(&str, &str)]) -> Arc<dyn Output> {
        (SPEC.build)(&config(&SPEC, pairs).unwrap(), &setup()).unwrap()
    }

    fn one(tag: &str) -> Chunk {
        chunk(tag, &[body(&[("k", Value::Str("v".into()))])])
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn tags_cannot_leave_the_directory() {
        assert_eq!(file_name_for_tag("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(file_name_for_tag("/etc/passwd"), "_etc_passwd");
        assert_eq!(file_name_for_tag("a\\b\0c"), "a_b_c");
        assert_eq!(file_name_for_tag(".."), "__");
        assert_eq!(file_name_for_tag("."), "_");
        assert_eq!(file_name_for_tag(""), "_");
        assert_eq!(file_name_for_tag("app.log"), "app.log");
    }

    #[tokio::test]
    async fn appends_to_a_file_named_after_the_tag() {
        let dir = TempDir::new("tag");
        let out = output(&[("path", dir.0.to_str().unwrap())]);
        assert_eq!(out.flush(&one("app.0")).await, Verdict::Ok);
        assert_eq!(out.flush(&one("app.0")).await, Verdict::Ok);
        let line = "app.0: [1700000000.123456, {\"k\":\"v\"}]\n";
        assert_eq!(read(&dir.0.join("app.0")), format!("{line}{line}"));
    }

    #[tokio::test]
    async fn a_hostile_tag_writes_inside_path() {
        let dir = TempDir::new("hostile");
        let inner = dir.0.join("inner");
        std::fs::create_dir(&inner).unwrap();
        let out = output(&[("path", inner.to_str().unwrap()), ("format", "plain")]);
        assert_eq!(out.flush(&one("../escaped")).await, Verdict::Ok);
        assert!(!dir.0.join("escaped").exists());
        assert_eq!(read(&inner.join(".._escaped")), "{\"k\":\"v\"}\n");
    }

    #[tokio::test]
    async fn the_file_option_names_the_file() {
        let dir = TempDir::new("name");
        let out = output(&[
            ("path", dir.0.to_str().unwrap()),
            ("file", "all.log"),
            ("format", "template"),
            ("template", "{time} {k}"),
        ]);
        out.flush(&one("a")).await;
        out.flush(&one("b")).await;
        let line = "1700000000.123456 v\n";
        assert_eq!(read(&dir.0.join("all.log")), format!("{line}{line}"));
    }

    #[tokio::test]
    async fn a_missing_directory_is_a_retry_without_mkdir() {
        let dir = TempDir::new("nomkdir");
        let missing = dir.0.join("a/b");
        let out = output(&[("path", missing.to_str().unwrap())]);
        match out.flush(&one("t")).await {
            Verdict::Retry(reason) => assert!(reason.starts_with("cannot open "), "{reason}"),
            other => panic!("expected a retry, got {other:?}"),
        }
        assert!(!missing.exists());
    }

    #[tokio::test]
    async fn mkdir_creates_the_directory() {
        let dir = TempDir::new("mkdir");
        let missing = dir.0.join("a/b");
        let out = output(&[("path", missing.to_str().unwrap()), ("mkdir", "on")]);
        assert_eq!(out.flush(&one("t")).await, Verdict::Ok);
        assert_eq!(
            read(&missing.join("t")),
            "t: [1700000000.123456, {\"k\":\"v\"}]\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&missing).unwrap().permissions().mode();
            // 0755, less whatever the umask takes away.
            assert_eq!(mode & 0o777 & !0o755, 0);
        }
    }

    #[tokio::test]
    async fn csv_header_goes_only_into_a_new_file() {
        let dir = TempDir::new("csv");
        let out = output(&[
            ("path", dir.0.to_str().unwrap()),
            ("format", "csv"),
            ("csv_column_names", "on"),
            ("delimiter", "tab"),
        ]);
        out.flush(&one("t")).await;
        out.flush(&one("t")).await;
        assert_eq!(
            read(&dir.0.join("t")),
            "timestamp\t\"k\"\n1700000000.123456\t\"v\"\n1700000000.123456\t\"v\"\n"
        );
    }

    #[tokio::test]
    async fn ltsv_and_msgpack_land_in_the_file() {
        let dir = TempDir::new("ltsv");
        let out = output(&[
            ("path", dir.0.to_str().unwrap()),
            ("format", "LTSV"),
            ("label_delimiter", "space"),
        ]);
        out.flush(&one("t")).await;
        assert_eq!(
            read(&dir.0.join("t")),
            "\"time\" 1700000000.123456\t\"k\" \"v\"\n"
        );

        let out = output(&[("path", dir.0.to_str().unwrap()), ("format", "msgpack")]);
        let c = one("m");
        out.flush(&c).await;
        assert_eq!(std::fs::read(dir.0.join("m")).unwrap(), c.data());
    }

    #[tokio::test]
    async fn concurrent_flushes_do_not_mix_lines() {
        let dir = TempDir::new("concurrent");
        let out = output(&[("path", dir.0.to_str().unwrap()), ("format", "plain")]);
        let bodies: Vec<_> = (0..200)
            .map(|i| body(&[("i", Value::UInt(i)), ("pad", Value::Str("x".repeat(300)))]))
            .collect();
        let c = Arc::new(chunk("t", &bodies));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (out, c) = (Arc::clone(&out), Arc::clone(&c));
            tasks.push(tokio::spawn(async move { out.flush(&c).await }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Verdict::Ok);
        }
        let text = read(&dir.0.join("t"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8 * 200);
        for (n, line) in lines.iter().enumerate() {
            let want = format!("{{\"i\":{},", n % 200);
            assert!(line.starts_with(&want), "line {n}: {line}");
        }
    }

    #[test]
    fn unknown_format_is_a_config_error() {
        let cfg = config(&SPEC, &[("format", "xml")]).unwrap();
        let err = (SPEC.build)(&cfg, &setup()).err().unwrap().to_string();
        assert!(
            err.starts_with("t.conf:3: key 'format': unknown format 'xml'"),
            "{err}"
        );
    }

    #[test]
    fn delimiters_follow_fluent_bit_names() {
        let f = |pairs: &[(&str, &str)]| format(&config(&SPEC, pairs).unwrap()).unwrap();
        assert_eq!(
            f(&[("format", "csv")]),
            FileFormat::Csv {
                delimiter: b',',
                column_names: false
            }
        );
        assert_eq!(
            f(&[("format", "csv"), ("delimiter", "\\t")]),
            FileFormat::Csv {
                delimiter: b'\t',
                column_names: false
            }
        );
        assert_eq!(
            f(&[("format", "csv"), ("delimiter", ";")]),
            FileFormat::Csv {
                delimiter: b',',
                column_names: false
            }
        );
        assert_eq!(
            f(&[("format", "ltsv"), ("delimiter", "comma")]),
            FileFormat::Ltsv {
                delimiter: b',',
                label_delimiter: b':'
            }
        );
    }
}
