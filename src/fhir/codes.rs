//! Reading ROR conventions out of the typed resources: extensions by id (any host, http or https),
//! codings by ANS terminology (TRE_Rxx, whichever spelling of the system), references, and FHIR
//! dates and instants normalised to UTC.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};

use super::model::{CodeableConcept, Coding, Extension, Identifier, Meta, Reference};

/// Does this extension URL name the ROR extension `id`? ANS's own files mix hosts and schemes, and
/// complex extensions use bare names ("purposeContact") for their parts, so the last path segment
/// decides.
pub fn is_extension(url: &str, id: &str) -> bool {
    // The last segment is `id` when the URL ends with it right after a '/' (or is it): checked
    // from the end, without searching the URL for its last '/' (this runs for every extension
    // of every lookup).
    url.strip_suffix(id).is_some_and(|head| head.is_empty() || head.ends_with('/')) && !id.contains('/')
}

/// The first extension with this id.
pub fn extension<'a, 't>(extensions: &'a [Extension<'t>], id: &str) -> Option<&'a Extension<'t>> {
    extensions.iter().find(|e| is_extension(&e.url, id))
}

/// Every extension with this id, in document order.
pub fn extensions<'a, 't>(extensions: &'a [Extension<'t>], id: &'a str) -> impl Iterator<Item = &'a Extension<'t>> + 'a {
    extensions.iter().filter(move |e| is_extension(&e.url, id))
}

/// Does the coding belong to ANS terminology `tre` (e.g. "TRE_R227")? Systems appear as
/// `.../NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite`, with http or https.
///
/// Compared in place, with no string made: it runs for every coding of every resource.
fn in_terminology(coding: &Coding<'_>, tre: &str) -> bool {
    let Some(system) = coding.system.as_deref() else { return false };
    let (system, name) = (system.as_bytes(), tre.as_bytes());
    // The name with its '_' written '-' ("TRE-R227"), at the start of `text`.
    let dashed_at = |text: &[u8]| text.len() >= name.len() && text.iter().zip(name).all(|(&t, &n)| t == if n == b'_' { b'-' } else { n });
    let followed_by_dash = |end: usize| system.get(end) == Some(&b'-');
    // Each place is tried on its first byte before the rest is compared.
    let first = name.first().copied();
    // "TRE_R227-", "/TRE-R227-", or either spelling at the end.
    (0..system.len()).any(|at| Some(system[at]) == first && system[at..].starts_with(name) && followed_by_dash(at + name.len()))
        || (0..system.len()).any(|slash| system[slash] == b'/' && dashed_at(&system[slash + 1..]) && followed_by_dash(slash + 1 + name.len()))
        || system.ends_with(name)
        || (system.len() >= name.len() && dashed_at(&system[system.len() - name.len()..]))
}

/// The first coding of terminology `tre` among several concepts.
pub fn coding_of<'a, 't: 'a>(concepts: impl IntoIterator<Item = &'a CodeableConcept<'t>>, tre: &str) -> Option<&'a Coding<'t>> {
    concepts.into_iter().flat_map(|c| c.coding.iter()).find(|c| in_terminology(c, tre))
}

/// The first coding of a concept, whatever its system (for value sets the profile fixes).
pub fn first_coding<'a, 't>(concept: Option<&'a CodeableConcept<'t>>) -> Option<&'a Coding<'t>> {
    concept.and_then(|c| c.coding.first())
}

/// Code and label of a coding, for the `_code` / `_libelle` column pairs.
pub fn code_and_label<'a>(coding: Option<&'a Coding<'_>>) -> (Option<&'a str>, Option<&'a str>) {
    match coding {
        Some(c) => (c.code.as_deref(), c.display.as_deref()),
        None => (None, None),
    }
}

/// The region code of the source ROR instance, from meta.tag (TRE_R30-RegionOM).
pub fn region<'a>(meta: &'a Meta<'_>) -> Option<&'a str> {
    meta.tag.iter().find(|c| in_terminology(c, "TRE_R30")).and_then(|c| c.code.as_deref())
}

/// The value of the first identifier matching a predicate on (system, type code).
pub fn identifier_value<'a>(identifiers: &'a [Identifier<'_>], matches: impl Fn(&str, &str) -> bool) -> Option<&'a str> {
    identifiers
        .iter()
        .find(|i| {
            let system = i.system.as_deref().unwrap_or("");
            let type_code = i.kind.as_ref().and_then(|k| k.coding.first()).and_then(|c| c.code.as_deref()).unwrap_or("");
            matches(system, type_code)
        })
        .and_then(|i| i.value.as_deref())
}

/// Parse a FHIR reference "Type/id" (relative, absolute, or with `/_history/n`).
pub fn parse_reference(reference: &Reference<'_>) -> Option<(String, String)> {
    let text = reference.reference.as_deref()?.trim();
    let text = match text.find("/_history/") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut parts = text.rsplitn(3, '/');
    let id = parts.next()?;
    let kind = parts.next()?;
    if id.is_empty() || kind.is_empty() {
        return None;
    }
    Some((kind.to_owned(), id.to_owned()))
}

/// The years an instant recorded by the ROR can fall in. Instants are recording times (updates,
/// capacity declarations), all made by a directory created in 2016; a year outside this range is
/// a sentinel or a corruption, never a real update, and would poison freshness and versions.
pub const PLAUSIBLE_INSTANT_YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;

/// A FHIR instant or dateTime as UTC, truncated to the second (the precision of the CSV files).
/// A bare date counts as midnight UTC; a year or year-month alone is refused (no instant to give).
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let instant = if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        let t = t.with_timezone(&Utc);
        DateTime::from_timestamp(t.timestamp(), 0).ok_or_else(|| format!("{text:?} is out of range"))?
    } else if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        d.and_time(NaiveTime::MIN).and_utc()
    } else {
        return Err(format!("{text:?} is not a FHIR dateTime (expected e.g. 2025-04-08T13:05:27+02:00)"));
    };
    if !PLAUSIBLE_INSTANT_YEARS.contains(&instant.year()) {
        return Err(format!(
            "{text:?} is outside {}–{}: not a recording time of the ROR",
            PLAUSIBLE_INSTANT_YEARS.start(),
            PLAUSIBLE_INSTANT_YEARS.end()
        ));
    }
    Ok(instant)
}

