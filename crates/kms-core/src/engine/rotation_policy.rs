//! Rotation settings changed under preconditions, for a dialect whose rotation operations are
//! not idempotent (Huawei: enabling rotation that is on, or changing or disabling rotation that
//! is off, is refused) and whose interval has bounds of its own (Huawei: 30 to 365 days).
//! Each check runs inside the key's write, so concurrent callers see one outcome each.

use std::ops::RangeInclusive;

use super::{
    Caller, Engine, ROTATION_DAYS, SECONDS_PER_DAY, check_range, check_rotatable, parse_key_id,
};
use crate::error::{Bounded, KmsError, Operation};
use crate::model::*;

impl Engine {
    /// Turns automatic rotation on every `days` days, refusing a key whose rotation is on.
    /// `bounds` are the dialect's, within the engine's own.
    pub fn start_rotation(
        &self,
        caller: &Caller,
        key_id: &str,
        days: u32,
        bounds: RangeInclusive<u64>,
    ) -> Result<(), KmsError> {
        self.rotation_on(caller, key_id, days, bounds, true)
    }

    /// Turns automatic rotation off, refusing a key whose rotation is off. The interval is
    /// kept, for the rotation status to show.
    pub fn stop_rotation(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        self.rotation_off(caller, key_id, true)
    }

    /// Turns rotation on every `days` days (within `bounds` and the engine's own), from now;
    /// with `refuse_if_on`, a key whose rotation is already on is refused (Huawei), else its
    /// interval is replaced (Tencent).
    pub(super) fn rotation_on(
        &self,
        caller: &Caller,
        key_id: &str,
        days: u32,
        bounds: RangeInclusive<u64>,
        refuse_if_on: bool,
    ) -> Result<(), KmsError> {
        check_days(days, bounds)?;
        self.mutate(caller, parse_key_id(key_id)?, |k, now| {
            check_rotatable(k, Operation::EnableRotation)?;
            if refuse_if_on && k.rotation.enabled {
                return Err(KmsError::RotationAlreadyEnabled);
            }
            k.rotation = RotationPolicy {
                enabled: true,
                rotate_days: days,
                next_rotate_time: now + u64::from(days) * SECONDS_PER_DAY,
            };
            Ok(())
        })
    }

    /// Turns rotation off, keeping the interval; with `refuse_if_off`, a key whose rotation is
    /// off is refused (Huawei), else nothing changes (Tencent).
    pub(super) fn rotation_off(
        &self,
        caller: &Caller,
        key_id: &str,
        refuse_if_off: bool,
    ) -> Result<(), KmsError> {
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            if refuse_if_off && !k.rotation.enabled {
                return Err(KmsError::RotationNotEnabled);
            }
            k.rotation.enabled = false;
            k.rotation.next_rotate_time = 0;
            Ok(())
        })
    }

    /// Changes the interval of rotation that is on. The next rotation is due `days` after the
    /// last scheduled one, so a shorter interval that has already passed rotates at once.
    pub fn set_rotation_interval(
        &self,
        caller: &Caller,
        key_id: &str,
        days: u32,
        bounds: RangeInclusive<u64>,
    ) -> Result<(), KmsError> {
        check_days(days, bounds)?;
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            check_rotatable(k, Operation::EnableRotation)?;
            if !k.rotation.enabled {
                return Err(KmsError::RotationNotEnabled);
            }
            let old = u64::from(k.rotation.rotate_days).max(*ROTATION_DAYS.start());
            let anchor = k
                .rotation
                .next_rotate_time
                .saturating_sub(old * SECONDS_PER_DAY);
            k.rotation.rotate_days = days;
            k.rotation.next_rotate_time = anchor + u64::from(days) * SECONDS_PER_DAY;
            Ok(())
        })
    }
}

