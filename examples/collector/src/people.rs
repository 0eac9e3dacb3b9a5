//! People: which ids belong to one person. An anonymousId and a userId seen on the same message,
//! an identify (anonymousId ↔ userId) and an alias (previousId ↔ userId) link ids; a person is
//! a connected component of that graph. Every device's anonymous id therefore joins the person
//! once that device is identified, and an alias joins the old and the new user id.
//!
//! Owns: the union-find over ids and the choice of a person's key. Must never: do I/O (the
//! store loads the links), or depend on the order links arrive in (the same links give the same
//! people).

use std::collections::HashMap;

/// Ids interned to small integers, grouped by union-find (path halving, union by size).
#[derive(Default, Debug)]
pub struct People {
    index: HashMap<String, usize>,
    names: Vec<String>,
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl People {
    pub fn new() -> People {
        People::default()
    }

    /// The number of an id (interned on first sight).
    pub fn id(&mut self, s: &str) -> usize {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.parent.len();
        self.parent.push(i);
        self.size.push(1);
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    /// The number of an id already seen.
    pub fn get(&self, s: &str) -> Option<usize> {
        self.index.get(s).copied()
    }

    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// The representative of `i`'s person.
    pub fn root(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// Links two ids (either may be new). Empty ids are ignored.
    pub fn link(&mut self, a: &str, b: &str) {
        match (a.is_empty(), b.is_empty()) {
            (false, false) => {
                let (a, b) = (self.id(a), self.id(b));
                let (ra, rb) = (self.root(a), self.root(b));
                if ra != rb {
                    let (big, small) = if self.size[ra] >= self.size[rb] { (ra, rb) } else { (rb, ra) };
                    self.parent[small] = big;
                    self.size[big] += self.size[small];
                }
            }
            (false, true) => {
                self.id(a);
            }
            (true, false) => {
                self.id(b);
            }
            (true, true) => {}
        }
    }

    /// The person of an (anonymousId, userId) pair as stored on a message ("" = absent).
    pub fn person_of(&mut self, anonymous_id: &str, user_id: &str) -> Option<usize> {
        let key = if !user_id.is_empty() { user_id } else { anonymous_id };
        let i = self.get(key)?;
        Some(self.root(i))
    }

    /// Every person: root → member ids (in interning order).
    pub fn groups(&mut self) -> HashMap<usize, Vec<usize>> {
        let mut out: HashMap<usize, Vec<usize>> = HashMap::new();
        for i in 0..self.parent.len() {
            let r = self.root(i);
            out.entry(r).or_default().push(i);
        }
        out
    }

    /// Every id of `i`'s person, sorted (a stable key for tests and answers).
    pub fn members(&mut self, i: usize) -> Vec<String> {
        let r = self.root(i);
        let ids: Vec<usize> = (0..self.parent.len()).filter(|&j| self.root(j) == r).collect();
        let mut out: Vec<String> = ids.into_iter().map(|j| self.names[j].clone()).collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_aliases_join_one_person_whatever_the_order() {
        let links = [("phone-anon", "ada"), ("laptop-anon", "ada"), ("old-id", "ada"), ("tablet-anon", ""), ("bob-anon", "bob")];
        for rotate in 0..links.len() {
            let mut p = People::new();
            for (a, b) in links.iter().cycle().skip(rotate).take(links.len()) {
                p.link(a, b);
            }
            let ada = p.person_of("laptop-anon", "").unwrap();
            assert_eq!(p.person_of("", "ada"), Some(ada));
            assert_eq!(p.person_of("phone-anon", "old-id"), p.person_of("", "old-id"));
            assert_eq!(p.members(ada), vec!["ada", "laptop-anon", "old-id", "phone-anon"]);
            assert_ne!(p.person_of("bob-anon", ""), Some(ada));
            assert_eq!(p.members(p.get("tablet-anon").unwrap()), vec!["tablet-anon"]);
            assert_eq!(p.groups().len(), 3);
        }
        assert_eq!(People::new().person_of("nobody", ""), None);
    }
}
