//! `qSupported` and `QStartNoAckMode`: the handshake.
//!
//! GDB manual, "General Query Packets", `qSupported [:gdbfeature [;gdbfeature]...]`:
//! the client lists what it understands; the stub answers with its own
//! features, each `name=value`, `name+`, `name-` or `name?`. `PacketSize=N` (hex)
//! is the largest packet the stub accepts. QEMU answers
//! `PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+`.
//!
//! "Packet Acknowledgment": `QStartNoAckMode` asks to stop sending `+`/`-`.
//! `OK` switches both sides off acks; QEMU answers empty, so acks stay on.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rsp::client::RspClient;
use crate::rsp::error::Result;

/// The features the client announces.
pub(crate) const CLIENT_FEATURES: &str =
    "qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+;no-resumed+";

/// One stub feature from a `qSupported` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FeatureValue {
    /// `name+`
    Supported,
    /// `name-`
    Unsupported,
    /// `name?`
    Maybe,
    /// `name=value`
    Value(String),
}

/// The stub's `qSupported` reply, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFeatures {
    entries: Vec<(String, FeatureValue)>,
}

impl ServerFeatures {
    /// Parses `PacketSize=1000;qXfer:features:read+;...`. Entries it cannot
    /// read are skipped; an empty reply gives no features.
    pub(crate) fn parse(reply: &[u8]) -> ServerFeatures {
        let text = String::from_utf8_lossy(reply);
        let entries = text
            .split(';')
            .filter(|e| !e.is_empty())
            .map(|e| {
                if let Some((k, v)) = e.split_once('=') {
                    (k.to_string(), FeatureValue::Value(v.to_string()))
                } else if let Some(k) = e.strip_suffix('+') {
                    (k.to_string(), FeatureValue::Supported)
                } else if let Some(k) = e.strip_suffix('-') {
                    (k.to_string(), FeatureValue::Unsupported)
                } else if let Some(k) = e.strip_suffix('?') {
                    (k.to_string(), FeatureValue::Maybe)
                } else {
                    (e.to_string(), FeatureValue::Supported)
                }
            })
            .collect();
        ServerFeatures { entries }
    }

    /// The value recorded for a feature.
    pub(crate) fn get(&self, name: &str) -> Option<&FeatureValue> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// True for `name+` (or a `name=value`).
    pub fn supports(&self, name: &str) -> bool {
        matches!(
            self.get(name),
            Some(FeatureValue::Supported | FeatureValue::Value(_))
        )
    }

    /// `PacketSize`, in bytes.
    pub(crate) fn packet_size(&self) -> Option<usize> {
        match self.get("PacketSize") {
            Some(FeatureValue::Value(v)) => {
                crate::rsp::hex::parse_u64(v.as_bytes()).and_then(|n| usize::try_from(n).ok())
            }
            _ => None,
        }
    }

    /// All entries in reply order.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[(String, FeatureValue)] {
        &self.entries
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// Runs `qSupported`, then tries `QStartNoAckMode`. Returns the stub's features.
    pub async fn handshake(&mut self) -> Result<&ServerFeatures> {
        let reply = self.request(CLIENT_FEATURES).await?;
        self.features = Some(ServerFeatures::parse(&reply));
        // QEMU answers empty (no no-ack mode): keep acking. Any stub that says
        // OK gets its OK acknowledged (by receive_reply) before acks stop.
        let reply = self.request("QStartNoAckMode").await?;
        if reply == b"OK" {
            self.conn.no_ack = true;
        }
        Ok(self.features.get_or_insert_with(ServerFeatures::default))
    }

    /// The stub's features (`None` before [`RspClient::handshake`]).
    pub fn server_features(&self) -> Option<&ServerFeatures> {
        self.features.as_ref()
    }

    /// The largest packet the stub takes: its `PacketSize`, or 400 bytes
    /// (a conservative size) when it did not say.
    pub fn packet_size(&self) -> usize {
        self.features
            .as_ref()
            .and_then(ServerFeatures::packet_size)
            .unwrap_or(0x400)
            .clamp(64, self.config.max_packet_len)
    }

    /// True when the stub speaks the multiprocess thread-id syntax `pPID.TID`.
    pub fn multiprocess(&self) -> bool {
        self.features
            .as_ref()
            .is_some_and(|f| f.supports("multiprocess"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_reply() {
        let f = ServerFeatures::parse(
            b"PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+",
        );
        assert_eq!(f.packet_size(), Some(4096));
        assert!(f.supports("qXfer:features:read"));
        assert!(f.supports("multiprocess"));
        assert!(!f.supports("QStartNoAckMode"));
        let f = ServerFeatures::parse(b"swbreak-;hwbreak?;odd;;PacketSize=zz");
        assert_eq!(f.get("swbreak"), Some(&FeatureValue::Unsupported));
        assert_eq!(f.get("hwbreak"), Some(&FeatureValue::Maybe));
        assert!(f.supports("odd"));
        assert_eq!(f.packet_size(), None);
        assert!(ServerFeatures::parse(b"").entries().is_empty());
    }
}
