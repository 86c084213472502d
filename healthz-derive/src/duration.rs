//! The duration grammar of `timeout`, `cache` and `busy_limit`: a whole
//! number and a unit.

use std::fmt::{self, Display};

/// Every accepted unit and its length in nanoseconds. Hours and days are
/// left out on purpose: no probe deadline or cache lifetime should be that
/// long, and `m` still allows it for the rare case that needs it.
pub(crate) const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
];

/// Why a duration string was rejected. Each message names the offending text
/// and says what is accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Error {
    Malformed(String),
    Negative(String),
    Overflow(String),
    UnknownUnit { text: String, unit: String },
}

/// Parses `"250ms"`, `"2s"` and the like into nanoseconds.
pub(crate) fn parse(text: &str) -> Result<u64, Error> {
    if let Some(magnitude) = text.strip_prefix('-') {
        // A sign in front of an otherwise valid duration is a more useful
        // thing to point out than "malformed".
        return match split(magnitude) {
            Some(_) => Err(Error::Negative(text.to_owned())),
            None => Err(Error::Malformed(text.to_owned())),
        };
    }
    let (digits, unit) = split(text).ok_or_else(|| Error::Malformed(text.to_owned()))?;
    let Some(&(_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(Error::UnknownUnit {
            text: text.to_owned(),
            unit: unit.to_owned(),
        });
    };
    // `digits` is non-empty ASCII digits, so parsing fails only on overflow.
    digits
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(unit_nanos))
        .ok_or_else(|| Error::Overflow(text.to_owned()))
}

/// Splits `"250ms"` into `("250", "ms")`, or `None` if the text is not a
/// whole number followed by a word.
fn split(text: &str) -> Option<(&str, &str)> {
    let unit_start = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(unit_start);
    let well_formed = !digits.is_empty() && unit.chars().all(char::is_alphabetic);
    well_formed.then_some((digits, unit))
}

/// `800_000_000` → `"800ms"`: the duration in the largest unit that holds
/// it whole, as a user would write it.
pub(crate) fn format(nanos: u64) -> String {
    for &(unit, unit_nanos) in UNITS.iter().rev() {
        if nanos % unit_nanos == 0 {
            return format!("{}{unit}", nanos / unit_nanos);
        }
    }
    unreachable!("`ns` divides every duration")
}

/// `` `ns`, `us`, `ms`, `s`, `m` ``
pub(crate) fn unit_list() -> String {
    let names: Vec<String> = UNITS.iter().map(|(name, _)| format!("`{name}`")).collect();
    names.join(", ")
}

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = unit_list();
        match self {
            Self::Malformed(text) => write!(
                f,
                "malformed duration `{text}`: expected a whole number and a unit, such as \
                 `\"250ms\"` or `\"2s\"` (units: {units})"
            ),
            Self::Negative(text) => write!(
                f,
                "negative duration `{text}`: expected a whole number and a unit, such as \
                 `\"{}\"`",
                &text[1..]
            ),
            Self::Overflow(text) => write!(
                f,
                "duration `{text}` is too long: it must fit in {} nanoseconds (about 584 years)",
                u64::MAX
            ),
            Self::UnknownUnit { text, unit } => {
                write!(
                    f,
                    "unknown duration unit `{unit}` in `{text}`: expected one of {units}"
                )?;
                if unit == "h" {
                    // The one unit people reach for that is left out; show
                    // the spelling that works.
                    if let Ok(hours) = text[..text.len() - 1].parse::<u64>() {
                        if let Some(minutes) = hours.checked_mul(60) {
                            write!(f, "; write `\"{minutes}m\"`")?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{format, parse, Error};

    #[test]
    fn accepts_every_unit() {
        assert_eq!(parse("7ns"), Ok(7));
        assert_eq!(parse("7us"), Ok(7_000));
        assert_eq!(parse("250ms"), Ok(250_000_000));
        assert_eq!(parse("2s"), Ok(2_000_000_000));
        assert_eq!(parse("3m"), Ok(180_000_000_000));
        assert_eq!(parse("0s"), Ok(0));
        assert_eq!(parse("007ms"), Ok(7_000_000));
    }

    #[test]
    fn rejects_malformed_text() {
        for text in [
            "", "abc", "ms", "1.5.s", "1.5s", "5", "5 s", " 5s", "5s ", "+5s", "5s5", "-", "-ms",
        ] {
            assert_eq!(
                parse(text),
                Err(Error::Malformed(text.to_owned())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn rejects_negative_durations() {
        assert_eq!(parse("-5s"), Err(Error::Negative("-5s".to_owned())));
        assert_eq!(parse("-5h"), Err(Error::Negative("-5h".to_owned())));
    }

    #[test]
    fn rejects_unknown_units() {
        let unknown = |text: &str, unit: &str| Error::UnknownUnit {
            text: text.to_owned(),
            unit: unit.to_owned(),
        };
        assert_eq!(parse("5h"), Err(unknown("5h", "h")));
        assert_eq!(parse("5S"), Err(unknown("5S", "S")));
        assert_eq!(parse("5µs"), Err(unknown("5µs", "µs")));
        assert_eq!(parse("5sec"), Err(unknown("5sec", "sec")));
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(parse("18446744073709551615ns"), Ok(u64::MAX));
        for text in [
            "18446744073709551616ns",
            "18446744073709552s",
            "99999999999999999999999ms",
        ] {
            assert_eq!(parse(text), Err(Error::Overflow(text.to_owned())), "{text}");
        }
        // The largest whole number of minutes that fits, and one more.
        assert_eq!(parse("307445734m"), Ok(307_445_734 * 60_000_000_000));
        assert_eq!(
            parse("307445735m"),
            Err(Error::Overflow("307445735m".to_owned()))
        );
    }

    #[test]
    fn formats_in_the_largest_whole_unit() {
        assert_eq!(format(800_000_000), "800ms");
        assert_eq!(format(15_000_000_000), "15s");
        assert_eq!(format(90_000_000_000), "90s");
        assert_eq!(format(120_000_000_000), "2m");
        assert_eq!(format(1_500), "1500ns");
        for nanos in [1, 999, 1_000, 250_000_000, u64::MAX] {
            assert_eq!(parse(&format(nanos)), Ok(nanos));
        }
    }

    #[test]
    fn messages_say_what_is_accepted() {
        let message = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(
            message("abc"),
            "malformed duration `abc`: expected a whole number and a unit, such as `\"250ms\"` \
             or `\"2s\"` (units: `ns`, `us`, `ms`, `s`, `m`)"
        );
        assert_eq!(
            message("5h"),
            "unknown duration unit `h` in `5h`: expected one of `ns`, `us`, `ms`, `s`, `m`; \
             write `\"300m\"`"
        );
        assert_eq!(
            message("-5s"),
            "negative duration `-5s`: expected a whole number and a unit, such as `\"5s\"`"
        );
        assert!(message("99999999999m").contains("too long"));
    }
}
