//! The `b24-server` binary: parse the command line, set up logging, run.

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// mimalloc: answers are built from many small JSON maps and strings; glibc's allocator showed up
/// as the largest cost in profiles of list pages (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = b24_server::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cli.blocking_threads())
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: could not start the async runtime: {e}"
            );
            ExitCode::from(2)
        }
    }
}

/// Log output that can never fail: a write error (stderr closed, or a log pipe whose reader has
/// exited: EPIPE) drops the line instead of failing. tracing-subscriber would otherwise report the
/// failure with `eprint!`, which panics when stderr is gone, killing the task that logged — the
/// request being answered, or the task that starts the graceful shutdown.
struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

async fn run(cli: b24_server::cli::Cli) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("B24_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(|| LossyStderr)
        .log_internal_errors(false)
        .init();
    match b24_server::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}
