//! A small, strict-enough XML tokenizer for target descriptions.
//!
//! Target descriptions use a tiny part of XML: a declaration, a DOCTYPE,
//! comments, elements with quoted attributes, a little text
//! (`<architecture>riscv:rv64</architecture>`). This reads exactly that, with
//! the five predefined entities and character references, and rejects the rest
//! with an offset. It never panics on any input.

use std::fmt;

/// One markup item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XmlEvent {
    /// `<name a="v">` or `<name a="v"/>` (then `self_closing`).
    Start {
        /// Element name, with any prefix (`xi:include`).
        name: String,
        /// Attributes in document order, values with entities decoded.
        attrs: Vec<(String, String)>,
        /// `/>`: no matching end event follows.
        self_closing: bool,
    },
    /// `</name>`
    End {
        /// Element name.
        name: String,
    },
    /// Character data (entities decoded), whitespace-only runs skipped.
    Text(String),
}

impl XmlEvent {
    /// The value of an attribute of a start event.
    pub(crate) fn attr(&self, key: &str) -> Option<&str> {
        match self {
            XmlEvent::Start { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

/// Where and why the XML could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    /// Byte offset in the document.
    pub(crate) offset: usize,
    /// What was wrong.
    pub(crate) message: String,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for XmlError {}

fn err(offset: usize, message: impl Into<String>) -> XmlError {
    XmlError {
        offset,
        message: message.into(),
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':') || b >= 0x80
}

/// Decodes `&lt; &gt; &amp; &quot; &apos; &#NN; &#xNN;`.
fn decode_entities(text: &str, offset: usize) -> Result<String, XmlError> {
    if !text.contains('&') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .filter(|&i| i <= 10)
            .ok_or_else(|| err(offset, "unterminated entity"))?;
        let entity = &after[..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = entity.strip_prefix('#') {
                    d.parse::<u32>().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| err(offset, format!("unknown entity &{entity};")))?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits a document into events. Comments, processing instructions and the
/// DOCTYPE declaration are skipped.
pub(crate) fn tokenize(doc: &str) -> Result<Vec<XmlEvent>, XmlError> {
    let bytes = doc.as_bytes();
    let mut events = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            let end = doc[i..].find('<').map_or(bytes.len(), |n| i + n);
            let raw = &doc[i..end];
            if !raw.trim().is_empty() {
                events.push(XmlEvent::Text(decode_entities(raw, i)?));
            }
            i = end;
            continue;
        }
        let rest = &doc[i..];
        if rest.starts_with("<!--") {
            let end = rest
                .find("-->")
                .ok_or_else(|| err(i, "unterminated comment"))?;
            i += end + 3;
        } else if rest.starts_with("<?") {
            let end = rest
                .find("?>")
                .ok_or_else(|| err(i, "unterminated processing instruction"))?;
            i += end + 2;
        } else if let Some(cdata) = rest.strip_prefix("<![CDATA[") {
            let end = cdata
                .find("]]>")
                .ok_or_else(|| err(i, "unterminated CDATA section"))?;
            events.push(XmlEvent::Text(cdata[..end].to_string()));
            i += 9 + end + 3;
        } else if rest.starts_with("<!") {
            // DOCTYPE, possibly with an internal subset in brackets.
            let mut depth = 0usize;
            let mut j = i + 2;
            loop {
                match bytes.get(j) {
                    None => return Err(err(i, "unterminated declaration")),
                    Some(b'[') => depth += 1,
                    Some(b']') => depth = depth.saturating_sub(1),
                    Some(b'>') if depth == 0 => break,
                    Some(_) => {}
                }
                j += 1;
            }
            i = j + 1;
        } else if rest.starts_with("</") {
            let mut j = i + 2;
            while j < bytes.len() && is_name_byte(bytes[j]) {
                j += 1;
            }
            let name = &doc[i + 2..j];
            if name.is_empty() {
                return Err(err(i, "end tag without a name"));
            }
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if bytes.get(j) != Some(&b'>') {
                return Err(err(j, format!("expected '>' to close </{name}")));
            }
            events.push(XmlEvent::End {
                name: name.to_string(),
            });
            i = j + 1;
        } else {
            let (event, next) = start_tag(doc, i)?;
            events.push(event);
            i = next;
        }
    }
    Ok(events)
}

/// Reads `<name attr="value" ...>` at `start`; returns the event and the offset after it.
fn start_tag(doc: &str, start: usize) -> Result<(XmlEvent, usize), XmlError> {
    let bytes = doc.as_bytes();
    let mut j = start + 1;
    while j < bytes.len() && is_name_byte(bytes[j]) {
        j += 1;
    }
    let name = doc[start + 1..j].to_string();
    if name.is_empty() {
        return Err(err(start, "'<' not followed by an element name"));
    }
    let mut attrs = Vec::new();
    loop {
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        match bytes.get(j) {
            None => return Err(err(start, format!("unterminated tag <{name}"))),
            Some(b'>') => {
                return Ok((
                    XmlEvent::Start {
                        name,
                        attrs,
                        self_closing: false,
                    },
                    j + 1,
                ))
            }
            Some(b'/') => {
                if bytes.get(j + 1) != Some(&b'>') {
                    return Err(err(j, "expected '>' after '/'"));
                }
                return Ok((
                    XmlEvent::Start {
                        name,
                        attrs,
                        self_closing: true,
                    },
                    j + 2,
                ));
            }
            Some(_) => {}
        }
        let key_start = j;
        while j < bytes.len() && is_name_byte(bytes[j]) {
            j += 1;
        }
        if key_start == j {
            return Err(err(j, format!("unexpected character in tag <{name}")));
        }
        let key = doc[key_start..j].to_string();
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if bytes.get(j) != Some(&b'=') {
            return Err(err(j, format!("attribute {key} without a value")));
        }
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let quote = match bytes.get(j) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(err(j, format!("attribute {key}: value must be quoted"))),
        };
        let value_start = j + 1;
        let value_end = doc[value_start..]
            .find(quote as char)
            .map(|n| value_start + n)
            .ok_or_else(|| err(j, format!("attribute {key}: unterminated value")))?;
        let value = decode_entities(&doc[value_start..value_end], value_start)?;
        attrs.push((key, value));
        j = value_end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_qemu_target_xml_shape() {
        let doc = r#"<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target><architecture>riscv:rv64</architecture><xi:include href="riscv-64bit-cpu.xml"/></target>"#;
        let ev = tokenize(doc).unwrap();
        assert_eq!(ev.len(), 6);
        assert_eq!(ev[2], XmlEvent::Text("riscv:rv64".into()));
        assert_eq!(ev[4].attr("href"), Some("riscv-64bit-cpu.xml"));
    }

    #[test]
    fn comments_entities_and_single_quotes() {
        let doc = "<!-- a <b> comment --><reg name='a&amp;b' x = \"&#x41;&#66;\" />\n  <!DOCTYPE x [ <!ENTITY y \"z\"> ]>";
        let ev = tokenize(doc).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].attr("name"), Some("a&b"));
        assert_eq!(ev[0].attr("x"), Some("AB"));
    }

    #[test]
    fn errors_have_offsets() {
        assert!(tokenize("<reg name=\"a").is_err());
        assert!(tokenize("<reg name=a/>").is_err());
        assert!(tokenize("<!-- open").is_err());
        assert!(tokenize("< reg/>").is_err());
        assert!(tokenize("<a>&bogus;</a>").is_err());
        assert_eq!(tokenize("<a x=\"1\" y>").unwrap_err().offset, 10);
    }

    proptest! {
        #[test]
        fn never_panics(doc in "[<>/!?a-z=\"' &;#x0-9\\[\\]-]{0,200}") {
            let _ = tokenize(&doc);
        }

        #[test]
        fn never_panics_on_any_unicode(doc in any::<String>()) {
            let _ = tokenize(&doc);
        }
    }
}
