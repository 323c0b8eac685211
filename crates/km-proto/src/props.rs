//! Properties: the (name, value) pairs of a `record` or `set` call.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use crate::value::{AsValue, Value};

/// A collection of properties, visited in order.
///
/// Implemented for the ways Rust code holds properties:
///
/// - `()` and `None` for no properties;
/// - arrays, slices and `Vec`s of `(name, value)` tuples;
/// - `HashMap` (its iteration order) and `BTreeMap` (sorted by name);
/// - any cloneable iterator of pairs, wrapped in [`PropertyIter`];
/// - `Some(properties)` and references to any of the above.
///
/// Names are anything `AsRef<str>`; values anything [`AsValue`] (strings,
/// integers, floats, booleans, [`Value`]). Properties are visited more than
/// once (to validate and size the request before writing it), so an
/// implementation must visit the same pairs every time.
///
/// ```
/// use std::collections::BTreeMap;
/// use km_proto::{Encoder, Options, PropertyIter, Value};
///
/// let enc = Encoder::new("key").unwrap();
/// let opts = Options::new();
/// enc.record("bob", "Signed Up", [("Plan", Value::from("Pro")), ("Amount", Value::from(99.95))], opts).unwrap();
/// enc.set("bob", &[("gender", "male")][..], opts).unwrap();
/// enc.set("bob", BTreeMap::from([("age", 42)]), opts).unwrap();
/// let names = ["a", "b"];
/// enc.set("bob", PropertyIter(names.iter().map(|n| (*n, true))), opts).unwrap();
/// enc.record("bob", "Logged In", (), opts).unwrap();
/// ```
pub trait Properties {
    /// Calls `f` with each property, in order, stopping at the first error.
    ///
    /// # Errors
    /// Whatever `f` returns.
    fn try_for_each<E, F>(&self, f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>;
}

impl Properties for () {
    fn try_for_each<E, F>(&self, _f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>,
    {
        Ok(())
    }
}

impl<P: Properties + ?Sized> Properties for &P {
    fn try_for_each<E, F>(&self, f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>,
    {
        (**self).try_for_each(f)
    }
}

impl<P: Properties> Properties for Option<P> {
    fn try_for_each<E, F>(&self, f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>,
    {
        match self {
            Some(p) => p.try_for_each(f),
            None => Ok(()),
        }
    }
}

impl<K: AsRef<str>, V: AsValue> Properties for [(K, V)] {
    fn try_for_each<E, F>(&self, mut f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>,
    {
        self.iter()
            .try_for_each(|(k, v)| f(k.as_ref(), v.as_value()))
    }
}

impl<K: AsRef<str>, V: AsValue, const N: usize> Properties for [(K, V); N] {
    fn try_for_each<E, F>(&self, f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>,
    {
        self.as_slice().try_for_each(f)
    }
}

impl<K: AsRef<str>, V: AsValue> Properties for Vec<(K, V)> {
    fn try_for_each<E, F>(&self, f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>,
    {
        self.as_slice().try_for_each(f)
    }
}

impl<K: AsRef<str>, V: AsValue, S: BuildHasher> Properties for HashMap<K, V, S> {
    fn try_for_each<E, F>(&self, mut f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>,
    {
        self.iter()
            .try_for_each(|(k, v)| f(k.as_ref(), v.as_value()))
    }
}

impl<K: AsRef<str>, V: AsValue> Properties for BTreeMap<K, V> {
    fn try_for_each<E, F>(&self, mut f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>,
    {
        self.iter()
            .try_for_each(|(k, v)| f(k.as_ref(), v.as_value()))
    }
}

/// Any cloneable iterator of `(name, value)` pairs, as [`Properties`].
///
/// The iterator is cloned for each visit, so it must yield the same pairs
/// each time (iterators over collections, `map`, `chain`, `filter` … do).
///
/// ```
/// use km_proto::{Encoder, Options, PropertyIter};
/// let tags = vec![("source", "ads".to_string()), ("campaign", "fall".to_string())];
/// let req = Encoder::new("k").unwrap()
///     .set("bob", PropertyIter(tags.iter().map(|(k, v)| (*k, v.as_str()))), Options::new())
///     .unwrap();
/// assert!(req.uri().query().unwrap().ends_with("source=ads&campaign=fall"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PropertyIter<I>(pub I);

impl<I, K, V> Properties for PropertyIter<I>
where
    I: Iterator<Item = (K, V)> + Clone,
    K: AsRef<str>,
    V: AsValue,
{
    fn try_for_each<E, F>(&self, mut f: F) -> Result<(), E>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), E>,
    {
        self.0
            .clone()
            .try_for_each(|(k, v)| f(k.as_ref(), v.as_value()))
    }
}
