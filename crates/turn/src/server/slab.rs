//! A generational slab: O(1) insert, lookup and removal by a stable index, where a stale
//! handle (old generation) finds nothing.

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

#[derive(Debug)]
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Insert; returns (index, generation).
    pub fn insert(&mut self, value: T) -> (u32, u32) {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            let e = &mut self.entries[i as usize];
            e.generation = e.generation.wrapping_add(1);
            e.value = Some(value);
            return (i, e.generation);
        }
        self.entries.push(Entry {
            generation: 0,
            value: Some(value),
        });
        ((self.entries.len() - 1) as u32, 0)
    }

    pub fn get(&self, index: u32, generation: u32) -> Option<&T> {
        let e = self.entries.get(index as usize)?;
        if e.generation != generation {
            return None;
        }
        e.value.as_ref()
    }

    pub fn get_mut(&mut self, index: u32, generation: u32) -> Option<&mut T> {
        let e = self.entries.get_mut(index as usize)?;
        if e.generation != generation {
            return None;
        }
        e.value.as_mut()
    }

    pub fn remove(&mut self, index: u32, generation: u32) -> Option<T> {
        let e = self.entries.get_mut(index as usize)?;
        if e.generation != generation {
            return None;
        }
        let v = e.value.take()?;
        self.free.push(index);
        self.len -= 1;
        Some(v)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i as u32, e.generation, e.value.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_find_nothing() {
        let mut s = Slab::default();
        let (i, g) = s.insert("a");
        assert_eq!(s.get(i, g), Some(&"a"));
        assert_eq!(s.remove(i, g), Some("a"));
        assert_eq!(s.remove(i, g), None);
        let (j, h) = s.insert("b");
        assert_eq!(i, j);
        assert_ne!(g, h);
        assert_eq!(s.get(i, g), None);
        assert_eq!(s.get(j, h), Some(&"b"));
        assert_eq!(s.len(), 1);
        assert_eq!(s.iter().count(), 1);
    }
}
