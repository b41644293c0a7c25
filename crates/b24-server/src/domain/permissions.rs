//! CRM rights: per user, per entity type and action, a level of none / own / all.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// What the caller wants to do with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See it.
    Read,
    /// Create it.
    Add,
    /// Change it (also: bind and unbind activities).
    Update,
    /// Delete it.
    Delete,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 4] = [Action::Read, Action::Add, Action::Update, Action::Delete];

    /// The stored and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Add => "add",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s.to_ascii_lowercase())
            .ok_or_else(|| format!("unknown action '{s}': use read, add, update or delete"))
    }
}

/// How far a right reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Not at all.
    None,
    /// Items assigned to the user.
    Own,
    /// Every item of the type.
    All,
}

impl Level {
    /// The stored and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Own => "own",
            Level::All => "all",
        }
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Level::None),
            "own" => Ok(Level::Own),
            "all" => Ok(Level::All),
            _ => Err(format!("unknown level '{s}': use none, own or all")),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rights of one caller, loaded once per request.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    /// The user the rights belong to ("own" means assigned to this user).
    pub user_id: i64,
    /// Administrators may do everything.
    pub admin: bool,
    /// Explicit grants; anything absent is [`Level::None`].
    pub rights: HashMap<(i64, Action), Level>,
}

impl Permissions {
    /// The level granted for a type and action.
    pub fn level(&self, entity_type_id: i64, action: Action) -> Level {
        if self.admin {
            return Level::All;
        }
        self.rights
            .get(&(entity_type_id, action))
            .copied()
            .unwrap_or(Level::None)
    }

    /// Whether the user may act on one item, given who it is assigned to (`None`: the item does
    /// not exist). `entity_id <= 0` asks whether the user may act on items of the type at all.
    pub fn allows(
        &self,
        entity_type_id: i64,
        entity_id: i64,
        action: Action,
        assigned_by: Option<i64>,
    ) -> bool {
        match self.level(entity_type_id, action) {
            Level::None => false,
            Level::All => true,
            Level::Own if entity_id <= 0 => true,
            Level::Own => assigned_by == Some(self.user_id),
        }
    }
}

/// A parsed `--right TYPE.ACTION=LEVEL` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RightGrant {
    /// The entity type.
    pub entity_type_id: i64,
    /// The action.
    pub action: Action,
    /// The level.
    pub level: Level,
}

impl FromStr for RightGrant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("'{s}' is not TYPE.ACTION=LEVEL, e.g. deal.update=own");
        let (target, level) = s.split_once('=').ok_or_else(usage)?;
        let (entity, action) = target.split_once('.').ok_or_else(usage)?;
        let entity_type_id = super::EntityTypeId::parse_cli(entity).ok_or_else(|| {
            format!("unknown entity type '{entity}': use lead, deal, contact, company or an entityTypeId")
        })?;
        Ok(RightGrant {
            entity_type_id,
            action: action.parse()?,
            level: level.parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_options_parse_names_and_numbers() {
        assert_eq!(
            "deal.update=own".parse::<RightGrant>(),
            Ok(RightGrant {
                entity_type_id: 2,
                action: Action::Update,
                level: Level::Own
            })
        );
        assert_eq!(
            "130.read=all"
                .parse::<RightGrant>()
                .map(|g| g.entity_type_id),
            Ok(130)
        );
        assert!("deal.fly=all".parse::<RightGrant>().is_err());
        assert!("deal=all".parse::<RightGrant>().is_err());
    }

    #[test]
    fn own_level_allows_only_items_assigned_to_the_user() {
        let mut p = Permissions {
            user_id: 7,
            ..Default::default()
        };
        p.rights.insert((2, Action::Update), Level::Own);
        assert!(p.allows(2, 1, Action::Update, Some(7)));
        assert!(!p.allows(2, 1, Action::Update, Some(8)));
        assert!(!p.allows(2, 1, Action::Update, None));
        assert!(p.allows(2, 0, Action::Update, None));
        assert!(!p.allows(3, 1, Action::Update, Some(7)));
    }
}
