//! `/_b24/clock`: the portal's time, moved by the test instead of waited for. "Advance 3601 s,
//! the next call answers 401 `expired_token`" takes milliseconds. The clock moves forward only
//! (Stripe's rule for test clocks): going back would let tokens and codes come back to life and
//! make limiter windows run backwards; `DELETE` (and reset) return to real time.
//!
//! The setting (an offset from real time, and the instant time stands still at when frozen) is
//! stored with the portal, changed in one transaction with the portal row locked, and applied to
//! this process's [`crate::clock::PortalClock`] at once; other processes on the database pick it
//! up within a second.

use super::{blocking, AdminJson, AdminPortal, AdminScope, ControlError, ControlResult};
use crate::clock::iso;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{PortalId, Store};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The routes of this family.
pub fn routes() -> Router<AppState> {
    Router::new().route("/clock", get(show).post(change).delete(real_time))
}

/// The latest instant the clock can show (9999-12-31T23:59:59Z): dates stay four-digit years.
const LATEST: f64 = 253_402_300_799.0;

/// The stored setting: seconds added to real time, and the instant time stands still at.
pub type ClockSetting = (f64, Option<f64>);

/// A change to the portal clock.
#[derive(Debug, Clone, PartialEq)]
pub enum ClockChange {
    /// Move forward by this many seconds (frozen or not).
    Advance(f64),
    /// Move forward to this Unix time.
    Set(f64),
    /// Stand still at the current instant (`true`), or run again from where it stands (`false`).
    Freeze(bool),
    /// Back to real time.
    Real,
}

/// The portal clock as the admin API and the CLI show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClockView {
    /// The portal's time, ISO-8601.
    pub now: String,
    /// How far the portal's time is ahead of real time, in seconds (to the millisecond).
    pub offset_s: f64,
    /// Whether time stands still.
    pub frozen: bool,
}

impl ClockView {
    /// The view of a stored setting at real time `base_now`.
    pub fn of(setting: (f64, Option<f64>), base_now: f64) -> Self {
        let now = portal_now(setting, base_now);
        Self {
            now: iso(now),
            offset_s: ((now - base_now) * 1000.0).round() / 1000.0,
            frozen: setting.1.is_some(),
        }
    }
}

/// The portal's time under a setting, at real time `base_now`.
fn portal_now((offset, frozen_at): (f64, Option<f64>), base_now: f64) -> f64 {
    frozen_at.unwrap_or(base_now + offset)
}

/// The setting after `change`, or why the change is refused (the clock only moves forward).
pub fn apply(
    setting: (f64, Option<f64>),
    base_now: f64,
    change: &ClockChange,
) -> Result<(f64, Option<f64>), String> {
    let (offset, frozen_at) = setting;
    let now = portal_now(setting, base_now);
    let within = |at: f64| {
        if at <= LATEST {
            Ok(())
        } else {
            Err("The clock cannot go past 9999-12-31T23:59:59Z".to_string())
        }
    };
    match *change {
        ClockChange::Advance(seconds) => {
            if !seconds.is_finite() || seconds < 0.0 {
                return Err(format!(
                    "advance_s must be a number of seconds, 0 or more (got {seconds}): the clock only moves forward; DELETE /_b24/clock (b24-server clock real) returns to real time"
                ));
            }
            within(now + seconds)?;
            Ok((offset + seconds, frozen_at.map(|at| at + seconds)))
        }
        ClockChange::Set(at) => {
            if at < now {
                return Err(format!(
                    "set {} is before the portal's time {}: the clock only moves forward; DELETE /_b24/clock (b24-server clock real) returns to real time",
                    iso(at),
                    iso(now)
                ));
            }
            within(at)?;
            Ok((at - base_now, frozen_at.map(|_| at)))
        }
        ClockChange::Freeze(true) => Ok((now - base_now, Some(now))),
        ClockChange::Freeze(false) => Ok((now - base_now, None)),
        ClockChange::Real => Ok((0.0, None)),
    }
}

/// Applies `change` to the portal's stored clock in one transaction; `base_now` reads real
/// time (the server's base clock, or the system clock for the CLI). Returns the new setting and
/// its view, or why the change is refused (the caller's mistake: nothing was written).
pub fn change_clock(
    store: &Store,
    portal: PortalId,
    base_now: impl Fn() -> f64 + Send + Sync,
    change: &ClockChange,
) -> Result<Result<(ClockSetting, ClockView), String>, ApiError> {
    store.write(portal, |tx| {
        if tx.portal_row()?.is_none() {
            return Ok(Err(
                "There is no portal yet: start the server once to create it".into(),
            ));
        }
        let stored = tx.clock_setting_for_update()?;
        let base = base_now();
        match apply(stored, base, change) {
            Ok(setting) => {
                tx.set_clock_setting(setting.0, setting.1)?;
                // Set back (only returning to real time does): what was due a minute from the
                // portal's time is due a minute from its new time.
                let (before, after) = (portal_now(stored, base), portal_now(setting, base));
                if after < before {
                    tx.shift_outbox_back(before - after, after)?;
                }
                Ok(Ok((setting, ClockView::of(setting, base))))
            }
            Err(why) => Ok(Err(why)),
        }
    })
}

/// The body of `POST /_b24/clock`: exactly one of its fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRequest {
    /// Seconds to move forward.
    advance_s: Option<f64>,
    /// An RFC 3339 instant to move forward to.
    set: Option<String>,
    /// Stand still (`true`) or run again (`false`).
    freeze: Option<bool>,
}

