//! RISC-V decoding: trap causes, CSR bit fields, privilege levels and
//! page-table entries.
//!
//! Everything here is pure: values in, named fields out. The usual entry
//! point is [`decode_csr`], which picks a decoder by register name:
//!
//! ```
//! use hvharness::decode_csr;
//!
//! let d = decode_csr("henvcfg", 0x8000000000000000);
//! assert_eq!(d.get("ADUE"), Some(0));
//! assert!(d.to_string().starts_with("henvcfg = 0x8000000000000000 { STCE=1 PBMTE=0 ADUE=0 "));
//! assert!(d.snapshot().contains("henvcfg.ADUE = 0\n"));
//! ```
//!
//! Layouts are RV64's, from the privileged specification 1.13 and the
//! extensions named in each module.

pub(crate) mod atp;
pub(crate) mod cause;
pub(crate) mod counteren;
pub mod envcfg;
pub(crate) mod fields;
pub(crate) mod privilege;
pub(crate) mod pte;
pub(crate) mod registry;
pub(crate) mod sets;
pub(crate) mod status;
pub(crate) mod trap;

pub use atp::{Atp, AtpMode};
pub use cause::{guest_physical_address, Cause};
pub use fields::DecodedCsr;
pub use privilege::{Level, PrivilegeLevel};
pub use pte::{Access, Pte};
pub use registry::{decode_csr, is_known_csr, KNOWN_CSRS};
pub use trap::TrapTarget;
