//! A valid component for some other world: it exports `greet`, not `handle`.

wit_bindgen::generate!({
    inline: r#"
        package test:wrong;
        world other { export greet: func(name: string) -> string; }
    "#,
    world: "other",
});

struct Other;

impl Guest for Other {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Other);
