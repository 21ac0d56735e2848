//! National identifiers that pass the checks real ones pass: FINESS, SIREN, SIRET and RPPS carry a
//! valid Luhn key, and each is derived from an entity's index so it is unique without keeping a
//! registry of the numbers already handed out.

pub use crate::fhir::identifiers::luhn_key;
#[cfg(test)]
pub use crate::fhir::identifiers::luhn_valid;

/// A bijection of `0..modulus` (the multiplier is prime and divides no modulus used here), so
/// consecutive indices give numbers that do not look consecutive while staying unique.
pub fn scramble(index: u64, modulus: u64, offset: u64) -> u64 {
    const MULTIPLIER: u64 = 7_919;
    ((index % modulus) * MULTIPLIER + offset) % modulus
}

/// A FINESS number: the département prefix (two characters, `97d` overseas), a serial filling the
/// first eight characters, and the Luhn key. `serial` is unique within a region; regions never share
/// a prefix, so numbers are unique nationally while a region has fewer than 100,000 structures.
pub fn finess(prefix: &str, serial: u64) -> String {
    let width = 8usize.saturating_sub(prefix.len());
    let modulus = 10u64.pow(width as u32);
    let body = format!(
        "{prefix}{:0width$}",
        scramble(serial, modulus, 4_271),
        width = width
    );
    let key = luhn_key(&body);
    format!("{body}{key}")
}

/// A SIREN: nine digits, the last a Luhn key, never starting with 0. Unique for 90 million indices.
pub fn siren(index: u64) -> String {
    let body = 10_000_000 + scramble(index, 90_000_000, 1_234_567);
    let body = body.to_string();
    let key = luhn_key(&body);
    format!("{body}{key}")
}

/// A SIRET: the SIREN, a four-digit establishment serial, and the key that makes all fourteen digits
/// Luhn-valid.
pub fn siret(siren: &str, establishment: u64) -> String {
    let body = format!("{siren}{:04}", establishment % 10_000);
    let key = luhn_key(&body);
    format!("{body}{key}")
}

/// Prefix of the RPPS numbers of practitioners whose identity is restricted (hospital, médico-social
/// or sensitive offers), so tests can recognise them in any output: their idNat_PS starts `8100999`.
pub const RESTRICTED_RPPS_PREFIX: &str = "100999";

/// An RPPS number of a practitioner whose identity is public: `10`, eight digits whose first is not
/// 0 (so it never starts with the restricted prefix), and the Luhn key. Unique for 90 million indices.
pub fn rpps_public(index: u64) -> String {
    let body = format!("10{}", 10_000_000 + scramble(index, 90_000_000, 777_777));
    let key = luhn_key(&body);
    format!("{body}{key}")
}

/// An RPPS number of a practitioner whose identity is restricted: the restricted prefix, four digits
/// and the Luhn key. Only 10,000 such numbers exist, so beyond that many restricted practitioners
/// (a snapshot of scale above about 0.02) the numbers repeat.
pub fn rpps_restricted(index: u64) -> String {
    let body = format!(
        "{RESTRICTED_RPPS_PREFIX}{:04}",
        scramble(index, 10_000, 1_009)
    );
    let key = luhn_key(&body);
    format!("{body}{key}")
}

/// An ADELI number (nine digits: département, profession digit, serial) for the few practitioners
/// identified by ADELI rather than RPPS.
pub fn adeli(departement: &str, profession_digit: u8, index: u64) -> String {
    let dep: String = departement
        .chars()
        .take(2)
        .map(|c| if c.is_ascii_digit() { c } else { '0' })
        .collect();
    format!(
        "{dep:0>2}{}{:06}",
        profession_digit % 10,
        scramble(index, 1_000_000, 31_337)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_luhn_numbers() {
        // A well-known valid SIRET (La Poste's head office) and SIREN.
        assert!(luhn_valid("35600000000048"));
        assert!(luhn_valid("356000000"));
        assert!(!luhn_valid("356000001"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid(""));
    }

    #[test]
    fn generated_identifiers_are_valid_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..5_000 {
            let f = finess("35", i);
            assert_eq!(f.len(), 9);
            assert!(luhn_valid(&f), "{f}");
            assert!(seen.insert(f));
            let s = siren(i);
            assert_eq!(s.len(), 9);
            assert!(luhn_valid(&s) && !s.starts_with('0'), "{s}");
            let t = siret(&s, i % 7 + 1);
            assert_eq!(t.len(), 14);
            assert!(luhn_valid(&t) && t.starts_with(&s), "{t}");
            let p = rpps_public(i);
            assert_eq!(p.len(), 11);
            assert!(
                luhn_valid(&p) && p.starts_with("10") && !p.starts_with(RESTRICTED_RPPS_PREFIX),
                "{p}"
            );
            let r = rpps_restricted(i);
            assert_eq!(r.len(), 11);
            assert!(
                luhn_valid(&r) && r.starts_with(RESTRICTED_RPPS_PREFIX),
                "{r}"
            );
        }
    }

    #[test]
    fn corsican_and_overseas_finess() {
        let f = finess("2A", 12);
        assert!(f.starts_with("2A") && f.len() == 9 && luhn_valid(&f));
        let g = finess("974", 12);
        assert!(g.starts_with("974") && g.len() == 9 && luhn_valid(&g));
    }

    #[test]
    fn adeli_has_nine_digits() {
        let a = adeli("2B", 6, 42);
        assert_eq!(a.len(), 9);
        assert!(a.bytes().all(|b| b.is_ascii_digit()));
    }
}
