//! The AWS regions `snapshot` may name: one list, in one place.
//!
//! Only the shape of a region code used to be checked, so `snapshot("mars-north-9")` reached
//! `lambda:Invoke`. A deployment that needs a region added after this release sets
//! `CLICKRULES_ALLOW_UNLISTED_REGIONS=true` (any well-formed code) until it upgrades.
//!
//! To update: compare with the regions AWS publishes (`aws ssm get-parameters-by-path --path
//! /aws/service/global-infrastructure/regions --query 'Parameters[].Value'`, plus the China,
//! GovCloud, European Sovereign Cloud and ISO partitions from botocore's `endpoints.json`),
//! keep the list sorted, and add the new codes to the test below.

/// Every region code this release knows, sorted.
pub const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-isoe-west-1",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-west-1",
    "us-west-2",
];

/// Whether `region` is in [`KNOWN_REGIONS`].
pub fn is_known_region(region: &str) -> bool {
    KNOWN_REGIONS.binary_search(&region).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::validate_region;

    #[test]
    fn the_list_is_sorted_unique_and_well_formed() {
        assert!(KNOWN_REGIONS.windows(2).all(|w| w[0] < w[1]));
        for region in KNOWN_REGIONS {
            assert!(validate_region(region), "{region}");
        }
    }

    #[test]
    fn real_regions_are_known_and_invented_ones_are_not() {
        for real in [
            "us-west-1",
            "us-east-1",
            "eu-central-2",
            "ap-southeast-7",
            "mx-central-1",
        ] {
            assert!(is_known_region(real), "{real}");
        }
        for invented in ["mars-north-9", "us-west-9", "eu-moon-1", "us-west-1 "] {
            assert!(!is_known_region(invented), "{invented}");
        }
    }
}
