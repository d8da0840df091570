//! `sessionctl parse [FILE|-]`: parses one SIP message (datagram rules: Content-Length
//! frames the body, trailing bytes are ignored) and prints it normalised on stdout, or
//! prints what is wrong and where on stderr.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use session_core::sip::Message;

/// Runs the subcommand. `None` or `-` reads stdin. Exit 0 when the message parses,
/// 1 when it does not or cannot be read.
pub fn run(file: Option<&Path>) -> ExitCode {
    let from_stdin = file.is_none_or(|p| p == Path::new("-"));
    let source = if from_stdin {
        "<stdin>".to_owned()
    } else {
        file.map(|p| p.display().to_string()).unwrap_or_default()
    };
    let mut bytes = Vec::new();
    let read = if from_stdin {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(file.unwrap_or(Path::new("-"))).map(|b| bytes = b)
    };
    if let Err(e) = read {
        eprintln!("sessionctl parse: {source}: {e}");
        return ExitCode::FAILURE;
    }
    let code = match Message::parse(&bytes) {
        Ok(message) => {
            let mut out = Vec::with_capacity(bytes.len() + 64);
            message.write_normalized(&mut out);
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(&out)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sessionctl parse: {source}: {e}");
            ExitCode::FAILURE
        }
    };
    code
}
