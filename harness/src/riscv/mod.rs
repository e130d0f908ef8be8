//! RISC-V decoding: trap causes, CSR bit fields, privilege levels.
