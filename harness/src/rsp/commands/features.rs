//! `qXfer:features:read`: fetching the target description.
//!
//! GDB manual, "General Query Packets", `qXfer:object:read:annex:offset,length`:
//! the stub answers `m<data>` (more follows), `l<data>` (last piece) or `E NN`;
//! data is binary with `}` escapes. For `features`, the annex is a file name,
//! `target.xml` first, then whatever its `<xi:include href=...>` elements name
//! ("Target Descriptions"). QEMU < 9.0 answers `p`/`P` with an empty reply until
//! target.xml has been read, so [`RspClient::fetch_target_description`] comes
//! before any register access.

use std::collections::BTreeMap;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rsp::client::{check_reply, RspClient};
use crate::rsp::error::{Result, RspError};
use crate::rsp::packet::unescape_binary;
use crate::rsp::tdesc::{includes_of, TargetDescription, TdescError};

/// One piece of a `qXfer` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XferChunk {
    /// `m...`: more data follows.
    More(Vec<u8>),
    /// `l...`: this is the end.
    Last(Vec<u8>),
}

/// Builds `qXfer:features:read:ANNEX:OFFSET,LENGTH`.
pub(crate) fn read_command(annex: &str, offset: usize, length: usize) -> String {
    format!("qXfer:features:read:{annex}:{offset:x},{length:x}")
}

/// Parses an `m`/`l` reply (unescaping the data). `None` for anything else.
pub(crate) fn parse_chunk(reply: &[u8]) -> Option<XferChunk> {
    let (&kind, data) = reply.split_first()?;
    let data = unescape_binary(data).ok()?;
    match kind {
        b'm' => Some(XferChunk::More(data)),
        b'l' => Some(XferChunk::Last(data)),
        _ => None,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// Reads one whole `features` object (a file of the target description).
    pub(crate) async fn read_feature_file(&mut self, annex: &str) -> Result<Vec<u8>> {
        // Leave room for the 'm' and escapes within the stub's packet size.
        let length = (self.packet_size().saturating_sub(8) / 2).max(32);
        let limit = self.config.max_tdesc_bytes;
        let mut data = Vec::new();
        loop {
            let command = read_command(annex, data.len(), length);
            let reply = self.request(&command).await?;
            let reply = check_reply(&command, reply)?;
            let chunk = parse_chunk(&reply).ok_or_else(|| {
                RspError::bad_reply(&command, "expected m<data> or l<data>", &reply)
            })?;
            let (piece, last) = match chunk {
                XferChunk::More(d) => (d, false),
                XferChunk::Last(d) => (d, true),
            };
            if !last && piece.is_empty() {
                return Err(RspError::bad_reply(
                    &command,
                    "empty 'm' chunk would never finish",
                    &reply,
                ));
            }
            if data.len() + piece.len() > limit {
                return Err(TdescError::Transfer {
                    file: annex.into(),
                    detail: format!("larger than {limit} bytes"),
                }
                .into());
            }
            data.extend_from_slice(&piece);
            if last {
                return Ok(data);
            }
        }
    }

    /// Fetches `target.xml` and every file it includes (recursively), builds the
    /// register map, and keeps it for register access by name.
    pub async fn fetch_target_description(&mut self) -> Result<&TargetDescription> {
        let root = "target.xml";
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = vec![root.to_string()];
        let mut total = 0usize;
        while let Some(name) = queue.pop() {
            if files.contains_key(&name) {
                continue;
            }
            if files.len() >= self.config.max_tdesc_files {
                return Err(TdescError::Transfer {
                    file: name,
                    detail: format!("more than {} included files", self.config.max_tdesc_files),
                }
                .into());
            }
            let data = self.read_feature_file(&name).await?;
            total += data.len();
            if total > self.config.max_tdesc_bytes {
                return Err(TdescError::Transfer {
                    file: name,
                    detail: format!(
                        "description larger than {} bytes",
                        self.config.max_tdesc_bytes
                    ),
                }
                .into());
            }
            let text = String::from_utf8(data).map_err(|_| TdescError::Transfer {
                file: name.clone(),
                detail: "not UTF-8".into(),
            })?;
            let mut includes = includes_of(&name, &text)?;
            includes.reverse();
            queue.extend(includes.into_iter().filter(|f| !files.contains_key(f)));
            files.insert(name, text);
        }
        let description = TargetDescription::from_files(root, files)?;
        Ok(self.tdesc.insert(description))
    }

    /// The target description, once fetched.
    pub fn target_description(&self) -> Option<&TargetDescription> {
        self.tdesc.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks() {
        assert_eq!(
            read_command("riscv-csr.xml", 0x7fd, 0x800),
            "qXfer:features:read:riscv-csr.xml:7fd,800"
        );
        assert_eq!(
            parse_chunk(b"l<target/>"),
            Some(XferChunk::Last(b"<target/>".to_vec()))
        );
        assert_eq!(
            parse_chunk(b"mab}]"),
            Some(XferChunk::More(b"ab}".to_vec()))
        );
        assert_eq!(parse_chunk(b"m}"), None);
        assert_eq!(parse_chunk(b"x"), None);
        assert_eq!(parse_chunk(b""), None);
    }
}
