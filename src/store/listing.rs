//! The listing algorithm: prefix, delimiter, marker and page size over an ordered key space.
//!
//! It is pure: the caller hands it an ordered scan, and the algorithm steers that scan with
//! `Step`. A whole common prefix is skipped with one seek to the prefix's successor, so the
//! cost of a page grows with the page, not with the bucket.

use std::ops::Bound;

/// What the scanner should do after an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// Restart the scan at the first key >= this one.
    SeekTo(Vec<u8>),
    Stop,
}

/// An ordered key space that can be scanned from a bound, with the visitor steering it.
pub trait OrderedScan<V> {
    fn scan(&self, from: Bound<Vec<u8>>, visit: &mut dyn FnMut(&[u8], V) -> Step);
}

#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub prefix: Vec<u8>,
    pub delimiter: Option<Vec<u8>>,
    /// Exclusive: marker (v1), start-after or the continuation token (v2).
    pub after: Option<Vec<u8>>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<V> {
    Object(Vec<u8>, V),
    CommonPrefix(Vec<u8>),
}

impl<V> Entry<V> {
    pub fn key(&self) -> &[u8] {
        match self {
            Entry::Object(k, _) | Entry::CommonPrefix(k) => k,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage<V> {
    pub entries: Vec<Entry<V>>,
    pub is_truncated: bool,
}

impl<V> ListPage<V> {
    /// The key or common prefix the next page starts after.
    pub fn last_key(&self) -> Option<&[u8]> {
        self.entries.last().map(Entry::key)
    }
}

/// The smallest key greater than every key that starts with `prefix`, or None when no such key
/// exists (the prefix is all 0xFF bytes).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < u8::MAX {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn list<V>(source: &dyn OrderedScan<V>, params: &ListParams) -> ListPage<V> {
    let mut page = ListPage { entries: Vec::new(), is_truncated: false };
    if params.max_keys == 0 {
        return page;
    }
    let prefix = params.prefix.as_slice();
    let delimiter = params.delimiter.as_deref().filter(|d| !d.is_empty());
    let after = params.after.as_deref();

    let from = match after {
        Some(a) if a >= prefix => Bound::Excluded(a.to_vec()),
        _ => Bound::Included(prefix.to_vec()),
    };

    source.scan(from, &mut |key, value| {
        if !key.starts_with(prefix) {
            return Step::Stop;
        }
        let common =
            delimiter.and_then(|d| find(&key[prefix.len()..], d).map(|i| key[..prefix.len() + i + d.len()].to_vec()));
        if let Some(cp) = common {
            let skip_to = prefix_successor(&cp);
            // A marker inside (or equal to) this common prefix means the prefix was already
            // returned on an earlier page.
            if after.is_some_and(|a| a.starts_with(&cp)) {
                return skip_to.map_or(Step::Stop, Step::SeekTo);
            }
            if page.entries.len() == params.max_keys {
                page.is_truncated = true;
                return Step::Stop;
            }
            page.entries.push(Entry::CommonPrefix(cp));
            return skip_to.map_or(Step::Stop, Step::SeekTo);
        }
        if page.entries.len() == params.max_keys {
            page.is_truncated = true;
            return Step::Stop;
        }
        page.entries.push(Entry::Object(key.to_vec(), value));
        Step::Continue
    });
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::BTreeMap;

    struct Map {
        keys: BTreeMap<Vec<u8>, ()>,
        visited: Cell<usize>,
    }

    impl Map {
        fn new(keys: &[&str]) -> Self {
            Map { keys: keys.iter().map(|k| (k.as_bytes().to_vec(), ())).collect(), visited: Cell::new(0) }
        }
    }

    impl OrderedScan<()> for Map {
        fn scan(&self, from: Bound<Vec<u8>>, visit: &mut dyn FnMut(&[u8], ()) -> Step) {
            let mut from = from;
            'outer: loop {
                for (k, _) in self.keys.range((from.clone(), Bound::Unbounded)) {
                    self.visited.set(self.visited.get() + 1);
                    match visit(k, ()) {
                        Step::Continue => {}
                        Step::Stop => return,
                        Step::SeekTo(next) => {
                            from = Bound::Included(next);
                            continue 'outer;
                        }
                    }
                }
                return;
            }
        }
    }

    fn names(page: &ListPage<()>) -> Vec<String> {
        page.entries
            .iter()
            .map(|e| match e {
                Entry::Object(k, _) => String::from_utf8_lossy(k).into_owned(),
                Entry::CommonPrefix(p) => format!("[{}]", String::from_utf8_lossy(p)),
            })
            .collect()
    }

    fn params(prefix: &str, delim: Option<&str>, after: Option<&str>, max: usize) -> ListParams {
        ListParams {
            prefix: prefix.as_bytes().to_vec(),
            delimiter: delim.map(|d| d.as_bytes().to_vec()),
            after: after.map(|a| a.as_bytes().to_vec()),
            max_keys: max,
        }
    }

    #[test]
    fn flat_listing_pages() {
        let m = Map::new(&["a", "b", "c", "d"]);
        let p = list(&m, &params("", None, None, 2));
        assert_eq!(names(&p), ["a", "b"]);
        assert!(p.is_truncated);
        let p = list(&m, &params("", None, Some("b"), 2));
        assert_eq!(names(&p), ["c", "d"]);
        assert!(!p.is_truncated);
    }

    #[test]
    fn exact_page_is_not_truncated() {
        let m = Map::new(&["a", "b"]);
        let p = list(&m, &params("", None, None, 2));
        assert!(!p.is_truncated);
    }

    #[test]
    fn prefix_and_delimiter_group() {
        let m = Map::new(&["a/1", "a/2", "b", "c/x/y", "c/z", "d"]);
        let p = list(&m, &params("", Some("/"), None, 1000));
        assert_eq!(names(&p), ["[a/]", "b", "[c/]", "d"]);
        let p = list(&m, &params("c/", Some("/"), None, 1000));
        assert_eq!(names(&p), ["[c/x/]", "c/z"]);
    }

    #[test]
    fn common_prefix_is_skipped_with_one_seek() {
        let mut keys: Vec<String> = (0..1000).map(|i| format!("dir/{i:04}")).collect();
        keys.push("z".into());
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let m = Map::new(&refs);
        let p = list(&m, &params("", Some("/"), None, 1000));
        assert_eq!(names(&p), ["[dir/]", "z"]);
        assert!(m.visited.get() <= 3, "visited {}", m.visited.get());
    }

    #[test]
    fn marker_at_common_prefix_resumes_after_it() {
        let m = Map::new(&["a/1", "a/2", "b/1", "c"]);
        let p = list(&m, &params("", Some("/"), None, 1));
        assert_eq!(names(&p), ["[a/]"]);
        assert!(p.is_truncated);
        let p = list(&m, &params("", Some("/"), Some("a/"), 1));
        assert_eq!(names(&p), ["[b/]"]);
        assert!(p.is_truncated);
        let p = list(&m, &params("", Some("/"), Some("b/"), 1));
        assert_eq!(names(&p), ["c"]);
        assert!(!p.is_truncated);
    }

    #[test]
    fn marker_before_prefix_starts_at_prefix() {
        let m = Map::new(&["a", "p/1", "p/2", "q"]);
        let p = list(&m, &params("p/", None, Some("a"), 10));
        assert_eq!(names(&p), ["p/1", "p/2"]);
    }

    #[test]
    fn zero_max_keys_is_empty() {
        let m = Map::new(&["a"]);
        let p = list(&m, &params("", None, None, 0));
        assert!(p.entries.is_empty());
        assert!(!p.is_truncated);
    }

    #[test]
    fn multi_byte_delimiter() {
        let m = Map::new(&["x--y", "x--z", "xy"]);
        let p = list(&m, &params("", Some("--"), None, 10));
        assert_eq!(names(&p), ["[x--]", "xy"]);
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_successor(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
    }
}
