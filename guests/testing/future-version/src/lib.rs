//! The same world as clickrules:handler@0.1.0 but versioned 0.3.0, as a guest built against a
//! newer contract than the host implements would be.

wit_bindgen::generate!({
    inline: r#"
package clickrules:handler@0.3.0;

interface types {
    /// How the button was pressed (long = held over 1.5 s).
    enum click-type { single, double, long }

    /// One press, normalised by the host from whichever event format delivered it.
    record click {
        serial-number: string,
        click-type: click-type,
        /// "1705mV" -> 1705, when the device reports it.
        battery-mv: option<u32>,
        /// When the host received the press, ms since the Unix epoch.
        received-at-ms: u64,
    }

    record notification { subject: string, message: string }

    variant action {
        /// Back up this region: invoke the snapshot function with {"region": "<region>"}.
        snapshot(string),
        /// Publish to the deployment's notification topic.
        notify(notification),
        /// Deliberately do nothing; the reason is logged.
        ignore(string),
    }
}

/// Everything the host offers a guest.
interface host {
    enum level { debug, info, warn, error }
    log: func(level: level, message: string);
    /// A deployment setting such as "region"; none when unset.
    config: func(key: string) -> option<string>;
}

world click-handler {
    use types.{click, action};
    import host;
    export handle: func(click: click) -> result<list<action>, string>;
}
    "#,
    world: "click-handler",
});

use clickrules::handler::host::config;

struct Future;

impl Guest for Future {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        Ok(vec![Action::Snapshot(config("region").unwrap_or_default())])
    }
}

export!(Future);
