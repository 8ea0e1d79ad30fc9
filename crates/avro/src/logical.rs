//! The logical types of the specification, as plain functions over their
//! underlying encodings, for generated code and for tools.
//!
//! - decimal: a big-endian two's-complement unscaled integer in `bytes` or
//!   `fixed`, here an `i128` (38 digits, Avro's usual maximum precision) with
//!   the schema's scale carried by [`Decimal`];
//! - uuid: a `string` in the 8-4-4-4-12 hex form, here `[u8; 16]`;
//! - date: days since 1970-01-01 in an `int`, to and from a civil date;
//! - time-millis/micros, timestamp-millis/micros/nanos and the local
//!   timestamps: counts in an `int`/`long`, with range checks and conversions
//!   to [`std::time::SystemTime`] where that means something;
//! - duration: a `fixed` of 12 bytes, three little-endian `u32` (months, days,
//!   milliseconds).
//!
//! Nothing here panics on input; out-of-range values are errors.

use std::fmt;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use crate::binary::{self, Reader};
use crate::error::{DecodeError, DecodeErrorKind};

/// A value that does not fit its logical type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogicalError {
    /// A decimal's unscaled value needs more bytes than the fixed holds, or more than 16.
    #[error("decimal value does not fit in {0} bytes")]
    DecimalOverflow(usize),
    /// A string that is not a UUID in the 8-4-4-4-12 hexadecimal form.
    #[error("{0:?} is not a UUID (expected 8-4-4-4-12 hexadecimal digits)")]
    InvalidUuid(String),
    /// A time of day outside 00:00:00 to 24:00:00 (exclusive).
    #[error("time of day {0} is out of range")]
    TimeOutOfRange(i64),
    /// A civil date outside the range of an `int` of days, or not a real date.
    #[error("date {0:04}-{1:02}-{2:02} is not representable")]
    InvalidDate(i64, u32, u32),
    /// A timestamp outside the range a `long` of the unit can hold.
    #[error("timestamp is out of range")]
    TimestampOutOfRange,
    /// A decimal's text that is not a decimal number with at most the schema's scale.
    #[error("{0:?} is not a decimal number with scale {1}")]
    InvalidDecimal(String, u32),
}

// ---------------------------------------------------------------- decimal

/// A decimal: an unscaled integer and the number of digits after the point
/// (`Decimal { unscaled: 12345, scale: 2 }` is 123.45).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The value times 10^scale.
    pub unscaled: i128,
    /// Digits after the decimal point (the schema's `scale`).
    pub scale: u32,
}

impl Decimal {
    /// Parses a plain decimal number (`-123.45`) at the given scale, refusing
    /// more fractional digits than the scale (no silent rounding).
    pub fn parse(text: &str, scale: u32) -> Result<Decimal, LogicalError> {
        let bad = || LogicalError::InvalidDecimal(text.to_owned(), scale);
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if int_part.is_empty() && frac_part.is_empty()
            || frac_part.len() > scale as usize
            || !int_part.bytes().chain(frac_part.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let mut unscaled: i128 = 0;
        let padding = scale as usize - frac_part.len();
        for b in int_part.bytes().chain(frac_part.bytes()).chain(std::iter::repeat_n(b'0', padding)) {
            unscaled =
                unscaled.checked_mul(10).and_then(|v| v.checked_add(i128::from(b - b'0'))).ok_or_else(bad)?;
        }
        Ok(Decimal { unscaled: if negative { -unscaled } else { unscaled }, scale })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.unscaled.unsigned_abs().to_string();
        let sign = if self.unscaled < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        if digits.len() > scale {
            let (i, frac) = digits.split_at(digits.len() - scale);
            write!(f, "{sign}{i}.{frac}")
        } else {
            write!(f, "{sign}0.{}{digits}", "0".repeat(scale - digits.len()))
        }
    }
}

/// Reads a big-endian two's-complement integer (a decimal's unscaled value).
/// Up to 16 significant bytes; longer input is accepted when the extra
/// leading bytes are only sign extension.
pub fn decimal_from_be_bytes(bytes: &[u8]) -> Result<i128, LogicalError> {
    if bytes.is_empty() {
        return Ok(0);
    }
    let negative = bytes[0] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0x00 };
    let (extra, tail) = bytes.split_at(bytes.len().saturating_sub(16));
    // The sign must survive the cut: extension bytes, and a tail whose top bit agrees.
    if extra.iter().any(|&b| b != fill) || (!extra.is_empty() && (tail[0] & 0x80 != 0) != negative) {
        return Err(LogicalError::DecimalOverflow(16));
    }
    let mut buf = [fill; 16];
    buf[16 - tail.len()..].copy_from_slice(tail);
    Ok(i128::from_be_bytes(buf))
}

