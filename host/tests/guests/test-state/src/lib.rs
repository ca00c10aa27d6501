//! A generic HTTP hook that performs one `wasi:keyvalue` call per request,
//! for the host's state tests. `POST /kv` takes JSON
//! `{op, store?, key?, value?, repeat?, keys?, pairs?, cursor?, delta?}`
//! and always answers 200 with `{"ok": result}` or
//! `{"error": {"kind", "message"}}`, so a refused call shows as data and the
//! plugin keeps answering.
//!
//! `value` is text; `repeat: N` makes it N bytes of `x` instead, so a test
//! can store a large value without sending a large body.

wit_bindgen::generate!({
    inline: "
        package hookhost:test-state;
        world test-state {
            include hookhost:plugin/http-hook@0.1.0;
            import wasi:keyvalue/store@0.2.0-draft;
            import wasi:keyvalue/atomics@0.2.0-draft;
            import wasi:keyvalue/batch@0.2.0-draft;
        }
    ",
    path: "../../../../wit",
    world: "hookhost:test-state/test-state",
    generate_all,
});

use exports::hookhost::plugin::http_handler::Guest;
use hookhost::plugin::http_types::{DecodedBody, Request, Response, Route};
use hookhost::plugin::types::{Field, PluginError};
use serde_json::{Value, json};
use wasi::keyvalue::store::{self, Bucket, Error};
use wasi::keyvalue::{atomics, batch};

struct TestState;

impl Guest for TestState {
    fn routes() -> Vec<Route> {
        vec![Route {
            rule: "/kv".into(),
            methods: vec!["POST".into()],
            form_param: None,
            raw: false,
        }]
    }

    fn handle(request: Request) -> Result<Option<Response>, PluginError> {
        let DecodedBody::Json(text) = &request.decoded else {
            return Err(PluginError::Rejected("send JSON".into()));
        };
        let call: Value = serde_json::from_str(text)
            .map_err(|e| PluginError::Rejected(format!("bad JSON: {e}")))?;
        let answer = match run(&call) {
            Ok(result) => json!({ "ok": result }),
            Err(e) => json!({ "error": describe(&e) }),
        };
        Ok(Some(Response {
            status: 200,
            headers: vec![Field {
                key: "content-type".into(),
                value: "application/json".into(),
            }],
            body: answer.to_string().into_bytes(),
        }))
    }
}

fn describe(e: &Error) -> Value {
    match e {
        Error::NoSuchStore => json!({ "kind": "no-such-store" }),
        Error::AccessDenied => json!({ "kind": "access-denied" }),
        Error::Other(message) => json!({ "kind": "other", "message": message }),
    }
}

fn text(call: &Value, field: &str) -> String {
    call[field].as_str().unwrap_or_default().to_owned()
}

fn value(call: &Value) -> Vec<u8> {
    match call["repeat"].as_u64() {
        Some(n) => vec![b'x'; n as usize],
        None => text(call, "value").into_bytes(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn shown(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

fn run(call: &Value) -> Result<Value, Error> {
    let identifier = call["store"].as_str().unwrap_or("default");
    let bucket: Bucket = store::open(identifier)?;
    let key = text(call, "key");
    Ok(match call["op"].as_str().unwrap_or_default() {
        "open" => Value::Null,
        "get" => match bucket.get(&key)? {
            // A long value is answered by its length, not its bytes.
            Some(v) if v.len() > 4096 => json!({ "len": v.len() }),
            Some(v) => shown(&v),
            None => Value::Null,
        },
        "set" => {
            bucket.set(&key, &value(call))?;
            Value::Null
        }
        "delete" => {
            bucket.delete(&key)?;
            Value::Null
        }
        "exists" => Value::Bool(bucket.exists(&key)?),
        "list-keys" => {
            let page = bucket.list_keys(call["cursor"].as_u64())?;
            json!({ "keys": page.keys, "cursor": page.cursor })
        }
        // Every page, as a plugin walks them.
        "list-all" => {
            let (mut keys, mut pages, mut cursor) = (Vec::new(), 0, None);
            loop {
                let page = bucket.list_keys(cursor)?;
                pages += 1;
                keys.extend(page.keys);
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            json!({ "keys": keys, "pages": pages })
        }
        "increment" => json!(atomics::increment(
            &bucket,
            &key,
            call["delta"].as_u64().unwrap_or(1)
        )?),
        "get-many" => {
            let got = batch::get_many(&bucket, &strings(&call["keys"]))?;
            Value::Array(
                got.into_iter()
                    .map(|entry| match entry {
                        Some((k, v)) => json!([k, shown(&v)]),
                        None => Value::Null,
                    })
                    .collect(),
            )
        }
        "set-many" => {
            let pairs: Vec<(String, Vec<u8>)> = call["pairs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            let k = p[0].as_str().unwrap_or_default().to_owned();
                            (k, p[1].as_str().unwrap_or_default().as_bytes().to_vec())
                        })
                        .collect()
                })
                .unwrap_or_default();
            batch::set_many(&bucket, &pairs)?;
            Value::Null
        }
        "delete-many" => {
            batch::delete_many(&bucket, &strings(&call["keys"]))?;
            Value::Null
        }
        // Many keys in one call, for paging tests: `count` keys named
        // `{key}{i}`, each set to its number.
        "fill" => {
            let count = call["count"].as_u64().unwrap_or(0);
            let pairs: Vec<(String, Vec<u8>)> = (0..count)
                .map(|i| (format!("{key}{i}"), i.to_string().into_bytes()))
                .collect();
            for chunk in pairs.chunks(500) {
                batch::set_many(&bucket, chunk)?;
            }
            json!(count)
        }
        other => {
            return Err(Error::Other(format!("test-state: unknown op {other:?}")));
        }
    })
}

export!(TestState);
