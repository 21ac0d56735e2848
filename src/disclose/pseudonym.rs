//! Keyed pseudonyms: canonicalise an identifier according to its kind, MAC it with the audience's key
//! (HMAC-SHA-256, `crate::keys`), and encode the first 128 bits as 26 lowercase base32 characters.
//!
//! Why canonicalise: the same professional or establishment reaches us written in several ways (an
//! RPPS with or without its `8` prefix, a FINESS that lost its leading zero in a spreadsheet, a phone
//! number with dots or `+33`). Without one canonical form the same person would get several
//! pseudonyms and a recipient's longitudinal study would split them. Why prefix the kind: a SIREN
//! and a FINESS can be the same nine digits; `finess:…` and `siren:…` keep their pseudonyms apart.
//!
//! The exact MAC input is `<kind>:<canonical value>` in UTF-8, and the output is
//! `base32_lower_nopad(HMAC-SHA-256(key, input)[0..16])` (RFC 4648 alphabet). Both are pinned by the
//! known-answer vectors in tests/vectors/pseudonyms.json: changing either changes every pseudonym
//! every recipient holds, which is a rotation, not a refactoring.
//!
//! Canonicalisation never fails and never quotes a value: a value that does not look like its kind
//! is still pseudonymised (trimmed, separators removed), so no identifier reaches an error message.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::keys::AudienceKey;

/// The kind of identifier a pseudonymised column holds; it decides the canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// idNat_PS: `8` + RPPS (11 digits) or `0` + ADELI (9 digits); a bare RPPS or ADELI gets its prefix.
    IdnatPs,
    /// FINESS (9 characters, 2A/2B for Corsica); an 8-digit value lost its leading zero.
    Finess,
    /// SIREN, 9 digits.
    Siren,
    /// SIRET, 14 digits.
    Siret,
    /// A ROR technical id (FHIR `id`, case-sensitive); a `Type/` reference prefix is removed.
    Ror,
    /// A French phone or fax number, in national form `0XXXXXXXXX`.
    Telephone,
    /// An e-mail address, lower-cased.
    Email,
    /// A telecom value of any channel: e-mail if it has an `@`, phone if it is a number, else text.
    Telecom,
    /// Free text such as a name: trimmed, inner spaces collapsed, upper-cased.
    Texte,
}

impl IdentifierKind {
    pub const ALL: [IdentifierKind; 9] = [
        IdentifierKind::IdnatPs,
        IdentifierKind::Finess,
        IdentifierKind::Siren,
        IdentifierKind::Siret,
        IdentifierKind::Ror,
        IdentifierKind::Telephone,
        IdentifierKind::Email,
        IdentifierKind::Telecom,
        IdentifierKind::Texte,
    ];

    /// The name used in policy files and in the MAC input.
    pub fn name(self) -> &'static str {
        match self {
            IdentifierKind::IdnatPs => "idnat_ps",
            IdentifierKind::Finess => "finess",
            IdentifierKind::Siren => "siren",
            IdentifierKind::Siret => "siret",
            IdentifierKind::Ror => "ror",
            IdentifierKind::Telephone => "telephone",
            IdentifierKind::Email => "email",
            IdentifierKind::Telecom => "telecom",
            IdentifierKind::Texte => "texte",
        }
    }

    pub fn parse(name: &str) -> Option<IdentifierKind> {
        IdentifierKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Characters people and exports put inside identifiers and numbers.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '.' | '-' | '/' | '(' | ')' | '_' | '\u{a0}' | '\u{202f}')
}

