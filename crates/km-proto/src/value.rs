//! Property values and their text form on the wire.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::rc::Rc;
use std::sync::Arc;

/// A property value: text, a number or a boolean.
///
/// Values are rendered as the reference Python client renders them with
/// `str()`, so the same data sent from Python and from Rust reads the same in
/// KISSmetrics: integers in decimal, floats in Python's shortest round-trip
/// form (`99.95`, `1.0`, `1e+16`, `nan`), booleans as `True` / `False`.
///
/// ```
/// use km_proto::Value;
/// assert_eq!(Value::from("Pro").to_string(), "Pro");
/// assert_eq!(Value::from(42_u8).to_string(), "42");
/// assert_eq!(Value::from(99.95).to_string(), "99.95");
/// assert_eq!(Value::from(1.0).to_string(), "1.0");
/// assert_eq!(Value::from(1e16).to_string(), "1e+16");
/// assert_eq!(Value::from(true).to_string(), "True");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// Text, sent as it is.
    Str(&'a str),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A double-precision float.
    Float(f64),
    /// A single-precision float, rendered with its own shortest digits.
    Float32(f32),
    /// A boolean, rendered `True` / `False` as Python does.
    Bool(bool),
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => f.write_str(PyFloat::f64(x).as_str()),
            Value::Float32(x) => f.write_str(PyFloat::f32(x).as_str()),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
        }
    }
}

/// Anything that can be viewed as a property [`Value`] without copying.
///
/// Implemented for string types, integers, floats, booleans, [`Value`] and
/// references to any of them, so `("Plan", "Pro")`, `("Price", 9.99)` and
/// `(&name, &value)` all work as properties.
///
/// ```
/// use km_proto::{AsValue, Value};
/// let owned = String::from("Pro");
/// assert_eq!(owned.as_value(), Value::Str("Pro"));
/// assert_eq!((&7_i32).as_value(), Value::Int(7));
/// ```
pub trait AsValue {
    /// The value this stands for.
    fn as_value(&self) -> Value<'_>;
}

impl AsValue for Value<'_> {
    fn as_value(&self) -> Value<'_> {
        *self
    }
}

impl<T: AsValue + ?Sized> AsValue for &T {
    fn as_value(&self) -> Value<'_> {
        (**self).as_value()
    }
}

impl<T: AsValue + ?Sized> AsValue for &mut T {
    fn as_value(&self) -> Value<'_> {
        (**self).as_value()
    }
}

macro_rules! as_value_via_str {
    ($($t:ty),*) => {$(
        impl AsValue for $t {
            fn as_value(&self) -> Value<'_> {
                Value::Str(self.as_ref())
            }
        }
    )*};
}
as_value_via_str!(str, String, Box<str>, Rc<str>, Arc<str>, Cow<'_, str>);

macro_rules! value_from {
    ($variant:ident, $as:ty: $($t:ty),*) => {$(
        impl AsValue for $t {
            fn as_value(&self) -> Value<'_> {
                Value::$variant(<$as>::from(*self))
            }
        }
        impl From<$t> for Value<'_> {
            fn from(v: $t) -> Self {
                Value::$variant(<$as>::from(v))
            }
        }
    )*};
}
value_from!(Int, i64: i8, i16, i32, i64);
value_from!(UInt, u64: u8, u16, u32, u64);
value_from!(Float, f64: f64);
value_from!(Float32, f32: f32);
value_from!(Bool, bool: bool);

// `isize`/`usize` are at most 64 bits on every target Rust supports.
impl AsValue for isize {
    fn as_value(&self) -> Value<'_> {
        Value::Int(*self as i64)
    }
}
impl From<isize> for Value<'_> {
    fn from(v: isize) -> Self {
        Value::Int(v as i64)
    }
}
impl AsValue for usize {
    fn as_value(&self) -> Value<'_> {
        Value::UInt(*self as u64)
    }
}
impl From<usize> for Value<'_> {
    fn from(v: usize) -> Self {
        Value::UInt(v as u64)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Str(s)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(s: &'a String) -> Self {
        Value::Str(s)
    }
}
impl<'a> From<&'a Cow<'_, str>> for Value<'a> {
    fn from(s: &'a Cow<'_, str>) -> Self {
        Value::Str(s)
    }
}

