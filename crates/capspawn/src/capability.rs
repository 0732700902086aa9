//! Capability numbers, masks and names.
//!
//! The kernel numbers capabilities from 0 to `/proc/sys/kernel/cap_last_cap` and passes a
//! thread's sets around as 64-bit masks (bit `n` is capability `n`). Names come from capctl's
//! [`Cap`]; a capability newer than capctl is named `CAP_<number>`, so nothing the kernel
//! reports is ever hidden.

use capctl::caps::Cap;

/// The highest capability number a 64-bit mask can hold.
pub const MAX_CAP_NUMBER: u8 = 63;

/// A set of capabilities as the kernel's 64-bit mask (bit `n` is capability `n`).
///
/// Unlike capctl's `CapSet`, it keeps capabilities capctl does not know about, which is what
/// the checks of a fail-closed drop need: an unknown capability left raised is still raised.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapMask(pub u64);

impl CapMask {
    /// The empty set.
    pub const EMPTY: CapMask = CapMask(0);

    /// Whether no capability is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether capability number `cap` is in the set.
    pub const fn contains(self, cap: u8) -> bool {
        cap <= MAX_CAP_NUMBER && self.0 & (1 << cap) != 0
    }

    /// The capability numbers in the set, lowest first.
    pub fn numbers(self) -> impl Iterator<Item = u8> {
        (0..=MAX_CAP_NUMBER).filter(move |&n| self.contains(n))
    }

    /// The names of the capabilities in the set (`CAP_CHOWN`, …, or `CAP_<n>`), lowest first.
    pub fn names(self) -> Vec<String> {
        self.numbers().map(name).collect()
    }
}

/// The name of capability number `cap`: capctl's name (`CAP_SYS_ADMIN`), or `CAP_<number>` for a
/// capability this build of capctl does not know.
pub fn name(cap: u8) -> String {
    match Cap::iter().find(|c| *c as u8 == cap) {
        Some(c) => c.to_string(),
        None => format!("CAP_{cap}"),
    }
}

/// Parses a capability: `CAP_NET_BIND_SERVICE`, `NET_BIND_SERVICE` or `net_bind_service` (any
/// case), or `CAP_<number>` / a plain number for one capctl does not name. `None` if unknown.
pub fn parse(text: &str) -> Option<u8> {
    let bare = match text.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("CAP_") => &text[4..],
        _ => text,
    };
    if let Ok(n) = bare.parse::<u8>() {
        return (n <= MAX_CAP_NUMBER).then_some(n);
    }
    format!("CAP_{bare}").parse::<Cap>().ok().map(|c| c as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_capctl_and_unknown_ones_are_numbered() {
        assert_eq!(name(0), "CAP_CHOWN");
        assert_eq!(name(21), "CAP_SYS_ADMIN");
        assert_eq!(name(40), "CAP_CHECKPOINT_RESTORE");
        assert_eq!(name(63), "CAP_63");
    }

    #[test]
    fn mask_lists_every_bit_including_unknown_ones() {
        let mask = CapMask((1 << 0) | (1 << 8) | (1 << 62));
        assert_eq!(mask.names(), ["CAP_CHOWN", "CAP_SETPCAP", "CAP_62"]);
        assert!(mask.contains(8) && !mask.contains(9) && !mask.contains(64));
        assert!(CapMask::EMPTY.is_empty() && CapMask::EMPTY.names().is_empty());
    }

    #[test]
    fn parse_accepts_the_usual_spellings() {
        for text in [
            "CAP_NET_BIND_SERVICE",
            "NET_BIND_SERVICE",
            "net_bind_service",
            "cap_Net_Bind_Service",
            "10",
        ] {
            assert_eq!(parse(text), Some(10), "{text}");
        }
        assert_eq!(parse("CAP_45"), Some(45));
        for text in ["", "CAP_", "NOPE", "CAP_NOPE", "64", "-1", "CAP_CHOWN "] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn every_name_parses_back() {
        for n in 0..=MAX_CAP_NUMBER {
            assert_eq!(parse(&name(n)), Some(n));
        }
    }
}