fn strip_separators(value: &str) -> String {
    value.chars().filter(|c| !is_separator(*c)).collect()
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Left-pad with zeros a value that is all digits and shorter than `width` (leading zeros lost by a
/// numeric column somewhere upstream).
fn pad_digits(s: String, width: usize) -> String {
    if all_digits(&s) && s.len() < width {
        format!("{}{s}", "0".repeat(width - s.len()))
    } else {
        s
    }
}

/// The canonical form of `value` for its kind (without the kind prefix).
pub fn canonical(kind: IdentifierKind, value: &str) -> String {
    let trimmed = value.trim();
    match kind {
        IdentifierKind::IdnatPs => {
            let s = strip_separators(trimmed).to_uppercase();
            match s.len() {
                // A bare RPPS (11 digits) or ADELI (9 digits, or 8 when its leading zero was lost).
                11 if all_digits(&s) => format!("8{s}"),
                9 if all_digits(&s) => format!("0{s}"),
                8 if all_digits(&s) => format!("00{s}"),
                _ => s,
            }
        }
        IdentifierKind::Finess => pad_digits(strip_separators(trimmed).to_uppercase(), 9),
        IdentifierKind::Siren => pad_digits(strip_separators(trimmed), 9),
        IdentifierKind::Siret => pad_digits(strip_separators(trimmed), 14),
        IdentifierKind::Ror => {
            // "Organization/123" (a reference) and "123" (an id) name the same resource.
            match trimmed.split_once('/') {
                // A FHIR resource type is CamelCase ("RR/0099999", an offer's functional id, is not one).
                Some((prefix, id)) if prefix.chars().all(|c| c.is_ascii_alphabetic()) && prefix.starts_with(|c: char| c.is_ascii_uppercase()) && prefix.chars().any(|c| c.is_ascii_lowercase()) => id.to_owned(),
                _ => trimmed.to_owned(),
            }
        }
        IdentifierKind::Telephone => phone(trimmed).unwrap_or_else(|| strip_separators(trimmed).to_uppercase()),
        IdentifierKind::Email => trimmed.to_lowercase(),
        IdentifierKind::Telecom => {
            if trimmed.contains('@') {
                trimmed.to_lowercase()
            } else {
                phone(trimmed).unwrap_or_else(|| trimmed.to_owned())
            }
        }
        IdentifierKind::Texte => trimmed.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase(),
    }
}

/// French numbering plan: `+33 1 23 45 67 89`, `0033123456789`, `01.23.45.67.89` and `123456789`
/// are all `0123456789`; the overseas departments' country codes (+262, +590, +594, +596) are also
/// national numbers there. Other international numbers stay `+<digits>`. None when it is not a number.
fn phone(value: &str) -> Option<String> {
    let s = strip_separators(value);
    let (international, digits) = if let Some(rest) = s.strip_prefix('+') {
        (true, rest.to_owned())
    } else if let Some(rest) = s.strip_prefix("00") {
        (true, rest.to_owned())
    } else {
        (false, s)
    };
    if !all_digits(&digits) {
        return None;
    }
    if international {
        for code in ["33", "262", "590", "594", "596"] {
            if let Some(national) = digits.strip_prefix(code) {
                let national = national.strip_prefix('0').unwrap_or(national);
                if national.len() == 9 {
                    return Some(format!("0{national}"));
                }
            }
        }
        return Some(format!("+{digits}"));
    }
    match digits.len() {
        9 if !digits.starts_with('0') => Some(format!("0{digits}")),
        _ => Some(digits),
    }
}

/// The bytes the MAC sees: `<kind>:<canonical value>`.
pub fn mac_input(kind: IdentifierKind, value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_mac_input(kind, value, &mut out);
    out
}

/// `mac_input` into a buffer the caller reuses: a national-scale column has millions of values,
/// and for the numeric identifiers (ASCII) the canonical form is made in place, without the
/// intermediate strings of `canonical` (same bytes: a property test compares both).
fn write_mac_input(kind: IdentifierKind, value: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(kind.name().as_bytes());
    out.push(b':');
    let numeric_width = match kind {
        IdentifierKind::IdnatPs => Some(0),
        IdentifierKind::Finess | IdentifierKind::Siren => Some(9),
        IdentifierKind::Siret => Some(14),
        _ => None,
    };
    match numeric_width {
        Some(width) if value.is_ascii() => {
            let upper = matches!(kind, IdentifierKind::IdnatPs | IdentifierKind::Finess);
            // ASCII separators of `is_separator`: White_Space (tab to carriage return, space) and . - / ( ) _.
            let separator = |b: u8| matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ' | b'.' | b'-' | b'/' | b'(' | b')' | b'_');
            let trimmed = value.trim().as_bytes();
            // The body's length and whether it is all digits decide the prefix, written first.
            let (mut len, mut digits) = (0, true);
            for &b in trimmed {
                if !separator(b) {
                    len += 1;
                    digits &= b.is_ascii_digit();
                }
            }
            let digits = digits && len > 0;
            let prefix: &[u8] = match (kind, len) {
                (IdentifierKind::IdnatPs, 11) if digits => b"8",
                (IdentifierKind::IdnatPs, 9) if digits => b"0",
                (IdentifierKind::IdnatPs, 8) if digits => b"00",
                (IdentifierKind::IdnatPs, _) => b"",
                (_, n) if digits && n < width => &ZEROS[..width - n],
                _ => b"",
            };
            out.extend_from_slice(prefix);
            let start = out.len();
            if len == trimmed.len() {
                // No separator (the usual identifier): copied whole.
                out.extend_from_slice(trimmed);
            } else {
                out.extend(trimmed.iter().copied().filter(|&b| !separator(b)));
            }
            if upper && !digits {
                out[start..].make_ascii_uppercase();
            }
        }
        _ => out.extend_from_slice(canonical(kind, value).as_bytes()),
    }
}

/// Enough zeros to pad the widest identifier.
const ZEROS: [u8; 14] = [b'0'; 14];

/// RFC 4648 base32, lower case, no padding.
pub fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Length of every pseudonym: 128 bits in base32.
pub const PSEUDONYM_LEN: usize = 26;

/// Computes one audience's pseudonyms.
pub struct Pseudonymiser<'k> {
    key: &'k AudienceKey,
}

impl<'k> Pseudonymiser<'k> {
    pub fn new(key: &'k AudienceKey) -> Self {
        Pseudonymiser { key }
    }

    pub fn key(&self) -> &AudienceKey {
        self.key
    }

    /// The pseudonym of `value` read as an identifier of `kind`.
    pub fn pseudonym(&self, kind: IdentifierKind, value: &str) -> String {
        let bytes = self.pseudonym_into(kind, value, &mut Vec::new());
        String::from_utf8(bytes.to_vec()).expect("base32 is ASCII")
    }

    /// The pseudonym's bytes (ASCII), using `scratch` for the MAC input: what a column operator
    /// calls once per value, with one scratch buffer per thread.
    pub fn pseudonym_into(&self, kind: IdentifierKind, value: &str, scratch: &mut Vec<u8>) -> [u8; PSEUDONYM_LEN] {
        write_mac_input(kind, value, scratch);
        let mac = self.key.mac(scratch);
        base32_128(mac[..16].try_into().expect("16 bytes"))
    }
}

/// `base32_lower` of exactly 128 bits, without allocating: 25 full 5-bit groups and a last one of 3.
fn base32_128(bytes: &[u8; 16]) -> [u8; PSEUDONYM_LEN] {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let value = u128::from_be_bytes(*bytes);
    let mut out = [0u8; PSEUDONYM_LEN];
    for (i, c) in out.iter_mut().enumerate().take(PSEUDONYM_LEN - 1) {
        *c = ALPHABET[((value >> (123 - 5 * i)) & 31) as usize];
    }
    out[PSEUDONYM_LEN - 1] = ALPHABET[((value << 2) & 31) as usize];
    out
}

/// The correspondence old → new pseudonym of `values` across a key rotation of one audience: what an
/// authorised recipient needs so that longitudinal studies survive the rotation. Sorted by old
/// pseudonym (never by the identifiers themselves, whose order could reveal them), deduplicated. It
/// must only leave the job encrypted to that recipient (delivery).
pub fn correspondence<'v>(kind: IdentifierKind, values: impl IntoIterator<Item = &'v str>, old: &AudienceKey, new: &AudienceKey) -> Vec<(String, String)> {
    let (old, new) = (Pseudonymiser::new(old), Pseudonymiser::new(new));
    let mut pairs: Vec<(String, String)> = values.into_iter().map(|v| (old.pseudonym(kind, v), new.pseudonym(kind, v))).collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keyring;
    use std::collections::BTreeMap;

    #[test]
    fn canonical_forms_per_kind() {
        use IdentifierKind::*;
        let cases = [
            (IdnatPs, " 810001234567 ", "810001234567"),
            (IdnatPs, "10001234567", "810001234567"),
            (IdnatPs, "8 1000 123 4567", "810001234567"),
            (IdnatPs, "751012345", "0751012345"),
            (IdnatPs, "0751012345", "0751012345"),
            (IdnatPs, "3750100042/12345", "375010004212345"),
            (Finess, "10000123", "010000123"),
            (Finess, " 2a0000012 ", "2A0000012"),
            (Finess, "75 000 000 1", "750000001"),
            (Siren, "921 317 258", "921317258"),
            (Siret, "00123456700012", "00123456700012"),
            (Siret, "123 456 789 00012", "12345678900012"),
            (Siret, "123456700012", "00123456700012"),
            (Ror, " 300000123 ", "300000123"),
            (Ror, "Organization/abc-1", "abc-1"),
            (Ror, "RR/0099999", "RR/0099999"),
            (Telephone, "01 45 86 20 45", "0145862045"),
            (Telephone, "+33 1 45 86 20 45", "0145862045"),
            (Telephone, "+33 (0)1 45 86 20 45", "0145862045"),
            (Telephone, "0033145862045", "0145862045"),
            (Telephone, "01.45.86.20.45", "0145862045"),
            (Telephone, "145862045", "0145862045"),
            (Telephone, "+262 262 12 34 56", "0262123456"),
            (Telephone, "+32 2 123 45 67", "+3221234567"),
            (Email, " Jean.Dupont@Example.FR ", "jean.dupont@example.fr"),
            (Telecom, "Jean@Example.fr", "jean@example.fr"),
            (Telecom, "01-45-86-20-45", "0145862045"),
            (Telecom, "https://Example.fr/a", "https://Example.fr/a"),
            (Texte, "  Jean   Dupont ", "JEAN DUPONT"),
            (Texte, "élodie", "ÉLODIE"),
        ];
        for (kind, input, expected) in cases {
            assert_eq!(canonical(kind, input), expected, "{kind} {input:?}");
        }
    }

    #[test]
    fn a_rotation_has_a_correspondence_table() {
        let ring = Keyring::from_master([3; 32], BTreeMap::new(), false);
        let (old, new) = (ring.audience_key_at("hdh", 1), ring.audience_key_at("hdh", 2));
        let pairs = correspondence(IdentifierKind::IdnatPs, ["810001234567", "10001234567", "0751012345"], &old, &new);
        assert_eq!(pairs.len(), 2, "the same professional written twice is one pair");
        let p = Pseudonymiser::new(&new);
        assert!(pairs.iter().any(|(_, n)| *n == p.pseudonym(IdentifierKind::IdnatPs, "0751012345")));
        assert!(pairs.iter().all(|(o, n)| o != n));
    }

    #[test]
    fn the_fixed_width_base32_is_base32_lower() {
        for seed in 0u8..=255 {
            let bytes: [u8; 16] = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add((i as u8).wrapping_mul(97)));
            assert_eq!(base32_128(&bytes).as_slice(), base32_lower(&bytes).as_bytes());
        }
    }

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648 section 10, lower-cased, padding removed.
        for (input, expected) in [("", ""), ("f", "my"), ("fo", "mzxq"), ("foo", "mzxw6"), ("foob", "mzxw6yq"), ("fooba", "mzxw6ytb"), ("foobar", "mzxw6ytboi")] {
            assert_eq!(base32_lower(input.as_bytes()), expected);
        }
        assert_eq!(base32_lower(&[0xff; 16]).len(), PSEUDONYM_LEN);
    }

    #[test]
    fn same_identifier_written_differently_gets_one_pseudonym() {
        let ring = Keyring::from_master([1; 32], BTreeMap::new(), true);
        let key = ring.audience_key("drees");
        let p = Pseudonymiser::new(&key);
        assert_eq!(p.pseudonym(IdentifierKind::IdnatPs, "10001234567"), p.pseudonym(IdentifierKind::IdnatPs, " 810001234567"));
        assert_eq!(p.pseudonym(IdentifierKind::Telephone, "+33145862045"), p.pseudonym(IdentifierKind::Telephone, "01 45 86 20 45"));
        // The kind separates namespaces: the same digits as FINESS and as SIREN differ.
        assert_ne!(p.pseudonym(IdentifierKind::Finess, "750000001"), p.pseudonym(IdentifierKind::Siren, "750000001"));
        let out = p.pseudonym(IdentifierKind::Ror, "1");
        assert_eq!(out.len(), PSEUDONYM_LEN);
        assert!(out.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
    }
}

