//! The README's table of `CLICKRULES_*` variables is the settings code's own table, so the docs
//! cannot drift from what the Lambda reads. Run with `CLICKRULES_BLESS=1` to rewrite it.

use std::path::Path;

const BEGIN: &str = "<!-- variables:begin -->\n";
const END: &str = "<!-- variables:end -->";

#[test]
fn the_readme_lists_every_variable_the_settings_read() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("README has the variables markers")
        + BEGIN.len();
    let end = readme[start..]
        .find(END)
        .expect("README has the end marker")
        + start;
    let table = clickrules_aws::settings::markdown_table();
    if std::env::var_os("CLICKRULES_BLESS").is_some() {
        let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        table,
        "README.md's variable table is stale: run CLICKRULES_BLESS=1 cargo test -p clickrules-tests --test readme_variables"
    );
    for variable in clickrules_aws::settings::VARIABLES {
        assert!(readme.contains(variable.name), "{}", variable.name);
    }
}
