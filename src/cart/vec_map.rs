//! Small generic helpers of the cart: a map kept as a sorted vector, and an insertion sort.
//!
//! Owns: nothing of the domain. Must never: allocate more than the vector it holds.

use std::borrow::Borrow;

/// A map kept as a vector sorted by key: the cart's maps are small, and this is far smaller in
/// the wasm than the `BTreeMap` instantiations it replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct VecMap<K, V>(pub(super) Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub(super) fn find<Q: Ord + ?Sized>(&self, k: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(x, _)| x.borrow().cmp(k))
    }

    pub(super) fn get<Q: Ord + ?Sized>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(k).ok().and_then(|i| self.0.get(i)).map(|(_, v)| v)
    }

    /// Inserts or replaces; returns the replaced value.
    pub(super) fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.find(&k) {
            Ok(i) => self.0.get_mut(i).map(|slot| std::mem::replace(&mut slot.1, v)),
            Err(i) => {
                self.0.insert(i, (k, v));
                None
            }
        }
    }

    pub(super) fn remove<Q: Ord + ?Sized>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(k).ok()?;
        Some(self.0.remove(i).1)
    }

    /// The pairs in key order (a slice iterator: no adapter to instantiate per map type).
    pub(super) fn iter(&self) -> std::slice::Iter<'_, (K, V)> {
        self.0.iter()
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V> VecMap<String, V> {
    #[allow(clippy::indexing_slicing)] // `i` was found or just inserted
    pub(super) fn get_or_insert(&mut self, k: &str, default: V) -> &mut V {
        let i = match self.find(k) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (k.to_owned(), default));
                i
            }
        };
        // `i` is in bounds: found, or just inserted there.
        &mut self.0[i].1
    }
}

/// Sorts a short slice (lines, orders) by `less`: one small loop instead of another instance of
/// the standard library's sort in the wasm.
#[allow(clippy::indexing_slicing)] // `1 <= j < v.len()` in the loop
pub(super) fn insertion_sort<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}