/// The shortest big-endian two's-complement bytes of `unscaled` (what Java's
/// `BigInteger.toByteArray` and fastavro write for a `bytes` decimal).
pub fn decimal_to_be_bytes(unscaled: i128) -> Vec<u8> {
    let all = unscaled.to_be_bytes();
    let fill = if unscaled < 0 { 0xff } else { 0x00 };
    // Drop leading sign bytes while the next byte still carries the sign.
    let mut start = 0;
    while start < 15 && all[start] == fill && (all[start + 1] & 0x80) == (fill & 0x80) {
        start += 1;
    }
    all[start..].to_vec()
}

/// `unscaled` sign-extended to exactly `size` bytes (a `fixed` decimal).
pub fn decimal_to_fixed(unscaled: i128, size: usize) -> Result<Vec<u8>, LogicalError> {
    let short = decimal_to_be_bytes(unscaled);
    if short.len() > size {
        return Err(LogicalError::DecimalOverflow(size));
    }
    let fill = if unscaled < 0 { 0xff } else { 0x00 };
    let mut out = vec![fill; size - short.len()];
    out.extend_from_slice(&short);
    Ok(out)
}

/// Appends a `bytes` decimal.
pub fn write_decimal_bytes(buf: &mut Vec<u8>, unscaled: i128) {
    binary::write_bytes(buf, &decimal_to_be_bytes(unscaled));
}

/// Appends a `fixed` decimal of `size` bytes.
pub fn write_decimal_fixed(buf: &mut Vec<u8>, unscaled: i128, size: usize) -> Result<(), LogicalError> {
    binary::write_fixed(buf, &decimal_to_fixed(unscaled, size)?);
    Ok(())
}

/// Reads a `bytes` decimal's unscaled value.
pub fn read_decimal_bytes(r: &mut Reader<'_>) -> Result<i128, DecodeError> {
    let at = r.position();
    let bytes = r.read_bytes()?;
    decimal_from_be_bytes(bytes).map_err(|e| DecodeError::new(DecodeErrorKind::Invalid(e.to_string()), at))
}

/// Reads a `fixed` decimal's unscaled value.
pub fn read_decimal_fixed(r: &mut Reader<'_>, size: usize) -> Result<i128, DecodeError> {
    let at = r.position();
    let bytes = r.read_fixed(size)?;
    decimal_from_be_bytes(bytes).map_err(|e| DecodeError::new(DecodeErrorKind::Invalid(e.to_string()), at))
}

// ---------------------------------------------------------------- uuid

/// Parses a UUID in the 8-4-4-4-12 form (either case).
pub fn parse_uuid(text: &str) -> Result<[u8; 16], LogicalError> {
    let bad = || LogicalError::InvalidUuid(text.to_owned());
    let b = text.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    let mut nibbles = b.iter().filter(|&&c| c != b'-');
    for byte in &mut out {
        let (Some(&hi), Some(&lo)) = (nibbles.next(), nibbles.next()) else { return Err(bad()) };
        let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo)) else { return Err(bad()) };
        *byte = hi << 4 | lo;
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Formats a UUID in the lowercase 8-4-4-4-12 form.
pub fn format_uuid(uuid: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// Appends a `string` uuid.
pub fn write_uuid(buf: &mut Vec<u8>, uuid: &[u8; 16]) {
    binary::write_string(buf, &format_uuid(uuid));
}

/// Reads a `string` uuid.
pub fn read_uuid(r: &mut Reader<'_>) -> Result<[u8; 16], DecodeError> {
    let at = r.position();
    let s = r.read_str()?;
    parse_uuid(s).map_err(|e| DecodeError::new(DecodeErrorKind::Invalid(e.to_string()), at))
}

// ---------------------------------------------------------------- date

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), refusing dates that do not exist or do not fit an `int`.
pub fn date_from_ymd(year: i64, month: u32, day: u32) -> Result<i32, LogicalError> {
    let bad = || LogicalError::InvalidDate(year, month, day);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(bad());
    }
    if !(-6_000_000..=6_000_000).contains(&year) {
        return Err(bad());
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).map_err(|_| bad())
}