/// A FHIR date (or the date part of a dateTime). Year 0000 does not exist in FHIR (its date type
/// starts at 0001); far-future dates such as 9999-12-31 are accepted, as sources use them for
/// "no end".
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let head = text.get(..10).unwrap_or(text);
    let date = match plain_date(head) {
        Some(date) => date,
        None => NaiveDate::parse_from_str(head, "%Y-%m-%d").map_err(|_| format!("{text:?} is not a FHIR date (expected YYYY-MM-DD)"))?,
    };
    if date.year() < 1 {
        return Err(format!("{text:?} is not a FHIR date: years start at 0001"));
    }
    Ok(date)
}

/// "YYYY-MM-DD" read digit by digit, when it is that and a real date: what chrono's format
/// parser gives for it, at a fraction of the cost (it runs for every opening hour). Anything else
/// goes to chrono.
fn plain_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

/// The value of a run of ASCII digits.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |value, &b| b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0')))
}

/// A FHIR time "HH:MM:SS" (fractional seconds dropped), normalised.
pub fn parse_time(text: &str) -> Result<String, String> {
    // "HH:MM:SS" within 00:00:00–23:59:59 is its own normal form (what chrono's parse and format
    // give back), and by far the common case: spared chrono's format parser.
    let b = text.as_bytes();
    if b.len() == 8 && b[2] == b':' && b[5] == b':' {
        if let (Some(h), Some(m), Some(s)) = (digits(&b[0..2]), digits(&b[3..5]), digits(&b[6..8])) {
            if h < 24 && m < 60 && s < 60 {
                return Ok(text.to_owned());
            }
        }
    }
    NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .map(|t| t.format("%H:%M:%S").to_string())
        .map_err(|_| format!("{text:?} is not a FHIR time (expected HH:MM:SS)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_ids_match_any_host() {
        assert!(is_extension("https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-status", "ror-location-status"));
        assert!(is_extension("http://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-status", "ror-location-status"));
        assert!(is_extension("purposeContact", "purposeContact"));
        assert!(!is_extension("https://x/ror-location-status-bis", "ror-location-status"));
    }

    #[test]
    fn terminologies_match_both_spellings() {
        let c = Coding { system: Some("http://mos.esante.gouv.fr/NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite".into()), code: Some("05".into()), display: None };
        assert!(in_terminology(&c, "TRE_R227"));
        assert!(!in_terminology(&c, "TRE_R22"));
        assert!(!in_terminology(&c, "TRE_R2"));
        let system = |s: &'static str| Coding { system: Some(s.into()), code: None, display: None };
        // Each spelling the ANS uses, alone: the underscore one followed by '-', the dashed one
        // after a '/' and followed by '-', either at the end.
        for yes in ["x/TRE_R227-Champ", "TRE_R227-", "https://h/TRE-R227-Champ", "https://h/TRE_R227", "https://h/TRE-R227", "TRE-R227"] {
            assert!(in_terminology(&system(yes), "TRE_R227"), "{yes}");
        }
        for no in ["https://h/TRE-R2270", "xTRE-R227-Champ", "https://h/TRE_R2270", "TRE_R22", "", "TRE-R227x", "/TRE-R22"] {
            assert!(!in_terminology(&system(no), "TRE_R227"), "{no}");
        }
    }

    #[test]
    fn references_and_instants() {
        fn r(s: &str) -> Reference<'_> {
            Reference { reference: Some(s.into()) }
        }
        assert_eq!(parse_reference(&r("Organization/999999")), Some(("Organization".into(), "999999".into())));
        assert_eq!(parse_reference(&r("https://h/fhir/Location/1/_history/3")), Some(("Location".into(), "1".into())));
        assert_eq!(parse_reference(&r("nothing")), None);
        assert_eq!(parse_instant("2025-04-08T13:05:27.000+02:00").unwrap().to_rfc3339(), "2025-04-08T11:05:27+00:00");
        assert!(parse_instant("2025-13").is_err());
        assert_eq!(parse_time("09:00:00.5").unwrap(), "09:00:00");
        assert!(parse_instant("0000-01-01T00:00:00Z").unwrap_err().contains("outside 1900–2100"));
        assert!(parse_instant("9999-12-31T23:59:59Z").unwrap_err().contains("outside 1900–2100"));
        assert!(parse_date("0000-06-01").unwrap_err().contains("years start at 0001"));
        assert_eq!(parse_date("9999-12-31").unwrap().to_string(), "9999-12-31");
    }
}
