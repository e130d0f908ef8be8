//! The `hvharness` binary: the command line lives in the library (`cli`).

fn main() -> std::process::ExitCode {
    hvharness::cli_main()
}
