//! Holds `mb` MiB of guest memory at once, touching every page so the growth is real; or, with
//! `single_mb`, asks for that much in one allocation.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

use clickrules::handler::host::config;

struct Alloc;

impl Guest for Alloc {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        if let Some(single) = config("single_mb") {
            let mb = single
                .parse::<usize>()
                .map_err(|e| format!("single_mb: {e}"))?;
            let block = std::hint::black_box(vec![1u8; mb << 20]);
            return Ok(vec![Action::Ignore(format!(
                "one block of {} MiB",
                block.len() >> 20
            ))]);
        }
        let mb = config("mb")
            .ok_or("setting mb is required")?
            .parse::<usize>()
            .map_err(|e| format!("mb: {e}"))?;
        // One MiB at a time, as a growing program would, rather than one huge request.
        let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(mb);
        for n in 0..mb {
            let mut chunk = vec![0u8; 1 << 20];
            for page in chunk.chunks_mut(4096) {
                page[0] = n as u8;
            }
            chunks.push(std::hint::black_box(chunk));
        }
        Ok(vec![Action::Ignore(format!("held {} MiB", chunks.len()))])
    }
}

export!(Alloc);
