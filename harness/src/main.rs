//! The `hvharness` binary: parses the command line and runs it (see `hvharness::cli`).

use std::process::ExitCode;

use clap::Parser;
use hvharness::cli::{dispatch, error_json, Cli, EXIT_ENV};

fn main() -> ExitCode {
    hvharness::cli::out::install();
    let cli = Cli::parse();
    let json = cli.wants_json();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hvharness: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ENV);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            if hvharness::signals::interrupted() {
                // The signal handler is cleaning up and exits with 128 + the
                // signal's number; dropping the runtime now would cut it short.
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
            eprintln!("hvharness: error: {e:#}");
            if json {
                hvharness::outln!("{}", error_json(&e, EXIT_ENV));
            }
            ExitCode::from(EXIT_ENV)
        }
    }
}