/// `days` within both the dialect's bounds and the engine's.
fn check_days(days: u32, bounds: RangeInclusive<u64>) -> Result<(), KmsError> {
    check_range(Bounded::RotationPeriod, days.into(), bounds)?;
    check_range(Bounded::RotationPeriod, days.into(), ROTATION_DAYS)
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::*;

    const HUAWEI: RangeInclusive<u64> = 30..=365;
    const DAY: u64 = SECONDS_PER_DAY;

    fn rotation(f: &Fixture, id: &str) -> (RotationPolicy, usize) {
        let k = f.engine.describe_key(&f.caller, id).unwrap();
        (k.rotation, k.versions.len())
    }

    #[test]
    fn rotation_starts_once_and_stops_once() {
        let f = fixture();
        let id = f.key("k");
        assert_eq!(
            f.engine.stop_rotation(&f.caller, &id).unwrap_err(),
            KmsError::RotationNotEnabled
        );
        f.engine
            .start_rotation(&f.caller, &id, 365, HUAWEI)
            .unwrap();
        assert_eq!(
            f.engine
                .start_rotation(&f.caller, &id, 365, HUAWEI)
                .unwrap_err(),
            KmsError::RotationAlreadyEnabled
        );
        let (policy, _) = rotation(&f, &id);
        assert_eq!(
            (policy.enabled, policy.rotate_days, policy.next_rotate_time),
            (true, 365, T0 + 365 * DAY)
        );
        f.engine.stop_rotation(&f.caller, &id).unwrap();
        let (policy, _) = rotation(&f, &id);
        assert_eq!((policy.enabled, policy.rotate_days), (false, 365));
        assert_eq!(
            f.engine.stop_rotation(&f.caller, &id).unwrap_err(),
            KmsError::RotationNotEnabled
        );
    }

    #[test]
    fn the_dialects_bounds_hold_within_the_engines() {
        let f = fixture();
        let id = f.key("k");
        for days in [0, 29, 366] {
            assert!(matches!(
                f.engine.start_rotation(&f.caller, &id, days, HUAWEI),
                Err(KmsError::OutOfRange {
                    what: Bounded::RotationPeriod,
                    min: 30,
                    max: 365
                })
            ));
        }
        assert!(matches!(
            f.engine.start_rotation(&f.caller, &id, 400, 1..=1000),
            Err(KmsError::OutOfRange { max: 365, .. })
        ));
        f.engine.enable_rotation(&f.caller, &id, 7).unwrap();
        assert_eq!(
            rotation(&f, &id).0.rotate_days,
            7,
            "Tencent keeps its 7 days"
        );
    }

    #[test]
    fn a_new_interval_counts_from_the_last_scheduled_rotation() {
        let f = fixture();
        let id = f.key("k");
        assert_eq!(
            f.engine
                .set_rotation_interval(&f.caller, &id, 30, HUAWEI)
                .unwrap_err(),
            KmsError::RotationNotEnabled
        );
        f.engine
            .start_rotation(&f.caller, &id, 365, HUAWEI)
            .unwrap();
        f.clock.advance(40 * DAY);
        f.engine
            .set_rotation_interval(&f.caller, &id, 100, HUAWEI)
            .unwrap();
        let (policy, versions) = rotation(&f, &id);
        assert_eq!((policy.next_rotate_time, versions), (T0 + 100 * DAY, 1));
        f.engine
            .set_rotation_interval(&f.caller, &id, 30, HUAWEI)
            .unwrap();
        let (policy, versions) = rotation(&f, &id);
        assert_eq!(versions, 2, "30 days had passed: the key rotated at once");
        assert_eq!(policy.next_rotate_time, T0 + 60 * DAY);
    }

    #[test]
    fn only_enabled_block_cipher_keys_of_kms_material_start_rotating() {
        let f = fixture();
        let external = f.key_of(Origin::External);
        assert_eq!(
            f.engine
                .start_rotation(&f.caller, &external, 365, HUAWEI)
                .unwrap_err(),
            KmsError::ExternalKeyCannotRotate
        );
        let disabled = f.key("disabled");
        f.engine.disable_key(&f.caller, &disabled).unwrap();
        assert!(matches!(
            f.engine.start_rotation(&f.caller, &disabled, 365, HUAWEI),
            Err(KmsError::InvalidKeyState { .. })
        ));
    }
}
