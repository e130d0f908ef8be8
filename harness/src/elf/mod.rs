//! ELF symbols and DWARF source lines for the firmware under test.
