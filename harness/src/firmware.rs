//! Building the firmware under test with make.
