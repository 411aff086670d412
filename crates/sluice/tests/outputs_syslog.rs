//! The `syslog` output through the real binary against a private
//! `rsyslogd`: RFC 5424 octet-counted over TCP and RFC 3164 over UDP,
//! header fields from record keys and presets, structured data, and a
//! message holding a newline kept whole (rsyslog shows the newline as
//! `#012`, its escape for control characters). rsyslogd writes what it parsed
//! to a file this test reads.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{eventually, free_port, free_udp_port, spawn, temp_dir, wait, write_file};

const T: Duration = Duration::from_secs(20);

/// A private rsyslogd: TCP on `tcp`, UDP on `udp`, every message from an
/// app named `sluice*` written to `out` as `|`-separated fields.
fn start_rsyslogd(dir: &Path, tcp: u16, udp: u16, out: &Path) -> Child {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let conf = format!(
        r#"global(workDirectory="{work}")
module(load="imtcp")
module(load="imudp")
template(name="fields" type="string"
  string="%inputname%|%hostname%|%app-name%|%procid%|%msgid%|%syslogseverity%|%syslogfacility%|%structured-data%|%msg%\n")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
input(type="imudp" address="127.0.0.1" port="{udp}")
if $app-name startswith "sluice" then {{
    action(type="omfile" file="{out}" template="fields")
}}
"#,
        work = work.display(),
        out = out.display()
    );
    let conf = write_file(dir, "rsyslog.conf", &conf);
    let sbin = Path::new("/usr/sbin/rsyslogd");
    let bin = if sbin.exists() {
        sbin
    } else {
        Path::new("rsyslogd")
    };
    Command::new(bin)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rsyslogd is installed; scripts/test installs it")
}

/// Runs stdin → syslog with `props`, feeding `text`.
fn send(props: &[String], text: &str) {
    let mut args = vec!["-i", "stdin", "-t", "app", "-o", "syslog", "-m", "*"];
    for p in props {
        args.extend(["-p", p.as_str()]);
    }
    args.extend(["-f", "0.2"]);
    let mut child = spawn(&args);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = wait(child, T);
    assert!(out.status.success(), "{}", out.stderr);
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn rsyslog_reads_octet_counted_rfc5424_over_tcp_and_rfc3164_over_udp() {
    let dir = temp_dir("syslog-out");
    let out = dir.join("received.log");
    let (tcp, udp) = (free_port(), free_udp_port());
    let mut rsyslogd = start_rsyslogd(&dir, tcp, udp, &out);
    assert!(eventually(T, || std::net::TcpStream::connect((
        "127.0.0.1",
        tcp
    ))
    .is_ok()));

    let keys = [
        "syslog_message_key=log",
        "syslog_severity_key=level",
        "syslog_hostname_key=host",
        "syslog_appname_key=app",
        "syslog_procid_key=pid",
        "syslog_msgid_preset=MSG7",
        "syslog_facility_preset=local3",
        "syslog_sd_key=ctx",
    ]
    .map(str::to_owned);
    let records = "{\"log\":\"first line\\nsecond line\",\"level\":\"err\",\"host\":\"web1\",\
                   \"app\":\"sluicetcp\",\"pid\":42,\"ctx\":{\"user\":\"ann\"}}\n\
                   {\"log\":\"plain\",\"level\":5,\"host\":\"web2\",\"app\":\"sluicetcp\"}\n";
    let mut props = vec![
        "mode=tcp".to_owned(),
        "host=127.0.0.1".to_owned(),
        format!("port={tcp}"),
    ];
    props.extend(keys.iter().cloned());
    send(&props, records);

    let mut props = vec![
        "mode=udp".to_owned(),
        format!("port={udp}"),
        "syslog_format=rfc3164".to_owned(),
    ];
    props.extend(keys.iter().cloned());
    send(
        &props,
        "{\"log\":\"over udp\",\"level\":4,\"host\":\"web3\",\"app\":\"sluiceudp\",\"pid\":7}\n",
    );

    let arrived = eventually(T, || lines_of(&out).len() >= 3);
    let _ = rsyslogd.kill();
    let rsyslog = rsyslogd.wait_with_output().unwrap();
    let got = lines_of(&out);
    let why = format!(
        "{got:#?}\nrsyslogd:\n{}",
        String::from_utf8_lossy(&rsyslog.stderr)
    );
    assert!(arrived, "{why}");
    assert!(
        got.contains(
            &"imtcp|web1|sluicetcp|42|MSG7|3|19|[ctx user=\"ann\"]|first line#012second line"
                .to_owned()
        ),
        "{why}"
    );
    assert!(
        got.contains(&"imtcp|web2|sluicetcp|-|MSG7|5|19|-|plain".to_owned()),
        "{why}"
    );
    // rsyslog keeps the space after an RFC 3164 tag's colon in MSG.
    assert!(
        got.contains(&"imudp|web3|sluiceudp|7|-|4|19|-| over udp".to_owned()),
        "{why}"
    );
}