/// The proleptic Gregorian date (year, month, day) of a day count since 1970-01-01.
pub fn date_to_ymd(days: i32) -> (i64, u32, u32) {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

// ---------------------------------------------------------------- times of day

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Checks a `time-millis` value (milliseconds after midnight, below 24 h).
pub fn check_time_millis(millis: i32) -> Result<i32, LogicalError> {
    if (0..MILLIS_PER_DAY).contains(&i64::from(millis)) {
        Ok(millis)
    } else {
        Err(LogicalError::TimeOutOfRange(i64::from(millis)))
    }
}

/// Checks a `time-micros` value (microseconds after midnight, below 24 h).
pub fn check_time_micros(micros: i64) -> Result<i64, LogicalError> {
    if (0..MILLIS_PER_DAY * 1000).contains(&micros) {
        Ok(micros)
    } else {
        Err(LogicalError::TimeOutOfRange(micros))
    }
}

/// A `time-millis` value from hours, minutes, seconds and milliseconds.
pub fn time_millis(hour: u32, minute: u32, second: u32, milli: u32) -> Result<i32, LogicalError> {
    let ms = i64::from(hour) * 3_600_000
        + i64::from(minute) * 60_000
        + i64::from(second) * 1000
        + i64::from(milli);
    if hour >= 24 || minute >= 60 || second >= 60 || milli >= 1000 {
        return Err(LogicalError::TimeOutOfRange(ms));
    }
    // Below 86 400 000, so it fits an i32.
    Ok(ms as i32)
}

// ---------------------------------------------------------------- timestamps

/// A point in time as a count of `unit_nanos`-nanosecond units since the
/// epoch, rounded toward negative infinity (so instants before 1970 are exact
/// at the unit and not off by one).
fn since_epoch(t: SystemTime, unit_nanos: u128) -> Result<i64, LogicalError> {
    let out = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos() / unit_nanos).ok(),
        Err(e) => {
            let n = e.duration().as_nanos();
            i128::try_from(n.div_ceil(unit_nanos)).ok().map(|v| -v)
        }
    };
    out.and_then(|v| i64::try_from(v).ok()).ok_or(LogicalError::TimestampOutOfRange)
}

fn from_epoch(count: i64, unit_nanos: u64) -> Result<SystemTime, LogicalError> {
    let nanos = u128::from(count.unsigned_abs()) * u128::from(unit_nanos);
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| LogicalError::TimestampOutOfRange)?;
    let d = StdDuration::new(secs, (nanos % 1_000_000_000) as u32);
    let t = if count >= 0 { UNIX_EPOCH.checked_add(d) } else { UNIX_EPOCH.checked_sub(d) };
    t.ok_or(LogicalError::TimestampOutOfRange)
}

/// `timestamp-millis` of a point in time.
pub fn timestamp_millis(t: SystemTime) -> Result<i64, LogicalError> {
    since_epoch(t, 1_000_000)
}

/// `timestamp-micros` of a point in time.
pub fn timestamp_micros(t: SystemTime) -> Result<i64, LogicalError> {
    since_epoch(t, 1_000)
}

/// `timestamp-nanos` of a point in time.
pub fn timestamp_nanos(t: SystemTime) -> Result<i64, LogicalError> {
    since_epoch(t, 1)
}

/// The point in time of a `timestamp-millis` value.
pub fn system_time_from_millis(millis: i64) -> Result<SystemTime, LogicalError> {
    from_epoch(millis, 1_000_000)
}

/// The point in time of a `timestamp-micros` value.
pub fn system_time_from_micros(micros: i64) -> Result<SystemTime, LogicalError> {
    from_epoch(micros, 1_000)
}

