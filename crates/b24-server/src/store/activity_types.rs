//! Storage of the custom activity types applications register (`crm.activity.type.*`): each
//! application sees and deletes only its own.

use super::driver::args;
use super::sql::SqlTx;
use crate::error::ApiError;

/// A custom activity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityTypeRecord {
    /// `TYPE_ID` (an activity's `PROVIDER_TYPE_ID`).
    pub type_id: String,
    /// `NAME`.
    pub name: String,
    /// `IS_CONFIGURABLE_TYPE`.
    pub configurable: bool,
}

/// An application's custom activity types.
pub trait ActivityTypeTx {
    /// Stores a type of the application; `false` when it has one with that `TYPE_ID` already.
    fn insert_activity_type(
        &mut self,
        app_id: i64,
        record: &ActivityTypeRecord,
    ) -> Result<bool, ApiError>;
    /// The application's types, by `TYPE_ID`.
    fn activity_types(&mut self, app_id: i64) -> Result<Vec<ActivityTypeRecord>, ApiError>;
    /// Deletes a type of the application; `false` when there is none.
    fn delete_activity_type(&mut self, app_id: i64, type_id: &str) -> Result<bool, ApiError>;
}

impl ActivityTypeTx for SqlTx<'_> {
    fn insert_activity_type(
        &mut self,
        app_id: i64,
        record: &ActivityTypeRecord,
    ) -> Result<bool, ApiError> {
        let n = self.exec(
            "INSERT INTO crm_activity_types (portal_id, app_id, type_id, name, configurable)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (portal_id, app_id, type_id) DO NOTHING",
            &args![
                self.portal,
                app_id,
                &record.type_id,
                &record.name,
                record.configurable
            ],
        )?;
        Ok(n == 1)
    }

    fn activity_types(&mut self, app_id: i64) -> Result<Vec<ActivityTypeRecord>, ApiError> {
        self.all(
            "SELECT type_id, name, configurable FROM crm_activity_types
             WHERE portal_id = ?1 AND app_id = ?2 ORDER BY type_id",
            &args![self.portal, app_id],
            |r| {
                Ok(ActivityTypeRecord {
                    type_id: r.text(0)?,
                    name: r.text(1)?,
                    configurable: r.bool(2)?,
                })
            },
        )
    }

    fn delete_activity_type(&mut self, app_id: i64, type_id: &str) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM crm_activity_types WHERE portal_id = ?1 AND app_id = ?2 AND type_id = ?3",
            &args![self.portal, app_id, type_id],
        )?;
        Ok(n == 1)
    }
}
