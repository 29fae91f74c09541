//! Sets of audit row ids as sorted, disjoint, inclusive ranges, with a compact text form
//! (`3-7,9,12-40`): what a block covers besides its main id range.

use std::fmt;

/// A set of ids: sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdSet(Vec<(i64, i64)>);

impl IdSet {
    /// The set of `ids`, which must be ascending.
    pub fn from_sorted(ids: impl IntoIterator<Item = i64>) -> Self {
        let mut set = IdSet::default();
        ids.into_iter().for_each(|id| set.push(id, id));
        set
    }

    /// Adds `[lo, hi]`, which must lie above every id already in the set.
    pub fn push(&mut self, lo: i64, hi: i64) {
        match self.0.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(lo) => last.1 = hi,
            _ => self.0.push((lo, hi)),
        }
    }

    /// The ranges.
    pub fn ranges(&self) -> &[(i64, i64)] {
        &self.0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of ids.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|(lo, hi)| hi.abs_diff(*lo) + 1).sum()
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: i64) -> bool {
        let i = self.0.partition_point(|(_, hi)| *hi < id);
        self.0.get(i).is_some_and(|(lo, _)| *lo <= id)
    }

    /// How many ids of the set are smaller than `id`.
    pub fn rank(&self, id: i64) -> u64 {
        self.0
            .iter()
            .take_while(|(lo, _)| *lo < id)
            .map(|(lo, hi)| (*hi).min(id - 1).abs_diff(*lo) + 1)
            .sum()
    }

    /// The ids, ascending.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().flat_map(|(lo, hi)| *lo..=*hi)
    }

    /// The ids in `self` and not in `other`.
    pub fn minus(&self, other: &IdSet) -> IdSet {
        let mut out = IdSet::default();
        for &(lo, hi) in &self.0 {
            let mut start = lo;
            for &(olo, ohi) in &other.0 {
                if ohi < start || olo > hi {
                    continue;
                }
                if olo > start {
                    out.push(start, olo - 1);
                }
                start = ohi.saturating_add(1);
                if ohi >= hi {
                    break;
                }
            }
            if start <= hi && !(start == i64::MAX && other.contains(i64::MAX)) {
                out.push(start, hi);
            }
        }
        out
    }

    /// The ids in `self` or in `other`.
    pub fn union(&self, other: &IdSet) -> IdSet {
        let mut all: Vec<(i64, i64)> = self.0.iter().chain(&other.0).copied().collect();
        all.sort_unstable();
        let mut out = IdSet::default();
        for (lo, hi) in all {
            match out.0.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.0.push((lo, hi)),
            }
        }
        out
    }

    /// Parses the text form. `None` on anything else.
    pub fn parse(text: &str) -> Option<IdSet> {
        let mut set = IdSet::default();
        if text.is_empty() {
            return Some(set);
        }
        for part in text.split(',') {
            let (lo, hi) = match part.split_once('~') {
                Some((lo, hi)) => (lo.parse().ok()?, hi.parse().ok()?),
                None => {
                    let id = part.parse().ok()?;
                    (id, id)
                }
            };
            if lo > hi || set.0.last().is_some_and(|last| last.1 >= lo) {
                return None;
            }
            set.0.push((lo, hi));
        }
        Some(set)
    }
}

/// The text form: ranges `lo~hi` (`~`, as ids may be negative) or single ids, joined by `,`.
impl fmt::Display for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}~{hi}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn brute(set: &IdSet) -> BTreeSet<i64> {
        set.iter().collect()
    }

    #[test]
    fn set_operations_agree_with_a_plain_set() {
        let mut seed = 7u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 40) as i64 - 5
        };
        for _ in 0..500 {
            let a: BTreeSet<i64> = (0..12).map(|_| next()).collect();
            let b: BTreeSet<i64> = (0..12).map(|_| next()).collect();
            let (sa, sb) = (
                IdSet::from_sorted(a.iter().copied()),
                IdSet::from_sorted(b.iter().copied()),
            );
            assert_eq!(brute(&sa), a);
            assert_eq!(brute(&sa.minus(&sb)), a.difference(&b).copied().collect());
            assert_eq!(brute(&sa.union(&sb)), a.union(&b).copied().collect());
            assert_eq!(IdSet::parse(&sa.to_string()), Some(sa.clone()));
            assert_eq!(sa.count(), a.len() as u64);
            for id in -6..36 {
                assert_eq!(sa.contains(id), a.contains(&id));
                assert_eq!(sa.rank(id), a.range(..id).count() as u64);
            }
        }
        assert_eq!(IdSet::parse("3~1"), None);
        assert_eq!(IdSet::parse("1,1"), None);
        assert_eq!(IdSet::parse("x"), None);
    }
}