/// The point in time of a `timestamp-nanos` value.
pub fn system_time_from_nanos(nanos: i64) -> Result<SystemTime, LogicalError> {
    from_epoch(nanos, 1)
}

/// A `local-timestamp-millis`/`-micros` value from a civil date and time of
/// day (no time zone: the value is the wall-clock reading).
pub fn local_timestamp(days: i32, time_of_day_micros: i64, unit: TimeUnit) -> Result<i64, LogicalError> {
    check_time_micros(time_of_day_micros)?;
    let micros = i64::from(days) * MILLIS_PER_DAY * 1000 + time_of_day_micros;
    match unit {
        TimeUnit::Millis => Ok(micros.div_euclid(1000)),
        TimeUnit::Micros => Ok(micros),
        TimeUnit::Nanos => micros.checked_mul(1000).ok_or(LogicalError::TimestampOutOfRange),
    }
}

/// The unit of a timestamp logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

// ---------------------------------------------------------------- duration

/// An Avro `duration`: months, days and milliseconds, each an unsigned 32-bit count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Duration {
    /// Months.
    pub months: u32,
    /// Days.
    pub days: u32,
    /// Milliseconds.
    pub millis: u32,
}

impl Duration {
    /// The 12-byte fixed encoding (three little-endian `u32`).
    pub fn to_bytes(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..4].copy_from_slice(&self.months.to_le_bytes());
        out[4..8].copy_from_slice(&self.days.to_le_bytes());
        out[8..].copy_from_slice(&self.millis.to_le_bytes());
        out
    }

    /// From the 12-byte fixed encoding.
    pub fn from_bytes(b: [u8; 12]) -> Duration {
        Duration {
            months: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            days: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            millis: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// Appends a `duration`.
pub fn write_duration(buf: &mut Vec<u8>, d: Duration) {
    binary::write_fixed(buf, &d.to_bytes());
}

/// Reads a `duration`.
pub fn read_duration(r: &mut Reader<'_>) -> Result<Duration, DecodeError> {
    Ok(Duration::from_bytes(r.read_array::<12>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_bytes_are_minimal_twos_complement() {
        let cases: &[(i128, &[u8])] = &[
            (0, &[0]),
            (1, &[1]),
            (-1, &[0xff]),
            (127, &[0x7f]),
            (128, &[0x00, 0x80]),
            (-128, &[0x80]),
            (-129, &[0xff, 0x7f]),
            (12345, &[0x30, 0x39]),
        ];
        for (v, bytes) in cases {
            assert_eq!(decimal_to_be_bytes(*v), *bytes, "{v}");
            assert_eq!(decimal_from_be_bytes(bytes).unwrap(), *v);
        }
        for v in [i128::MAX, i128::MIN, i128::MIN + 1, -(1i128 << 100)] {
            assert_eq!(decimal_from_be_bytes(&decimal_to_be_bytes(v)).unwrap(), v);
        }
    }

    #[test]
    fn decimal_fixed_sign_extends_and_refuses_overflow() {
        assert_eq!(decimal_to_fixed(-2, 4).unwrap(), [0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(decimal_to_fixed(300, 3).unwrap(), [0, 1, 44]);
        assert_eq!(decimal_to_fixed(1 << 20, 2), Err(LogicalError::DecimalOverflow(2)));
        // 20 bytes of sign extension around a small value are accepted; a real 17-byte value is not.
        let mut wide = vec![0xffu8; 19];
        wide.push(0xfe);
        assert_eq!(decimal_from_be_bytes(&wide).unwrap(), -2);
        let mut big = vec![0x01u8];
        big.extend([0u8; 16]);
        assert_eq!(decimal_from_be_bytes(&big), Err(LogicalError::DecimalOverflow(16)));
        // A 17-byte positive value whose 16-byte tail would read as negative is refused.
        let mut tricky = vec![0x00u8];
        tricky.extend([0x80u8; 16]);
        assert!(decimal_from_be_bytes(&tricky).is_err());
    }

    #[test]
    fn decimals_format_and_parse_at_their_scale() {
        assert_eq!(Decimal { unscaled: 12345, scale: 2 }.to_string(), "123.45");
        assert_eq!(Decimal { unscaled: -5, scale: 3 }.to_string(), "-0.005");
        assert_eq!(Decimal { unscaled: 7, scale: 0 }.to_string(), "7");
        assert_eq!(Decimal::parse("-0.005", 3).unwrap(), Decimal { unscaled: -5, scale: 3 });
        assert_eq!(Decimal::parse("12.3", 2).unwrap(), Decimal { unscaled: 1230, scale: 2 });
        assert!(Decimal::parse("1.234", 2).is_err());
        assert!(Decimal::parse("1e5", 2).is_err());
        assert!(Decimal::parse("", 2).is_err());
        assert!(Decimal::parse("99999999999999999999999999999999999999999", 0).is_err());
    }

    #[test]
    fn uuids_round_trip_and_bad_ones_are_refused() {
        let text = "123e4567-E89B-12d3-a456-426614174000";
        let u = parse_uuid(text).unwrap();
        assert_eq!(u[0], 0x12);
        assert_eq!(format_uuid(&u), text.to_lowercase());
        let mut buf = Vec::new();
        write_uuid(&mut buf, &u);
        assert_eq!(read_uuid(&mut Reader::new(&buf)).unwrap(), u);
        for bad in [
            "",
            "123e4567e89b12d3a456426614174000",
            "123e4567-e89b-12d3-a456-42661417400g",
            "é23e4567-e89b-12d3-a456-42661417400",
        ] {
            assert!(parse_uuid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_match_known_days() {
        assert_eq!(date_from_ymd(1970, 1, 1).unwrap(), 0);
        assert_eq!(date_from_ymd(2000, 3, 1).unwrap(), 11_017);
        assert_eq!(date_from_ymd(1969, 12, 31).unwrap(), -1);
        assert_eq!(date_to_ymd(11_017), (2000, 3, 1));
        assert_eq!(date_to_ymd(-1), (1969, 12, 31));
        assert!(date_from_ymd(2023, 2, 29).is_err());
        assert!(date_from_ymd(2024, 2, 29).is_ok());
        assert!(date_from_ymd(2024, 13, 1).is_err());
        for d in [i32::MIN, -1_000_000, 0, 19_000, i32::MAX] {
            let (y, m, dd) = date_to_ymd(d);
            assert_eq!(date_from_ymd(y, m, dd).unwrap(), d);
        }
    }

    #[test]
    fn times_of_day_are_range_checked() {
        assert_eq!(time_millis(23, 59, 59, 999).unwrap(), 86_399_999);
        assert!(time_millis(24, 0, 0, 0).is_err());
        assert!(check_time_millis(-1).is_err());
        assert!(check_time_micros(86_400_000_000).is_err());
        assert_eq!(check_time_micros(0).unwrap(), 0);
    }

    #[test]
    fn timestamps_convert_both_ways_including_before_the_epoch() {
        let t = UNIX_EPOCH + StdDuration::from_millis(1_700_000_000_123);
        assert_eq!(timestamp_millis(t).unwrap(), 1_700_000_000_123);
        assert_eq!(timestamp_micros(t).unwrap(), 1_700_000_000_123_000);
        assert_eq!(system_time_from_millis(1_700_000_000_123).unwrap(), t);
        let before = UNIX_EPOCH - StdDuration::from_micros(1500);
        assert_eq!(timestamp_millis(before).unwrap(), -2);
        assert_eq!(timestamp_micros(before).unwrap(), -1500);
        assert_eq!(system_time_from_micros(-1500).unwrap(), before);
        assert_eq!(local_timestamp(1, 1_000, TimeUnit::Millis).unwrap(), 86_400_001);
        assert_eq!(local_timestamp(-1, 0, TimeUnit::Micros).unwrap(), -86_400_000_000);
    }

    #[test]
    fn durations_are_three_little_endian_u32() {
        let d = Duration { months: 1, days: 2, millis: 0x0102_0304 };
        assert_eq!(d.to_bytes(), [1, 0, 0, 0, 2, 0, 0, 0, 4, 3, 2, 1]);
        let mut buf = Vec::new();
        write_duration(&mut buf, d);
        assert_eq!(read_duration(&mut Reader::new(&buf)).unwrap(), d);
        assert!(read_duration(&mut Reader::new(&buf[..11])).is_err());
    }
}
