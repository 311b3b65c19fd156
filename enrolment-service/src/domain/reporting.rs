//! Reporting lines as HR data gives them: each person names at most one manager. Such data may
//! loop (a manages b, b manages a); the team walk stops where it repeats, and an upload reports
//! the loops it leaves so HR can fix its data.

use std::collections::{BTreeSet, HashMap};

/// How far up a chain is followed (the team walk's limit too).
pub const MAX_LEVELS: usize = 32;

/// The loops that `starts` are in, given each person's manager (`managers`: external id →
/// manager's external id). Each loop once, in reporting order from its first member in
/// `starts`; someone whose chain reaches a loop without being in it is not in it.
pub fn cycles(managers: &HashMap<String, String>, starts: &[String]) -> Vec<Vec<String>> {
    let mut seen: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut found = Vec::new();
    for start in starts {
        let mut chain = vec![start.clone()];
        let mut current = start;
        while let Some(manager) = managers.get(current) {
            if manager == start {
                let mut members = chain.clone();
                members.sort();
                if seen.insert(members) {
                    found.push(chain);
                }
                break;
            }
            if chain.len() > MAX_LEVELS || chain.contains(manager) {
                break; // too deep, or a loop above `start` that does not include them
            }
            chain.push(manager.clone());
            current = manager;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect()
    }

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_loop_is_reported_once_from_its_first_uploaded_member() {
        let managers = lines(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]);
        let found = cycles(&managers, &ids(&["b", "a", "c", "d"]));
        assert_eq!(found, vec![ids(&["b", "c", "a"])]);
    }

    #[test]
    fn someone_below_a_loop_is_not_in_it_and_nothing_loops_forever() {
        let managers = lines(&[("x", "y"), ("y", "x"), ("z", "x")]);
        assert!(cycles(&managers, &ids(&["z"])).is_empty());
        assert_eq!(cycles(&managers, &ids(&["z", "y"])), vec![ids(&["y", "x"])]);
    }

    #[test]
    fn a_tree_has_no_loop_and_self_management_is_one() {
        let managers = lines(&[("a", "boss"), ("b", "boss"), ("s", "s")]);
        assert!(cycles(&managers, &ids(&["a", "b", "boss"])).is_empty());
        assert_eq!(cycles(&managers, &ids(&["s"])), vec![ids(&["s"])]);
    }
}
