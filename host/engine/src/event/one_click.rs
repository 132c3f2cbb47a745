//! AWS IoT 1-Click device events (the service ended on 2024-12-16; devices already claimed
//! kept sending). Every documented shape is accepted: `placementInfo` only comes with devices
//! in a placement, `remainingLife` is a percentage and may be absent.
//! <https://docs.aws.amazon.com/iot-1-click/latest/developerguide/1click-events.html>

use serde_json::{Map, Value};

use super::fields::Fields;
use super::iot_button::classic_click_type;
use super::{Click, EventError, EventFormat, Parsed};

const FORMAT: &str = "IoT 1-Click";

pub(crate) fn parse(map: &Map<String, Value>, received_at_ms: u64) -> Result<Parsed, EventError> {
    let top = Fields::new(FORMAT, map);
    let device_event = top.object("deviceEvent")?;
    let device_event = Fields {
        path: "deviceEvent",
        ..Fields::new(FORMAT, device_event)
    };
    let clicked = device_event.object("buttonClicked")?;
    let clicked = Fields {
        path: "deviceEvent.buttonClicked",
        ..Fields::new(FORMAT, clicked)
    };
    let click_type = classic_click_type(
        clicked.opt_str("clickType")?,
        FORMAT,
        &clicked.path_of("clickType"),
    )?;
    let info = top.object("deviceInfo")?;
    let info = Fields {
        path: "deviceInfo",
        ..Fields::new(FORMAT, info)
    };
    let serial_number = info.serial("deviceId")?;
    // remainingLife is documented as a percentage of the battery's life left.
    let battery_pct = info.opt_percent("remainingLife")?;
    if let Some(placement) = top.get("placementInfo")
        && !placement.is_object()
    {
        return Err(top.invalid("placementInfo", placement, "an object"));
    }
    Ok(Parsed::one(Click {
        battery_pct,
        source: EventFormat::IotOneClick.as_str().into(),
        ..Click::new(serial_number, click_type, None, received_at_ms)
    }))
}