/// A float in Python's `repr` form, held on the stack.
///
/// Python (`float_repr_style = 'short'`) prints the shortest digits that
/// round-trip, in positional notation when the decimal exponent is in
/// `-5 < e < 16` (adding `.0` to whole numbers) and otherwise as
/// `d.ddde±XX` with at least two exponent digits. Rust's `{:e}` gives the
/// same shortest digits; this only rearranges them. No crate does this
/// (ryu and the standard library print `1e16` / `1`), hence by hand.
pub(crate) struct PyFloat {
    buf: [u8; PyFloat::MAX],
    len: usize,
}

impl PyFloat {
    /// The longest output: `-1.2345678901234567e-308`.
    pub(crate) const MAX: usize = 25;

    pub(crate) fn f64(x: f64) -> Self {
        let mut sci = StackStr::<40>::new();
        // Writing to a `StackStr` of 40 bytes cannot fail for `{:e}` of an
        // f64 (at most 24 bytes); an error would only truncate.
        let _ = write!(sci, "{:e}", x.abs());
        Self::from_parts(
            x.is_sign_negative(),
            x.is_nan(),
            x.is_infinite(),
            sci.as_str(),
        )
    }

    pub(crate) fn f32(x: f32) -> Self {
        let mut sci = StackStr::<40>::new();
        let _ = write!(sci, "{:e}", x.abs());
        Self::from_parts(
            x.is_sign_negative(),
            x.is_nan(),
            x.is_infinite(),
            sci.as_str(),
        )
    }

    fn from_parts(negative: bool, nan: bool, inf: bool, sci: &str) -> Self {
        let mut out = StackStr::<{ PyFloat::MAX }>::new();
        if nan {
            out.push_str("nan");
            return out.into();
        }
        if negative {
            out.push_str("-");
        }
        if inf {
            out.push_str("inf");
            return out.into();
        }
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let (int_digit, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        // Digits d1 d2 ... dn with the decimal point after position `decpt`.
        let digits_len = int_digit.len() + frac.len();
        let digit = |i: usize| -> &str {
            if i < int_digit.len() {
                &int_digit[i..=i]
            } else {
                &frac[i - int_digit.len()..=i - int_digit.len()]
            }
        };
        let decpt = exp + 1;
        if decpt <= -4 || decpt > 16 {
            out.push_str(int_digit);
            if !frac.is_empty() {
                out.push_str(".");
                out.push_str(frac);
            }
            out.push_str(if exp < 0 { "e-" } else { "e+" });
            let e = exp.unsigned_abs();
            if e < 10 {
                out.push_str("0");
            }
            let mut num = StackStr::<8>::new();
            let _ = write!(num, "{e}");
            out.push_str(num.as_str());
        } else if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..(-decpt) {
                out.push_str("0");
            }
            for i in 0..digits_len {
                out.push_str(digit(i));
            }
        } else {
            let decpt = decpt as usize;
            for i in 0..digits_len.max(decpt) {
                if i == decpt {
                    out.push_str(".");
                }
                out.push_str(if i < digits_len { digit(i) } else { "0" });
            }
            if decpt >= digits_len {
                out.push_str(".0");
            }
        }
        out.into()
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl From<StackStr<{ PyFloat::MAX }>> for PyFloat {
    fn from(s: StackStr<{ PyFloat::MAX }>) -> Self {
        PyFloat {
            buf: s.buf,
            len: s.len,
        }
    }
}

/// A fixed-capacity ASCII string on the stack; writes past the end are cut.
pub(crate) struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    pub(crate) const fn new() -> Self {
        StackStr {
            buf: [0; N],
            len: 0,
        }
    }

    fn push_str(&mut self, s: &str) {
        let n = s.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > N {
            return Err(fmt::Error);
        }
        self.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_render_as_python_repr() {
        // Expected strings are Python 3's repr() of the same floats.
        let cases: &[(f64, &str)] = &[
            (99.95, "99.95"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1381849312.5, "1381849312.5"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-1.2345678901234567e-308, "-1.2345678901234567e-308"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (123.0, "123.0"),
            (1234.5678, "1234.5678"),
        ];
        for &(x, want) in cases {
            assert_eq!(PyFloat::f64(x).as_str(), want, "{x:e}");
        }
        assert_eq!(PyFloat::f32(0.1).as_str(), "0.1");
        assert_eq!(PyFloat::f32(3.0).as_str(), "3.0");
    }

    #[test]
    fn values_render() {
        assert_eq!(Value::from(-5_i8).to_string(), "-5");
        assert_eq!(Value::from(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(Value::from(false).to_string(), "False");
        assert_eq!(Value::from(usize::MAX).to_string(), usize::MAX.to_string());
        assert_eq!(Value::from(&String::from("x")), Value::Str("x"));
    }
}
