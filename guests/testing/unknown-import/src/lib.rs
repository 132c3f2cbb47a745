//! Implements click-handler's export but also imports `acme:telemetry/sink`, which no
//! clickrules host offers, so loading it must fail and name that import.

wit_bindgen::generate!({
    inline: r#"
        package acme:telemetry@1.0.0;
        interface sink { send: func(event: string); }
        world needs-telemetry {
            include clickrules:handler/click-handler@0.1.0;
            import sink;
        }
    "#,
    path: ["../../../wit"],
    world: "acme:telemetry/needs-telemetry@1.0.0",
    generate_all,
});

struct NeedsTelemetry;

impl Guest for NeedsTelemetry {
    fn handle(click: Click) -> Result<Vec<Action>, String> {
        acme::telemetry::sink::send(&click.serial_number);
        Ok(vec![Action::Ignore("sent".to_string())])
    }
}

export!(NeedsTelemetry);
