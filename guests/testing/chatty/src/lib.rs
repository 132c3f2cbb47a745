//! Talks a lot: `lines` lines each to stdout, stderr and host.log, then ignores the press;
//! with `log_mb`, first one host.log line of that many MiB.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

use clickrules::handler::host::{Level, config, log};

struct Chatty;

impl Guest for Chatty {
    fn handle(click: Click) -> Result<Vec<Action>, String> {
        let lines = match config("lines") {
            Some(n) => n.parse::<usize>().map_err(|e| format!("lines: {e}"))?,
            None => 1,
        };
        if let Some(mb) = config("log_mb") {
            let mb = mb.parse::<usize>().map_err(|e| format!("log_mb: {e}"))?;
            log(Level::Info, &"x".repeat(mb << 20));
        }
        for n in 0..lines {
            println!("stdout line {n} for {}", click.serial_number);
            eprintln!("stderr line {n}");
            let level = [Level::Debug, Level::Info, Level::Warn, Level::Error][n % 4];
            log(level, &format!("log line {n}"));
        }
        Ok(vec![Action::Ignore("chatty".to_string())])
    }
}

export!(Chatty);
