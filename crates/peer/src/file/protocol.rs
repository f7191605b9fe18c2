//! The data-channel file protocol (`docs/file-transfer.md`).
//!
//! On a reliable, ordered data channel labelled `file`:
//! sender → `{"type":"file","name":..,"size":..,"sha256":hex}` (text), binary chunks of at most
//! [`CHUNK`] bytes, `{"type":"eof"}` (text); receiver → `{"type":"ack","sha256":..,"ok":..}`.
//!
//! The receiver also understands the names an earlier web client used (`header`, `end`,
//! replying `result`) and channels labelled `rdv-file:…`.

use serde::{Deserialize, Serialize};

/// The data channel label.
pub const LABEL: &str = "file";
/// Labels of the earlier web client.
pub const LEGACY_LABEL_PREFIX: &str = "rdv-file:";
/// Bytes per binary message: 16 KiB fits every browser's SCTP message size.
pub const CHUNK: usize = 16 * 1024;

/// Whether a channel with this label carries a file.
pub fn is_file_label(label: &str) -> bool {
    label == LABEL || label.starts_with(LEGACY_LABEL_PREFIX)
}

/// The text messages of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Control {
    /// Starts a file: name (no directories), size in bytes, SHA-256 of the content in hex.
    #[serde(alias = "header")]
    File {
        name: String,
        size: u64,
        sha256: String,
    },
    /// The last chunk has been sent.
    #[serde(alias = "end")]
    Eof,
    /// The receiver's verdict: the SHA-256 of what arrived and whether it matched.
    #[serde(alias = "result")]
    Ack { sha256: String, ok: bool },
}

/// The dialect a sender spoke, so the verdict goes back in words it understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Current,
    Legacy,
}

impl Control {
    pub fn parse(text: &str) -> Option<(Control, Dialect)> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let dialect = match value.get("type").and_then(|t| t.as_str()) {
            Some("header" | "end" | "result") => Dialect::Legacy,
            _ => Dialect::Current,
        };
        let control = serde_json::from_value(value).ok()?;
        Some((control, dialect))
    }

    pub fn to_json(&self, dialect: Dialect) -> String {
        let json = serde_json::to_string(self).expect("control messages always serialize");
        match (dialect, self) {
            (Dialect::Legacy, Control::Ack { .. }) => json.replacen("\"ack\"", "\"result\"", 1),
            _ => json,
        }
    }
}

/// The file name to write: the last path component, without anything that could escape the
/// output directory or be hidden; `None` when nothing usable is left.
pub fn safe_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned();
    (!cleaned.is_empty() && cleaned.len() <= 255).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        let f = Control::File {
            name: "a.bin".into(),
            size: 3,
            sha256: "ab".into(),
        };
        assert_eq!(
            f.to_json(Dialect::Current),
            r#"{"type":"file","name":"a.bin","size":3,"sha256":"ab"}"#
        );
        assert_eq!(Control::Eof.to_json(Dialect::Current), r#"{"type":"eof"}"#);
        let ack = Control::Ack {
            sha256: "cd".into(),
            ok: true,
        };
        assert_eq!(
            ack.to_json(Dialect::Current),
            r#"{"type":"ack","sha256":"cd","ok":true}"#
        );
        assert_eq!(
            ack.to_json(Dialect::Legacy),
            r#"{"type":"result","sha256":"cd","ok":true}"#
        );
    }

    #[test]
    fn reads_both_dialects() {
        assert_eq!(
            Control::parse(
                r#"{"type":"header","name":"x","size":1,"mime":"text/plain","sha256":"00"}"#
            ),
            Some((
                Control::File {
                    name: "x".into(),
                    size: 1,
                    sha256: "00".into()
                },
                Dialect::Legacy
            ))
        );
        assert_eq!(
            Control::parse(r#"{"type":"eof"}"#),
            Some((Control::Eof, Dialect::Current))
        );
        assert_eq!(
            Control::parse(r#"{"type":"end"}"#),
            Some((Control::Eof, Dialect::Legacy))
        );
        assert_eq!(Control::parse(r#"{"type":"file","name":"x"}"#), None);
        assert_eq!(Control::parse("not json"), None);
        assert!(
            is_file_label("file")
                && is_file_label("rdv-file:a.txt")
                && !is_file_label("rdv-control")
        );
    }

    #[test]
    fn names_cannot_escape_the_output_directory() {
        assert_eq!(safe_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(safe_name("C:\\x\\y.txt").as_deref(), Some("y.txt"));
        assert_eq!(safe_name(".."), None);
        assert_eq!(safe_name(".bashrc").as_deref(), Some("bashrc"));
        assert_eq!(safe_name("a/"), None);
        assert_eq!(safe_name("ok name.bin").as_deref(), Some("ok name.bin"));
    }
}
