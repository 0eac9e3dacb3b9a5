//! Structured logging: one JSON object per line on stderr.
//!
//! Owns: the log line format. Must never: write to stdout (stdout carries only the
//! `listening on http://ADDR` line that test harnesses parse), or fail the caller.

use std::io::Write;

use serde_json::{Map, Value};

/// Writes `{"ts":..., "level":..., "msg":..., <fields>}` to stderr.
pub fn emit(level: &str, msg: &str, fields: Map<String, Value>) {
    let mut obj = Map::new();
    obj.insert("ts".into(), Value::String(crate::timefmt::format(crate::timefmt::now())));
    obj.insert("level".into(), Value::String(level.into()));
    obj.insert("msg".into(), Value::String(msg.into()));
    obj.extend(fields);
    let line = Value::Object(obj).to_string();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

pub fn info(msg: &str, fields: Map<String, Value>) {
    emit("info", msg, fields);
}

pub fn warn(msg: &str, fields: Map<String, Value>) {
    emit("warn", msg, fields);
}

/// Builds a field map: `fields!{"a" => 1, "b" => "x"}`.
#[macro_export]
macro_rules! fields {
    ($($k:expr => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut m = ::serde_json::Map::new();
        $( m.insert($k.to_string(), ::serde_json::json!($v)); )*
        m
    }};
}
