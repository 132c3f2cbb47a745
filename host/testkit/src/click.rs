//! Presses to test with: `Click::single()`, `Click::double().battery_mv(1400)`, ...

use clickrules_engine::ClickType;

/// The serial number a test press carries unless [`Click::serial`] sets one.
pub const TEST_SERIAL: &str = "G030TESTKIT00001";
/// The time a test press carries unless [`Click::received_at_ms`] sets one (2025-11-25), so a
/// guest that reads it decides the same on every run.
pub const TEST_RECEIVED_AT_MS: u64 = 1_764_100_000_000;

/// One press as the host hands it to the guest, built for a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    inner: clickrules_engine::Click,
}

impl Click {
    /// A press of this type, from [`TEST_SERIAL`], battery not reported.
    pub fn new(click_type: ClickType) -> Self {
        Self {
            inner: clickrules_engine::Click {
                serial_number: TEST_SERIAL.to_string(),
                click_type,
                battery_mv: None,
                received_at_ms: TEST_RECEIVED_AT_MS,
            },
        }
    }

    /// A single press.
    pub fn single() -> Self {
        Self::new(ClickType::Single)
    }

    /// A double press.
    pub fn double() -> Self {
        Self::new(ClickType::Double)
    }

    /// A long press (held over 1.5 s).
    pub fn long() -> Self {
        Self::new(ClickType::Long)
    }

    /// The battery voltage the device reports, in millivolts.
    pub fn battery_mv(mut self, mv: u32) -> Self {
        self.inner.battery_mv = Some(mv);
        self
    }

    /// The button's serial number.
    pub fn serial(mut self, serial: impl Into<String>) -> Self {
        self.inner.serial_number = serial.into();
        self
    }

    /// When the host received the press, in ms since the Unix epoch.
    pub fn received_at_ms(mut self, ms: u64) -> Self {
        self.inner.received_at_ms = ms;
        self
    }
}

impl From<Click> for clickrules_engine::Click {
    fn from(click: Click) -> Self {
        click.inner
    }
}