/// An RFC 3339 instant (`2030-01-01T10:00:00Z`) as Unix seconds.
pub fn parse_instant(text: &str) -> Result<f64, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.timestamp() as f64 + f64::from(at.timestamp_subsec_micros()) / 1e6)
        .map_err(|e| {
            format!("set must be an RFC 3339 instant such as 2030-01-01T10:00:00Z ({text:?}: {e})")
        })
}

impl ClockRequest {
    fn change(self) -> Result<ClockChange, String> {
        match (self.advance_s, self.set, self.freeze) {
            (Some(seconds), None, None) => Ok(ClockChange::Advance(seconds)),
            (None, Some(at), None) => parse_instant(&at).map(ClockChange::Set),
            (None, None, Some(freeze)) => Ok(ClockChange::Freeze(freeze)),
            _ => Err(
                "Send exactly one of {\"advance_s\":SECONDS}, {\"set\":\"2030-01-01T10:00:00Z\"} or {\"freeze\":true|false}".into(),
            ),
        }
    }
}

/// `GET /_b24/clock`: the stored setting (another process may have changed it just now), which
/// this process then applies too.
async fn show(AdminScope(state): AdminScope, AdminPortal(portal): AdminPortal) -> ControlResult {
    let generation = state.portal_clock.generation();
    let setting = blocking(&state, move |store| {
        store.read(portal, |tx| tx.clock_setting())
    })
    .await?;
    state
        .portal_clock
        .set_if_unchanged(generation, setting.0, setting.1);
    let view = ClockView::of(setting, state.portal_clock.base_now());
    Ok(Json(to_value(&view)))
}

/// `POST /_b24/clock`.
async fn change(
    AdminScope(state): AdminScope,
    AdminPortal(portal): AdminPortal,
    AdminJson(request): AdminJson<ClockRequest>,
) -> ControlResult {
    let change = request.change().map_err(ControlError::bad_request)?;
    run(state, portal, change).await
}

/// `DELETE /_b24/clock`: real time again.
async fn real_time(
    AdminScope(state): AdminScope,
    AdminPortal(portal): AdminPortal,
) -> ControlResult {
    run(state, portal, ClockChange::Real).await
}

async fn run(state: AppState, portal: PortalId, change: ClockChange) -> ControlResult {
    let clock = state.portal_clock.clone();
    let changed = blocking(&state, move |store| {
        change_clock(store, portal, move || clock.base_now(), &change)
    })
    .await?;
    let (setting, view) = changed.map_err(ControlError::bad_request)?;
    state.portal_clock.set(setting.0, setting.1);
    // Retries may have fallen due: the sender looks now rather than at its next poll.
    state.wake_events();
    Ok(Json(to_value(&view)))
}

fn to_value(view: &ClockView) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: f64 = 1_800_000_000.0;

    #[test]
    fn advancing_moves_the_offset_and_a_frozen_instant_alike() {
        assert_eq!(
            apply((0.0, None), REAL, &ClockChange::Advance(3601.0)),
            Ok((3601.0, None))
        );
        assert_eq!(
            apply((10.0, Some(REAL + 5.0)), REAL, &ClockChange::Advance(60.0)),
            Ok((70.0, Some(REAL + 65.0)))
        );
        assert!(apply((0.0, None), REAL, &ClockChange::Advance(-1.0)).is_err());
        assert!(apply((0.0, None), REAL, &ClockChange::Advance(f64::NAN)).is_err());
        assert!(apply((0.0, None), REAL, &ClockChange::Advance(1e12)).is_err());
    }

    #[test]
    fn setting_goes_forward_only_and_keeps_a_frozen_clock_frozen() {
        assert_eq!(
            apply((0.0, None), REAL, &ClockChange::Set(REAL + 100.0)),
            Ok((100.0, None))
        );
        assert_eq!(
            apply(
                (0.0, Some(REAL)),
                REAL + 50.0,
                &ClockChange::Set(REAL + 100.0)
            ),
            Ok((50.0, Some(REAL + 100.0)))
        );
        let refused = apply((100.0, None), REAL, &ClockChange::Set(REAL + 99.0)).unwrap_err();
        assert!(refused.contains("only moves forward"), "{refused}");
    }

    #[test]
    fn freezing_holds_the_instant_and_thawing_runs_on_from_it() {
        let frozen = apply((30.0, None), REAL, &ClockChange::Freeze(true)).unwrap();
        assert_eq!(frozen, (30.0, Some(REAL + 30.0)));
        // Ten real seconds later, the portal's time has not moved; thawed, it runs from there.
        let thawed = apply(frozen, REAL + 10.0, &ClockChange::Freeze(false)).unwrap();
        assert_eq!(thawed, (20.0, None));
        assert_eq!(portal_now(thawed, REAL + 10.0), REAL + 30.0);
        assert_eq!(apply(thawed, REAL, &ClockChange::Real), Ok((0.0, None)));
    }

    #[test]
    fn instants_are_rfc_3339() {
        assert_eq!(parse_instant("2030-01-01T10:00:00Z"), Ok(1_893_492_000.0));
        assert_eq!(
            parse_instant("2030-01-01T12:00:00.5+02:00"),
            Ok(1_893_492_000.5)
        );
        assert!(parse_instant("2030-01-01").is_err());
        assert!(parse_instant("tomorrow").is_err());
    }

    #[test]
    fn the_view_shows_the_offset_to_the_millisecond() {
        let view = ClockView::of((3601.0004, None), REAL);
        assert_eq!(view.offset_s, 3601.0);
        assert!(!view.frozen);
        assert_eq!(view.now, iso(REAL + 3601.0004));
    }
}
