//! Unit tests of the body decoder: every format, the limits, and tags.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use sluice_core::event::Events;
use sluice_core::{json, Value};

use super::*;

fn opts(format: BodyFormat) -> BodyOptions<'static> {
    BodyOptions {
        format,
        gzip: false,
        max_size: 1024,
        tag: "http.0",
        tag_key: None,
        remote_addr: None,
        time: EventTime::new(1, 0),
    }
}

/// Each batch as its tag and its records printed as JSON.
fn printed(batches: &[Batch]) -> Vec<(String, Vec<String>)> {
    batches
        .iter()
        .map(|b| {
            let records: Vec<String> = Events::new(&b.data)
                .map(|e| {
                    let mut out = Vec::new();
                    json::write_value(&mut out, &Value::Map(e.unwrap().decode().unwrap().body));
                    String::from_utf8(out).unwrap()
                })
                .collect();
            assert_eq!(records.len(), b.records);
            (b.tag.clone(), records)
        })
        .collect()
}

fn json_records(body: &str) -> Vec<String> {
    let batches = decode(body.as_bytes(), &opts(BodyFormat::Json)).unwrap();
    assert!(batches.len() <= 1);
    printed(&batches).pop().map(|(_, r)| r).unwrap_or_default()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn one_object_an_array_and_ndjson() {
    assert_eq!(json_records(r#" {"a":1} "#), [r#"{"a":1}"#]);
    assert_eq!(
        json_records(r#"[{"a":1},{"b":[true,null]}]"#),
        [r#"{"a":1}"#, r#"{"b":[true,null]}"#]
    );
    assert_eq!(
        json_records("{\"a\":1}\n{\"a\":2}\r\n\n{\"a\":3}{\"a\":4}"),
        [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#, r#"{"a":4}"#]
    );
    assert!(json_records("[]").is_empty());
}

#[test]
fn malformed_json_refuses_the_whole_body() {
    let o = opts(BodyFormat::Json);
    type Expected = fn(&BodyError) -> bool;
    let cases: [(&str, Expected); 6] = [
        ("{\"a\":1}\n{\"a\":", |e| {
            matches!(e, BodyError::Json { index: 1, .. })
        }),
        ("{\"a\":1}\n{\"a\" 2}", |e| {
            matches!(e, BodyError::Json { index: 1, .. })
        }),
        ("{\"a\":1} 42", |e| matches!(e, BodyError::NotObject(1))),
        ("[{\"a\":1}, 2]", |e| matches!(e, BodyError::NotObject(1))),
        ("[{\"a\":1}", |e| {
            matches!(e, BodyError::Json { index: 0, .. })
        }),
        (" \n ", |e| matches!(e, BodyError::Empty)),
    ];
    for (body, expected) in cases {
        let err = decode(body.as_bytes(), &o).unwrap_err();
        assert!(expected(&err), "{body:?} gave {err:?}");
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn form_pairs_become_one_record() {
    let body = b"msg=hello+world&level=%3Cinfo%3E&flag&bad=100%";
    let batches = decode(body, &opts(BodyFormat::Form)).unwrap();
    assert_eq!(
        printed(&batches)[0].1,
        [r#"{"msg":"hello world","level":"<info>","flag":"","bad":"100%"}"#]
    );
    assert_eq!(
        decode(b"&&", &opts(BodyFormat::Form)).unwrap_err(),
        BodyError::Empty
    );
}

#[test]
fn gzip_bodies_are_inflated_within_the_limit() {
    let mut o = opts(BodyFormat::Json);
    o.gzip = true;
    let batches = decode(&gzip(br#"[{"z":"x"},{"z":"y"}]"#), &o).unwrap();
    assert_eq!(printed(&batches)[0].1.len(), 2);

    let bomb = gzip(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 2048);
    o.max_size = 4096;
    assert_eq!(decode(&bomb, &o).unwrap_err(), BodyError::TooLarge(4096));
    assert_eq!(decode(&bomb, &o).unwrap_err().status(), 413);
    assert!(matches!(
        decode(b"{\"not\":\"gzip\"}", &o),
        Err(BodyError::Gzip(_))
    ));
}

#[test]
fn a_body_over_the_limit_is_too_large() {
    let mut o = opts(BodyFormat::Json);
    o.max_size = 8;
    assert_eq!(
        decode(br#"{"a":"123456789"}"#, &o).unwrap_err(),
        BodyError::TooLarge(8)
    );
}

#[test]
fn tag_key_routes_records_and_is_checked() {
    let mut o = opts(BodyFormat::Json);
    o.tag_key = Some("t");
    let body = br#"[{"t":"a.b","n":1},{"n":2},{"t":"c","n":3},{"t":"a.b","n":4},{"t":7,"n":5}]"#;
    let got = printed(&decode(body, &o).unwrap());
    let tags: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tags, ["a.b", "http.0", "c"]);
    assert_eq!(got[0].1, [r#"{"t":"a.b","n":1}"#, r#"{"t":"a.b","n":4}"#]);
    assert_eq!(got[1].1, [r#"{"n":2}"#, r#"{"t":7,"n":5}"#]);

    for bad in [
        r#"{"t":"../etc"}"#,
        r#"{"t":"a/b"}"#,
        r#"{"t":"a\nb"}"#,
        r#"{"t":""}"#,
    ] {
        let err = decode(bad.as_bytes(), &o).unwrap_err();
        assert!(
            matches!(err, BodyError::Tag { index: 0, .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn remote_addr_is_added_to_every_record() {
    let mut o = opts(BodyFormat::Json);
    o.remote_addr = Some("10.0.0.1");
    assert_eq!(
        printed(&decode(br#"{"a":1}{"b":2}"#, &o).unwrap())[0].1,
        [
            r#"{"a":1,"REMOTE_ADDR":"10.0.0.1"}"#,
            r#"{"b":2,"REMOTE_ADDR":"10.0.0.1"}"#
        ]
    );
}

#[test]
fn content_types() {
    let f = |v: &str| BodyFormat::from_content_type(Some(v.as_bytes()));
    assert_eq!(f("application/json"), Ok(BodyFormat::Json));
    assert_eq!(f("Application/JSON; charset=utf-8"), Ok(BodyFormat::Json));
    assert_eq!(f("application/x-ndjson"), Ok(BodyFormat::Json));
    assert_eq!(f("application/x-www-form-urlencoded"), Ok(BodyFormat::Form));
    assert_eq!(f("text/plain").unwrap_err().status(), 415);
    assert_eq!(
        BodyFormat::from_content_type(None),
        Err(BodyError::NoContentType)
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut o = opts(BodyFormat::Json);
    o.tag_key = Some("t");
    o.remote_addr = Some("x");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in 0..400 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b"{}[]\":,tab 1\\\n"[(seed % 14) as usize]
            })
            .collect();
        for format in [BodyFormat::Json, BodyFormat::Form] {
            o.format = format;
            let _ = decode(&bytes, &o);
        }
    }
}
