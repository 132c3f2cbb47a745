use super::*;

fn check(actions: &[Action]) -> Result<(), ValidationError> {
    validate_actions(actions, &ValidationPolicy::default())
}

#[test]
fn region_shapes() {
    for ok in [
        "us-west-1",
        "us-east-1",
        "ap-southeast-2",
        "eu-central-1",
        "us-gov-west-1",
        "cn-north-1",
        "us-isob-east-1",
        "eusc-de-east-1",
        "ap-southeast-7",
    ] {
        assert!(validate_region(ok), "{ok}");
    }
    for bad in [
        "",
        "us-west",
        "US-WEST-1",
        "us-west-01",
        "us_west_1",
        "us-west-1 ",
        "mars-north-1-a",
        "u-west-1",
        "us-west-100",
        "-west-1",
        "us--1",
        "us-west-1/../x",
    ] {
        assert!(!validate_region(bad), "{bad}");
    }
}

#[test]
fn ten_actions_obeyed_eleven_violated() {
    let ten = vec![Action::snapshot("us-west-1"); MAX_ACTIONS];
    assert_eq!(check(&ten), Ok(()));
    let eleven = vec![Action::snapshot("us-west-1"); MAX_ACTIONS + 1];
    assert_eq!(
        check(&eleven),
        Err(ValidationError::TooManyActions { count: 11, max: 10 })
    );
}

#[test]
fn subject_limits() {
    assert_eq!(check(&[Action::notify("x".repeat(100), "m")]), Ok(()));
    assert!(matches!(
        check(&[Action::notify("x".repeat(101), "m")]),
        Err(ValidationError::SubjectLength { len: 101, .. })
    ));
    assert!(matches!(
        check(&[Action::notify("", "m")]),
        Err(ValidationError::SubjectLength { len: 0, .. })
    ));
    assert!(matches!(
        check(&[Action::notify("bad\nline", "m")]),
        Err(ValidationError::SubjectNotPrintable {
            found: '\n',
            position: 3,
            ..
        })
    ));
    assert!(matches!(
        check(&[Action::notify("café", "m")]),
        Err(ValidationError::SubjectNotPrintable { found: 'é', .. })
    ));
}

#[test]
fn message_and_reason_limits() {
    assert_eq!(check(&[Action::notify("s", "m".repeat(4096))]), Ok(()));
    assert!(matches!(
        check(&[Action::notify("s", "m".repeat(4097))]),
        Err(ValidationError::MessageLength { len: 4097, .. })
    ));
    assert!(matches!(
        check(&[Action::notify("s", "")]),
        Err(ValidationError::MessageLength { len: 0, .. })
    ));
    assert_eq!(check(&[Action::ignore("r".repeat(256))]), Ok(()));
    assert!(matches!(
        check(&[Action::ignore("r".repeat(257))]),
        Err(ValidationError::IgnoreReasonTooLong { len: 257, .. })
    ));
}

#[test]
fn allow_list_and_position() {
    let policy = ValidationPolicy {
        allowed_regions: Some(vec!["us-west-1".into()]),
        ..ValidationPolicy::default()
    };
    let actions = [Action::snapshot("us-west-1"), Action::snapshot("eu-west-1")];
    assert!(matches!(
        validate_actions(&actions, &policy),
        Err(ValidationError::RegionNotAllowed { index: 1, .. })
    ));
    assert_eq!(validate_actions(&actions[..1], &policy), Ok(()));
}

#[test]
fn unknown_regions_are_refused_unless_unlisted_ones_are_allowed() {
    let mars = [Action::snapshot("mars-north-9")];
    assert!(matches!(
        check(&mars),
        Err(ValidationError::UnknownRegion { index: 0, .. })
    ));
    let open = ValidationPolicy {
        allow_unlisted_regions: true,
        ..ValidationPolicy::default()
    };
    assert_eq!(validate_actions(&mars, &open), Ok(()));
    // The opt-out accepts new codes, never malformed ones.
    assert!(matches!(
        validate_actions(&[Action::snapshot("not a region")], &open),
        Err(ValidationError::InvalidRegion { .. })
    ));
}

#[test]
fn huge_values_are_not_echoed() {
    let e = check(&[Action::snapshot("x".repeat(1 << 20))]).unwrap_err();
    assert!(e.to_string().len() < 200, "{e}");
}
