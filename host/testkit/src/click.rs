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
                source: "iot-button".into(),
                ..clickrules_engine::Click::new(TEST_SERIAL, click_type, None, TEST_RECEIVED_AT_MS)
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

    /// A triple press (contract 0.2.0; a 0.1.0 guest is never asked).
    pub fn triple() -> Self {
        Self::new(ClickType::Triple)
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

    /// The battery charge the device reports, 0 to 100.
    pub fn battery_pct(mut self, pct: u8) -> Self {
        self.inner.battery_pct = Some(pct);
        self
    }

    /// Which event format delivered it (`iot-button`, `shelly-gen2`, ...).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.inner.source = source.into();
        self
    }

    /// The press's id (the ledger's).
    pub fn press_id(mut self, id: impl Into<String>) -> Self {
        self.inner.press_id = id.into();
        self
    }

    /// The deployment's offset from UTC, in minutes (from `CLICKRULES_TIMEZONE`).
    pub fn utc_offset_minutes(mut self, minutes: i32) -> Self {
        self.inner.utc_offset_minutes = minutes;
        self
    }

    /// The device's id (its serial number), as state is keyed by it.
    pub fn device(&self) -> &str {
        &self.inner.serial_number
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
