//! Tries, in turn, each thing a guest is denied (`try` setting: env, args, file, list, socket,
//! dns, stdin) and returns `ignore("<what happened>")`, so tests can assert the denial.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

use std::io::Read;

use clickrules::handler::host::config;

struct Sneaky;

impl Guest for Sneaky {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        let attempt = config("try").ok_or("setting try is required")?;
        let outcome = match attempt.as_str() {
            "env" => format!(
                "env: {} vars, HOME={:?}",
                std::env::vars().count(),
                std::env::var("HOME").ok()
            ),
            "args" => format!("args: {}", std::env::args().count()),
            "file" => match std::fs::read("/etc/passwd") {
                Ok(bytes) => format!("file: read {} bytes", bytes.len()),
                Err(e) => format!("file: denied ({})", e.kind()),
            },
            "list" => match std::fs::read_dir("/") {
                Ok(entries) => format!("list: {} entries", entries.count()),
                Err(e) => format!("list: denied ({})", e.kind()),
            },
            "socket" => match std::net::TcpStream::connect("127.0.0.1:80") {
                Ok(_) => "socket: connected".to_string(),
                Err(e) => format!("socket: denied ({})", e.kind()),
            },
            "dns" => match std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80)) {
                Ok(addrs) => format!("dns: resolved {}", addrs.count()),
                Err(e) => format!("dns: denied ({})", e.kind()),
            },
            "stdin" => {
                let mut buf = Vec::new();
                match std::io::stdin().read_to_end(&mut buf) {
                    Ok(n) => format!("stdin: {n} bytes"),
                    Err(e) => format!("stdin: denied ({})", e.kind()),
                }
            }
            other => return Err(format!("unknown attempt {other:?}")),
        };
        Ok(vec![Action::Ignore(outcome)])
    }
}

export!(Sneaky);
