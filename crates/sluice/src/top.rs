//! `sluice top [URL]`: a terminal dashboard of a running instance, read
//! from its HTTP API (`/api/v1/metrics`) once a second.
//!
//! It shows, per instance, records/s and bytes/s in and out, retries,
//! errors, drops, chunks held and whether an input is paused by its
//! memory limit — what an operator watches during an incident. Rates are
//! the difference of two readings over the time between them, so the
//! first screen shows totals only. `q`, Esc or Ctrl-C quits.
//!
//! The view is separate from the pipeline: it is a client of the API and
//! can watch any sluice (or, for the fields they share, Fluent Bit).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::Frame;
use serde_json::Value;

const REFRESH: Duration = Duration::from_secs(1);
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// One reading of `/api/v1/metrics`.
struct Reading {
    at: Instant,
    metrics: Value,
}

/// What the screen shows: the last two readings, or why there are none.
#[derive(Default)]
struct View {
    url: String,
    last: Option<Reading>,
    before: Option<Reading>,
    error: Option<String>,
}

/// Runs the dashboard until the user quits.
///
/// # Errors
/// The URL is not `http://HOST:PORT`, or the terminal cannot be used.
pub fn run(url: &str) -> Result<(), String> {
    let addr = host_port(url)?;
    let mut terminal = ratatui::try_init().map_err(|e| format!("cannot use the terminal; {e}"))?;
    let mut view = View {
        url: url.to_owned(),
        ..View::default()
    };
    let result = (|| -> std::io::Result<()> {
        loop {
            match fetch(&addr, "/api/v1/metrics") {
                Ok(metrics) => {
                    view.before = view.last.take();
                    view.last = Some(Reading {
                        at: Instant::now(),
                        metrics,
                    });
                    view.error = None;
                }
                Err(e) => view.error = Some(e),
            }
            terminal.draw(|f| draw(f, &view))?;
            if wait_for_quit(REFRESH)? {
                return Ok(());
            }
        }
    })();
    ratatui::restore();
    result.map_err(|e| format!("terminal error; {e}"))
}

/// `http://host:port[/...]` to `host:port`.
fn host_port(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("'{url}' is not an http:// URL"))?;
    let hostport = rest.split('/').next().unwrap_or_default();
    if hostport.is_empty() {
        return Err(format!("'{url}' has no host"));
    }
    Ok(if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:2020")
    })
}

/// True when a quit key arrives within `within`.
fn wait_for_quit(within: Duration) -> std::io::Result<bool> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !event::poll(left)? {
            return Ok(false);
        }
        if let Event::Key(k) = event::read()? {
            let ctrl_c =
                k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            let quit = matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c;
            if quit && k.kind == KeyEventKind::Press {
                return Ok(true);
            }
        }
    }
}

/// A plain HTTP/1.1 GET with `Connection: close`; the API always sends
/// a length-delimited body.
fn fetch(addr: &str, path: &str) -> Result<Value, String> {
    let sock = addr
        .parse()
        .map_err(|_| format!("'{addr}' is not HOST:PORT with an IP address"))?;
    let mut conn = TcpStream::connect_timeout(&sock, FETCH_TIMEOUT).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(FETCH_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the answer has no header end")?;
    if !head.starts_with("HTTP/1.1 200") {
        let status = head.lines().next().unwrap_or_default();
        return Err(format!("the API answered '{status}'"));
    }
    serde_json::from_str(body).map_err(|e| format!("the API sent bad JSON; {e}"))
}

/// Per-second change of `key` between two readings of one instance.
fn rate(view: &View, kind: &str, name: &str, key: &str) -> Option<f64> {
    let (last, before) = (view.last.as_ref()?, view.before.as_ref()?);
    let now = last.metrics[kind][name][key].as_f64()?;
    let then = before.metrics[kind][name][key].as_f64()?;
    let secs = last.at.duration_since(before.at).as_secs_f64();
    (secs > 0.0).then(|| (now - then).max(0.0) / secs)
}

fn human(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1}G", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e4 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

fn opt_rate(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), human)
}

fn count(entry: &Value, key: &str) -> String {
    entry[key].as_f64().map_or_else(|| "-".into(), human)
}

fn instances<'a>(metrics: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    metrics[kind]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

fn draw(f: &mut Frame, view: &View) {
    let empty = Value::Null;
    let metrics = view.last.as_ref().map_or(&empty, |r| &r.metrics);
    let inputs = instances(metrics, "input");
    let filters = instances(metrics, "filter");
    let outputs = instances(metrics, "output");
    let [head, ins, fils, outs] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(inputs.len() as u16 + 3),
        Constraint::Length(filters.len() as u16 + 3),
        Constraint::Min(3),
    ])
    .areas(f.area());

    let status = match &view.error {
        Some(e) => format!("sluice top — {} — unreachable: {e}", view.url),
        None => format!("sluice top — {} — q to quit", view.url),
    };
    f.render_widget(Paragraph::new(Line::from(status)), head);

    let bold = Style::default().add_modifier(Modifier::BOLD);
    let input_rows = inputs.iter().map(|(name, e)| {
        Row::new(vec![
            (*name).clone(),
            opt_rate(rate(view, "input", name, "records")),
            opt_rate(rate(view, "input", name, "bytes")),
            count(e, "records"),
            count(e, "chunks"),
            count(e, "mem_bytes"),
            if e["paused"] == true { "PAUSED" } else { "" }.into(),
        ])
    });
    let input_table = Table::new(input_rows, [Constraint::Fill(1); 7])
        .header(
            Row::new(["input", "rec/s", "B/s", "records", "chunks", "mem", "state"]).style(bold),
        )
        .block(Block::bordered().title("inputs"));
    f.render_widget(input_table, ins);

    let filter_rows = filters.iter().map(|(name, e)| {
        Row::new(vec![
            (*name).clone(),
            opt_rate(rate(view, "filter", name, "records")),
            count(e, "drop_records"),
            count(e, "add_records"),
        ])
    });
    let filter_table = Table::new(filter_rows, [Constraint::Fill(1); 4])
        .header(Row::new(["filter", "rec/s", "dropped", "added"]).style(bold))
        .block(Block::bordered().title("filters"));
    f.render_widget(filter_table, fils);

    let output_rows = outputs.iter().map(|(name, e)| {
        Row::new(vec![
            (*name).clone(),
            opt_rate(rate(view, "output", name, "proc_records")),
            opt_rate(rate(view, "output", name, "proc_bytes")),
            count(e, "proc_records"),
            count(e, "retries"),
            count(e, "errors"),
            count(e, "retries_failed"),
            count(e, "dropped_records"),
        ])
    });
    let output_table = Table::new(output_rows, [Constraint::Fill(1); 8])
        .header(
            Row::new([
                "output", "rec/s", "B/s", "records", "retries", "errors", "failed", "dropped",
            ])
            .style(bold),
        )
        .block(Block::bordered().title("outputs"));
    f.render_widget(output_table, outs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_numbers() {
        assert_eq!(
            host_port("http://127.0.0.1:2021").unwrap(),
            "127.0.0.1:2021"
        );
        assert_eq!(host_port("http://127.0.0.1/x").unwrap(), "127.0.0.1:2020");
        assert!(host_port("127.0.0.1:2020").is_err());
        assert_eq!(human(12.0), "12");
        assert_eq!(human(25_000.0), "25.0k");
        assert_eq!(human(3_400_000.0), "3.4M");
    }
}