/// Properties over arbitrary identifiers and keys (proptest): a pseudonym depends only on the
/// identifier's canonical form, the audience and the key epoch.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::keys::Keyring;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn keyring(master: [u8; 32], epoch: u32) -> Keyring {
        Keyring::from_master(master, BTreeMap::from([("drees".to_owned(), epoch)]), false)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The in-place canonical form of the numeric identifiers is the one `canonical` defines,
        /// on any text: digits, letters, every separator, non-ASCII characters (which take the
        /// general path).
        #[test]
        fn the_mac_input_is_the_kind_and_the_canonical_form(value in "[0-9a-zA-Z \t\n\x0B\x0C\r.\\-/()_,+@é\u{a0}\u{202f}]{0,20}", kind in prop::sample::select(IdentifierKind::ALL.to_vec())) {
            prop_assert_eq!(mac_input(kind, &value), format!("{}:{}", kind.name(), canonical(kind, &value)).into_bytes());
        }

        /// The same RPPS, however it is written (spaces, dots, the "8" prefix of idNat_PS), gets
        /// one pseudonym, 26 base32 characters long, every time it is computed.
        #[test]
        fn an_rpps_has_one_stable_pseudonym_whatever_its_spelling(master in any::<[u8; 32]>(), rpps in "[0-9]{11}", sep in prop::sample::select(vec!["", " ", ".", "-"])) {
            let ring = keyring(master, 0);
            let key = ring.audience_key("public");
            let p = Pseudonymiser::new(&key);
            let spaced = rpps.as_bytes().chunks(3).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(sep);
            let reference = p.pseudonym(IdentifierKind::IdnatPs, &rpps);
            prop_assert_eq!(reference.len(), PSEUDONYM_LEN);
            prop_assert!(reference.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
            prop_assert_eq!(&p.pseudonym(IdentifierKind::IdnatPs, &format!("8{rpps}")), &reference);
            prop_assert_eq!(&p.pseudonym(IdentifierKind::IdnatPs, &format!("  {spaced} ")), &reference);
            prop_assert_eq!(&Pseudonymiser::new(&keyring(master, 0).audience_key("public")).pseudonym(IdentifierKind::IdnatPs, &rpps), &reference);
        }

        /// Audiences, epochs and masters separate pseudonyms: no two of them share one, so no
        /// recipient can join its extract with another's or with the open data.
        #[test]
        fn audiences_and_epochs_never_share_a_pseudonym(master in any::<[u8; 32]>(), other in any::<[u8; 32]>(), rpps in "[0-9]{11}", epoch in 1u32..1000) {
            prop_assume!(master != other);
            let ring = keyring(master, epoch);
            let of = |key: &crate::keys::AudienceKey| Pseudonymiser::new(key).pseudonym(IdentifierKind::IdnatPs, &rpps);
            let all = [
                of(&ring.audience_key("public")),
                of(&ring.audience_key("drees")),
                of(&ring.audience_key("hdh")),
                of(&ring.audience_key_at("drees", epoch - 1)),
                of(&keyring(other, epoch).audience_key("drees")),
            ];
            let distinct: std::collections::BTreeSet<_> = all.iter().collect();
            prop_assert_eq!(distinct.len(), all.len(), "{:?}", all);
        }

        /// Different identifiers get different pseudonyms (128 bits: a collision here is a bug).
        #[test]
        fn different_identifiers_get_different_pseudonyms(master in any::<[u8; 32]>(), a in "[0-9]{11}", b in "[0-9]{11}") {
            prop_assume!(a != b);
            let ring = keyring(master, 0);
            let key = ring.audience_key("hdh");
            let p = Pseudonymiser::new(&key);
            prop_assert_ne!(p.pseudonym(IdentifierKind::IdnatPs, &a), p.pseudonym(IdentifierKind::IdnatPs, &b));
        }
    }
}
