//! The three timeouts, and what `refresh` does about them.
//!
//! Elapsed times count from creation (absolute), from the last save (creation + rolling
//! offset) and from the last touch (+ idling offset). A timeout is exceeded only when the
//! elapsed time is strictly greater; 0 disables it; a creation time in the future is fine
//! (elapsed times are then negative).

use super::error::SessionError;
use super::header::{Header, MAX_IDLING_OFFSET, MAX_ROLLING_OFFSET};
use super::settings::SessionSettings;

/// The library's default: an idle session is touched at most once a minute.
pub const DEFAULT_TOUCH_THRESHOLD: u64 = 60;

fn absolute_elapsed(header: &Header, now: u64) -> i128 {
    i128::from(now) - i128::from(header.created_at)
}

fn rolling_elapsed(header: &Header, now: u64) -> i128 {
    absolute_elapsed(header, now) - i128::from(header.rolling_offset)
}

fn idling_elapsed(header: &Header, now: u64) -> i128 {
    rolling_elapsed(header, now) - i128::from(header.idling_offset)
}

fn exceeded(elapsed: i128, timeout: u64) -> bool {
    timeout != 0 && elapsed > i128::from(timeout)
}

/// Checks in the library's order: absolute, rolling, idling.
pub fn check(header: &Header, settings: &SessionSettings, now: u64) -> Result<(), SessionError> {
    let absolute = absolute_elapsed(header, now);
    if absolute > i128::from(MAX_ROLLING_OFFSET) {
        return Err(SessionError::LifetimeExceeded);
    }
    if exceeded(absolute, settings.absolute_timeout) {
        return Err(SessionError::AbsoluteTimeout);
    }
    if exceeded(rolling_elapsed(header, now), settings.rolling_timeout) {
        return Err(SessionError::RollingTimeout);
    }
    if exceeded(idling_elapsed(header, now), settings.idling_timeout) {
        return Err(SessionError::IdlingTimeout);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshAction {
    Nothing,
    /// Save again (new sid): three quarters of the rolling timeout are spent.
    Renew,
    /// Re-send the first cookie with a new idling offset.
    Touch,
}

/// The library's refresh rule for a session read at `now` and not modified.
pub fn refresh_action(
    header: &Header,
    settings: &SessionSettings,
    touch_threshold: u64,
    now: u64,
) -> RefreshAction {
    if settings.rolling_timeout == 0 && settings.idling_timeout == 0 {
        return RefreshAction::Nothing;
    }
    let rolling = rolling_elapsed(header, now);
    // The library computes 0.75 * timeout and rounds up (its `floor` is bound to math.ceil).
    let renew_after = (i128::from(settings.rolling_timeout) * 3 + 3) / 4;
    if settings.rolling_timeout > 0 && rolling > renew_after {
        return RefreshAction::Renew;
    }
    if settings.idling_timeout > 0 && idling_elapsed(header, now) > i128::from(touch_threshold) {
        return RefreshAction::Touch;
    }
    RefreshAction::Nothing
}

/// The idling offset a touch at `now` writes: seconds since the last save, within 0..2^24-1.
pub fn touch_idling_offset(header: &Header, now: u64) -> u32 {
    rolling_elapsed(header, now).clamp(0, i128::from(MAX_IDLING_OFFSET)) as u32
}

/// The rolling offset a save at `now` writes for a session created at `created_at`.
/// A creation time in the future (clock step back) writes 0 rather than a wrapped value.
pub fn save_rolling_offset(created_at: u64, now: u64) -> Result<u32, SessionError> {
    let offset = now.saturating_sub(created_at);
    u32::try_from(offset).map_err(|_| SessionError::RollingOffsetOverflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::header::COOKIE_TYPE;

    fn header(created_at: u64, rolling_offset: u32, idling_offset: u32) -> Header {
        Header {
            cookie_type: COOKIE_TYPE,
            flags: 0,
            sid: [0; 32],
            created_at,
            rolling_offset,
            data_size: 0,
            tag: [0; 16],
            idling_offset,
            mac: [0; 16],
        }
    }

    #[test]
    fn boundaries_are_inclusive() {
        let s = SessionSettings::default();
        let h = header(1000, 0, 0);
        assert_eq!(check(&h, &s, 1900), Ok(()));
        assert_eq!(check(&h, &s, 1901), Err(SessionError::IdlingTimeout));
        let h = header(1000, 3000, 0);
        assert_eq!(check(&h, &s, 4900), Ok(()));
        let no_idle = SessionSettings {
            idling_timeout: 0,
            ..s.clone()
        };
        assert_eq!(check(&header(1000, 0, 0), &no_idle, 4600), Ok(()));
        assert_eq!(
            check(&header(1000, 0, 0), &no_idle, 4601),
            Err(SessionError::RollingTimeout)
        );
        let only_absolute = SessionSettings {
            idling_timeout: 0,
            rolling_timeout: 0,
            ..s.clone()
        };
        assert_eq!(check(&header(1000, 0, 0), &only_absolute, 87400), Ok(()));
        assert_eq!(
            check(&header(1000, 0, 0), &only_absolute, 87401),
            Err(SessionError::AbsoluteTimeout)
        );
    }

    #[test]
    fn order_and_lifetime() {
        let s = SessionSettings::default();
        // Everything exceeded: absolute is reported first.
        assert_eq!(
            check(&header(1000, 0, 0), &s, 1_000_000),
            Err(SessionError::AbsoluteTimeout)
        );
        let never = SessionSettings {
            idling_timeout: 0,
            rolling_timeout: 0,
            absolute_timeout: 0,
            ..s
        };
        assert_eq!(check(&header(0, 0, 0), &never, u64::from(u32::MAX)), Ok(()));
        assert_eq!(
            check(&header(0, 0, 0), &never, u64::from(u32::MAX) + 1),
            Err(SessionError::LifetimeExceeded)
        );
        assert_eq!(
            check(&header(5000, 0, 0), &never, 0),
            Ok(()),
            "future creation is accepted"
        );
    }

    #[test]
    fn refresh_rules() {
        let s = SessionSettings::default();
        let h = header(1000, 0, 0);
        assert_eq!(refresh_action(&h, &s, 60, 1060), RefreshAction::Nothing);
        assert_eq!(refresh_action(&h, &s, 60, 1061), RefreshAction::Touch);
        assert_eq!(refresh_action(&h, &s, 60, 3700), RefreshAction::Touch);
        assert_eq!(refresh_action(&h, &s, 60, 3701), RefreshAction::Renew);
        let touched = header(1000, 0, 600);
        assert_eq!(
            refresh_action(&touched, &s, 60, 1660),
            RefreshAction::Nothing
        );
        let odd = SessionSettings {
            rolling_timeout: 1001,
            ..s.clone()
        };
        assert_eq!(
            refresh_action(&header(0, 0, 700), &odd, 60, 751),
            RefreshAction::Nothing
        );
        assert_eq!(
            refresh_action(&header(0, 0, 700), &odd, 60, 752),
            RefreshAction::Renew
        );
        let off = SessionSettings {
            rolling_timeout: 0,
            idling_timeout: 0,
            ..s
        };
        assert_eq!(refresh_action(&h, &off, 60, 80000), RefreshAction::Nothing);
    }

    #[test]
    fn offsets() {
        assert_eq!(touch_idling_offset(&header(1000, 100, 7), 1400), 300);
        assert_eq!(touch_idling_offset(&header(1000, 100, 7), 10), 0);
        assert_eq!(
            touch_idling_offset(&header(0, 0, 0), 1 << 30),
            (1 << 24) - 1
        );
        assert_eq!(save_rolling_offset(1000, 1800), Ok(800));
        assert_eq!(save_rolling_offset(1000, 10), Ok(0));
        assert_eq!(
            save_rolling_offset(0, 1 << 33),
            Err(SessionError::RollingOffsetOverflow)
        );
    }
}
