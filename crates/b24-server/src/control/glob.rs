//! Method globs, as fault rules (`"match":{"method":"crm.item.*"}`) and journal filters
//! (`?method=crm.item.*`) take them: `*` stands for any run of characters, nothing else is
//! special. Callers lower-case both sides (method names are matched without case).

/// Whether `name` matches `pattern`, where `*` stands for any characters (none included).
pub fn matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.as_bytes(), name.as_bytes());
    let (mut p, mut n) = (0, 0);
    // The last `*` seen and the name position it was tried at: on a mismatch, let it take one
    // more character (the classic linear wildcard match).
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs_match_any_characters_where_a_star_stands() {
        assert!(matches("crm.item.*", "crm.item.add"));
        assert!(matches("*", "server.time"));
        assert!(matches("crm.*.list", "crm.activity.binding.list"));
        assert!(matches("crm.item.add", "crm.item.add"));
        assert!(matches("*.add*", "crm.item.add"));
        assert!(!matches("crm.item.*", "crm.activity.add"));
        assert!(!matches("crm.item.add", "crm.item.addx"));
        assert!(!matches("crm.*.list", "crm.item.get"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("user_current", "user_current"));
        assert!(!matches("user_current", "userxcurrent"));
    }
}
