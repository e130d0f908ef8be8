//! Writing to stdout when the reader may be gone.
//!
//! `hvharness run --json | head -c 10` closes the pipe while the harness
//! still writes; Rust's `print!` then panics. Everything the CLI prints goes
//! through [`out!`](crate::out) / [`outln!`](crate::outln) instead: a closed
//! stdout (EPIPE) ends the program quietly with status 141 — 128 + SIGPIPE,
//! what a shell reports for a writer killed by a closed pipe (`yes | head`),
//! so `set -o pipefail` scripts see the usual status — after the same
//! clean-up as a signal (QEMU and builds killed, session directories
//! removed). Another write error (a full disk behind a redirection) ends it
//! with the environment-error status and a message on stderr.
//!
//! stderr gets the same treatment through a panic hook ([`install`]):
//! messages go to stderr with `eprintln!` from everywhere, and a closed
//! stderr must not turn into a crash either.

use std::io::Write;

/// Exit status when stdout or stderr was closed by the reader: 128 + SIGPIPE (13).
pub(crate) const EXIT_CLOSED_OUTPUT: i32 = 141;

/// Writes formatted text to stdout; ends the program on a write error (see
/// the module docs). Used by [`out!`](crate::out) and [`outln!`](crate::outln).
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|_| stdout.flush()) {
        drop(stdout);
        fail(e);
    }
}

fn fail(e: std::io::Error) -> ! {
    crate::signals::clean_up_for_exit();
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_CLOSED_OUTPUT);
    }
    // stderr may be gone too; nothing more to do then.
    let _ = writeln!(std::io::stderr(), "hvharness: cannot write to stdout: {e}");
    std::process::exit(i32::from(super::EXIT_ENV));
}

/// Installs the panic hook that turns "failed printing to stderr/stdout"
/// (from `eprintln!` or a stray `print!`) into a quiet exit after the
/// clean-up: [`EXIT_CLOSED_OUTPUT`] for a closed pipe, the environment-error
/// status otherwise (a hung-up terminal, EIO, leaves the exit to the SIGHUP
/// handler). Every other panic goes to the default hook.
pub fn install() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to std") {
            if crate::signals::interrupted() {
                // A hung-up terminal (EIO) while the SIGHUP handler cleans up:
                // it ends the process with its own status.
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
            crate::signals::clean_up_for_exit();
            std::process::exit(if msg.contains("Broken pipe") {
                EXIT_CLOSED_OUTPUT
            } else {
                i32::from(super::EXIT_ENV)
            });
        }
        default(info);
    }));
}

/// `print!` for the CLI: a closed stdout ends the program quietly (status 141).
#[macro_export]
#[doc(hidden)]
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::out::write(format_args!($($arg)*)) };
}

/// `println!` for the CLI: a closed stdout ends the program quietly (status 141).
#[macro_export]
#[doc(hidden)]
macro_rules! outln {
    () => { $crate::cli::out::write(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
