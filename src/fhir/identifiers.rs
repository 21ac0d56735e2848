//! The Luhn key that French identifiers carry (FINESS, SIREN, SIRET, RPPS): one implementation for
//! the generator that makes valid numbers and the gate that checks them.

/// The key digit that makes `payload` followed by that digit a valid Luhn number. Letters (the A or
/// B of Corsican FINESS numbers) count as 0, as FINESS does.
pub fn luhn_key(payload: &str) -> u8 {
    // The key will be the rightmost digit, so the payload's rightmost digit is the first doubled one.
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = if b.is_ascii_digit() { u32::from(b - b'0') } else { 0 };
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    // `sum % 10` is below 10, so the result fits in a u8.
    ((10 - sum % 10) % 10) as u8
}

/// Whether `number` (digits, or A/B counted as 0, ending in a key digit) passes the Luhn check.
pub fn luhn_valid(number: &str) -> bool {
    match number.len().checked_sub(1) {
        Some(last) if number.is_char_boundary(last) => {
            let (payload, key) = number.split_at(last);
            key.as_bytes()[0].is_ascii_digit() && key.as_bytes()[0] - b'0' == luhn_key(payload)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(luhn_valid("35600000000048"));
        assert!(!luhn_valid(""));
        assert_eq!(luhn_key("7992739871"), 3);
    }
}
