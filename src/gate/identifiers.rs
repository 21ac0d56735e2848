//! French health and business identifiers, checked by their own rules: FINESS (format, 2A/2B for
//! Corsica, Luhn key), SIREN and SIRET (Luhn key, La Poste's exception), idNatStruct (its prefix
//! says which number follows), idNat_PS (RPPS with its Luhn key, or ADELI), ROR offer and place
//! identifiers, COG commune codes, postal codes, and coordinates inside France.
//!
//! Invalid values are counted per column with examples; `[gate.checks.<check>]` decides whether a
//! given share of them fails the gate or only warns.

use super::schema::text_column;
use super::{Context, GateError, Tally};
use crate::table::spill::{slices, TableSource};
use crate::table::Table;

pub use crate::fhir::identifiers::luhn_valid;

fn digits(value: &str, n: usize) -> bool {
    value.len() == n && value.bytes().all(|b| b.is_ascii_digit())
}

/// Why an identifier is invalid.
pub type Verdict = Result<(), &'static str>;

/// FINESS: two characters of département (`2A`/`2B` in Corsica, `97` overseas), six digits, and a
/// Luhn key over the first eight (letters counted as 0). Checked on real numbers: AP-HP 750712184,
/// CHU de Bordeaux 330781196, Hospices civils de Lyon 690781810.
pub fn finess(value: &str) -> Verdict {
    let b = value.as_bytes();
    let format = b.len() == 9 && b[0].is_ascii_digit() && (b[1].is_ascii_digit() || b[1] == b'A' || b[1] == b'B') && b[2..].iter().all(u8::is_ascii_digit);
    if !format {
        return Err("not [0-9][0-9AB][0-9]{7}");
    }
    if b[1].is_ascii_alphabetic() && b[0] != b'2' {
        return Err("A or B only after 2 (Corsica)");
    }
    if !luhn_valid(value) {
        return Err("wrong Luhn key");
    }
    Ok(())
}

/// La Poste's SIREN: its establishments outnumber what a Luhn key can tell apart, so INSEE checks
/// their SIRET by the sum of the digits being a multiple of 5 instead — all but the head office's,
/// which keeps an ordinary Luhn key (python-stdnum's fr.siret makes the same exception).
const LA_POSTE_SIREN: &str = "356000000";
const LA_POSTE_HEAD_OFFICE: &str = "35600000000048";

pub fn siren(value: &str) -> Verdict {
    if !digits(value, 9) {
        return Err("not 9 digits");
    }
    if !luhn_valid(value) {
        return Err("wrong Luhn key");
    }
    Ok(())
}

pub fn siret(value: &str) -> Verdict {
    if !digits(value, 14) {
        return Err("not 14 digits");
    }
    if value.starts_with(LA_POSTE_SIREN) && value != LA_POSTE_HEAD_OFFICE {
        let sum: u32 = value.bytes().map(|b| u32::from(b - b'0')).sum();
        return if sum.is_multiple_of(5) { Ok(()) } else { Err("La Poste SIRET whose digit sum is not a multiple of 5") };
    }
    if !luhn_valid(&value[..9]) {
        return Err("its SIREN has a wrong Luhn key");
    }
    if !luhn_valid(value) {
        return Err("wrong Luhn key");
    }
    Ok(())
}

/// idNatStruct: a one-character prefix naming the number that follows (1 FINESS, 2 SIREN, 3 SIRET,
/// 4 RPPS rang: an RPPS number followed by the rank of the practice, checked for its RPPS part only).
pub fn id_nat_struct(value: &str) -> Verdict {
    let (prefix, rest) = value.split_at(value.len().min(1));
    match prefix {
        "1" => finess(rest).map_err(|_| "1 + an invalid FINESS"),
        "2" => siren(rest).map_err(|_| "2 + an invalid SIREN"),
        "3" => siret(rest).map_err(|_| "3 + an invalid SIRET"),
        "4" if rest.len() > 11 && rest.as_bytes()[..11].iter().all(u8::is_ascii_digit) => Ok(()),
        "4" => Err("4 + not an RPPS rang"),
        _ => Err("prefix is not 1, 2, 3 or 4"),
    }
}

/// idNat_PS: `8` + RPPS (11 digits, the last a Luhn key) or `0` + ADELI (9 digits, no key). When
/// the row also says which kind it is, the two must agree.
pub fn id_nat_ps(value: &str, kind: Option<&str>) -> Verdict {
    let verdict = match value.as_bytes().first() {
        Some(b'8') if digits(&value[1..], 11) => {
            if luhn_valid(&value[1..]) {
                Ok("RPPS")
            } else {
                Err("RPPS with a wrong Luhn key")
            }
        }
        Some(b'8') => Err("8 + not 11 digits"),
        Some(b'0') if digits(&value[1..], 9) => Ok("ADELI"),
        Some(b'0') => Err("0 + not 9 digits"),
        _ => Err("neither 8 + RPPS nor 0 + ADELI"),
    }?;
    match kind {
        Some(k) if !k.is_empty() && k != verdict => Err("type_identifiant says otherwise"),
        _ => Ok(()),
    }
}

/// ROR functional identifiers of offers and places: the region code of the instance that created
/// them (two digits), a slash, digits — `11/1000001`, ANS's `06/0099999`.
pub fn ror_id(value: &str) -> Verdict {
    match value.split_once('/') {
        Some((region, number)) if digits(region, 2) && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err("not RR/digits"),
    }
}

/// COG commune codes: five characters, a département (01–19, 21–95, 2A, 2B) then three digits, or
/// an overseas département or collectivity (971–978, 984–989) then two digits.
pub fn cog(value: &str) -> Verdict {
    let b = value.as_bytes();
    if b.len() != 5 {
        return Err("not 5 characters");
    }
    let ok = match (b[0], b[1]) {
        (b'2', b'A' | b'B') => b[2..].iter().all(u8::is_ascii_digit),
        (b'9', b'7') => matches!(b[2], b'1'..=b'8') && b[3..].iter().all(u8::is_ascii_digit),
        (b'9', b'8') => matches!(b[2], b'4'..=b'9') && b[3..].iter().all(u8::is_ascii_digit),
        _ if b.iter().all(u8::is_ascii_digit) => {
            let departement = (b[0] - b'0') * 10 + (b[1] - b'0');
            (1..=95).contains(&departement) && departement != 20
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("not a département or overseas code followed by the commune number")
    }
}

pub fn postal_code(value: &str) -> Verdict {
    if digits(value, 5) {
        Ok(())
    } else {
        Err("not 5 digits")
    }
}

/// Where French health establishments can be: (name, south, north, west, east), in degrees WGS84.
/// Generous boxes: they catch swapped, zeroed or foreign coordinates, not a misplaced street.
pub const TERRITORIES: &[(&str, f64, f64, f64, f64)] = &[
    ("France métropolitaine et Corse", 41.2, 51.2, -5.3, 9.7),
    ("Guadeloupe, Saint-Martin, Saint-Barthélemy", 15.8, 18.2, -63.2, -60.9),
    ("Martinique", 14.3, 15.0, -61.3, -60.7),
    ("Guyane", 2.0, 6.0, -54.7, -51.5),
    ("La Réunion", -21.5, -20.8, 55.1, 56.0),
    ("Mayotte", -13.1, -12.5, 44.9, 45.4),
    ("Saint-Pierre-et-Miquelon", 46.7, 47.2, -56.5, -56.0),
    ("Polynésie française", -28.0, -7.0, -155.0, -134.0),
    ("Nouvelle-Calédonie", -23.0, -19.0, 163.0, 169.0),
    ("Wallis-et-Futuna", -14.5, -13.0, -178.5, -176.0),
];

pub fn coordinates(latitude: Option<f64>, longitude: Option<f64>) -> Verdict {
    match (latitude, longitude) {
        (Some(lat), Some(lon)) => {
            if TERRITORIES.iter().any(|(_, s, n, w, e)| (*s..=*n).contains(&lat) && (*w..=*e).contains(&lon)) {
                Ok(())
            } else if TERRITORIES.iter().any(|(_, s, n, w, e)| (*s..=*n).contains(&lon) && (*w..=*e).contains(&lat)) {
                Err("latitude and longitude swapped")
            } else {
                Err("outside France and its overseas territories")
            }
        }
        (None, None) => Ok(()),
        _ => Err("only one of latitude and longitude"),
    }
}

/// A rule judging one value.
type Rule = fn(&str) -> Verdict;

/// (check, table, column, rule).
const SIMPLE: &[(&str, &str, &str, Rule)] = &[
    ("finess", "entites_juridiques", "finess_ej", finess),
    ("finess", "entites_geographiques", "finess_eg", finess),
    ("siren", "entites_juridiques", "siren", siren),
    ("siret", "entites_geographiques", "siret", siret),
    ("id_nat_struct", "entites_juridiques", "id_nat_struct", id_nat_struct),
    ("id_nat_struct", "entites_geographiques", "id_nat_struct", id_nat_struct),
    ("ror_id", "offres", "identifiant_offre", ror_id),
    ("ror_id", "lieux", "identifiant_lieu", ror_id),
    ("cog", "lieux", "commune_cog_code", cog),
    ("postal_code", "entites_juridiques", "code_postal", postal_code),
    ("postal_code", "entites_geographiques", "code_postal", postal_code),
    ("postal_code", "lieux", "code_postal", postal_code),
];

/// The rows `offset..offset + length` of each slice of `table` (`slices`), only the named columns,
/// one after another: the checks read a column or three a slice at a time, so that none holds a
/// whole column (at scale 4, the offers' identifiers alone were 64 MB as a column, and the places'
/// keys as owned strings over 100 MB).
fn each_slice(tables: &dyn TableSource, table: &str, columns: &[&str], mut each: impl FnMut(&Table)) -> Result<(), GateError> {
    for (offset, length) in slices(tables.rows(table).unwrap_or(0)) {
        if let Some(rows) = tables.load_rows(table, Some(columns), offset, length)? {
            each(&rows);
        }
    }
    Ok(())
}

/// Each check reads only the columns it reads, a slice of rows at a time (`each_slice`). The
/// checks keep the order of `SIMPLE`: a skipped check keeps the first reason given, which names a
/// table.
pub fn check(ctx: &mut Context<'_>, tables: &dyn TableSource) -> Result<(), GateError> {
    for (check, table, column, rule) in SIMPLE {
        let Some(shape) = tables.shape(table) else { continue };
        if !ctx.runs(check) {
            continue;
        }
        if transformed(&shape, column) {
            ctx.skip(check, format!("{table}.{column} is pseudonymised or generalised by this audience's policy"));
            continue;
        }
        if text_column(&shape, column).is_none() {
            continue;
        }
        let mut tally = Tally::default();
        each_slice(tables, table, &[*column], |rows| {
            for value in text_column(rows, column).into_iter().flatten().flatten() {
                match rule(value) {
                    Ok(()) => tally.valid(),
                    Err(_) if ctx.excepted(check, table, column, value) => tally.valid(),
                    Err(why) => tally.invalid(format!("{value}: {why}")),
                }
            }
        })?;
        ctx.tally(check, table, column, tally, "are invalid");
    }
    if let Some(shape) = tables.shape("professionnels") {
        practitioners(ctx, tables, &shape)?;
    }
    for table in ["entites_geographiques", "lieux"] {
        if let Some(shape) = tables.shape(table) {
            positions(ctx, tables, &shape)?;
        }
    }
    Ok(())
}

/// True when the audience's policy transformed the column (pseudonymised, generalised, banded): it no
/// longer holds the identifier its check knows, so checking it would only flag every value. The
/// disclosure stage describes such a column differently from the catalogue (`derived_spec`).
fn transformed(table: &Table, column: &str) -> bool {
    let original = crate::table::catalog::table(table.spec.name).and_then(|s| s.column(column));
    matches!((original, table.spec.column(column)), (Some(o), Some(c)) if o.description != c.description)
}

/// `shape`: the professionnels table without its rows.
fn practitioners(ctx: &mut Context<'_>, tables: &dyn TableSource, shape: &Table) -> Result<(), GateError> {
    if !ctx.runs("id_nat_ps") {
        return Ok(());
    }
    if transformed(shape, "id_nat_ps") {
        ctx.skip("id_nat_ps", "professionnels.id_nat_ps is pseudonymised by this audience's policy");
        return Ok(());
    }
    let name = shape.name();
    if text_column(shape, "id_nat_ps").is_none() {
        return Ok(());
    }
    let mut tally = Tally::default();
    each_slice(tables, name, &["id_nat_ps", "type_identifiant"], |rows| {
        let Some(values) = text_column(rows, "id_nat_ps") else { return };
        let kinds: Vec<Option<&str>> = match text_column(rows, "type_identifiant") {
            Some(k) => k.collect(),
            None => vec![None; rows.rows()],
        };
        for (value, kind) in values.zip(kinds) {
            let Some(value) = value else { continue };
            match id_nat_ps(value, kind) {
                Ok(()) => tally.valid(),
                Err(_) if ctx.excepted("id_nat_ps", name, "id_nat_ps", value) => tally.valid(),
                Err(why) => tally.invalid(format!("{value}: {why}")),
            }
        }
    })?;
    ctx.tally("id_nat_ps", name, "id_nat_ps", tally, "are invalid");
    Ok(())
}

/// `shape`: the table without its rows; only the position and key columns are loaded.
fn positions(ctx: &mut Context<'_>, tables: &dyn TableSource, shape: &Table) -> Result<(), GateError> {
    if !ctx.runs("coordinates") {
        return Ok(());
    }
    let name = shape.name();
    let is_number = |c: &str| shape.frame.column(c).is_ok_and(|c| c.f64().is_ok());
    if !is_number("latitude") || !is_number("longitude") {
        return Ok(());
    }
    let mut tally = Tally::default();
    each_slice(tables, name, &["latitude", "longitude", shape.spec.primary_key], |rows| {
        let number = |c: &str| rows.frame.column(c).ok().and_then(|c| c.f64().ok());
        let (Some(latitudes), Some(longitudes)) = (number("latitude"), number("longitude")) else { return };
        // A key column that is missing or not text gives "" for every row.
        let keys = rows.frame.column(rows.spec.primary_key).ok().and_then(|c| c.str().ok());
        for (row, (lat, lon)) in latitudes.iter().zip(longitudes.iter()).enumerate() {
            if lat.is_none() && lon.is_none() {
                continue;
            }
            let key = keys.and_then(|k| k.get(row)).unwrap_or_default();
            let shown = |v: Option<f64>| v.map_or("-".to_owned(), |v| v.to_string());
            match coordinates(lat, lon) {
                Ok(()) => tally.valid(),
                Err(_) if ctx.excepted("coordinates", name, "latitude", key) => tally.valid(),
                Err(why) => tally.invalid(format!("{key}: {}, {} ({why})", shown(lat), shown(lon))),
            }
        }
    })?;
    ctx.tally("coordinates", name, "latitude", tally, "positions (latitude, longitude) are invalid; examples are the rows' keys");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identifier checks read a slice of rows at a time (`each_slice`) and find what the same
    /// rules find over whole columns, as they did: the same counts, examples in the same order and
    /// exceptions used, on tables of three slices with invalid values, nulls and empty values in
    /// each, rows without a key, and positions swapped, one-sided or missing.
    #[test]
    fn identifiers_checked_a_slice_at_a_time_find_what_whole_columns_find() {
        use crate::gate::exceptions::Exceptions;
        use crate::gate::{Finding, GateConfig};
        use crate::table::{catalog, Tables};
        use polars::prelude::*;
        let rows = 200_000usize;
        let every = |i: usize, n: usize, k: usize| i % n == k;
        let lieux = Table {
            spec: &catalog::LIEUX,
            frame: df!(
                "identifiant_ror" => (0..rows).map(|i| (!every(i, 66_662, 6)).then(|| format!("{}", 200_000_000 + i))).collect::<Vec<_>>(),
                "identifiant_lieu" => (0..rows).map(|i| if every(i, 30_011, 3) { Some(format!("{i}")) } else if every(i, 50_000, 9) { None } else { Some(format!("11/{i}")) }).collect::<Vec<_>>(),
                "code_postal" => (0..rows).map(|i| if every(i, 40_009, 5) { format!("{}", i % 10_000) } else if every(i, 25_000, 1) { String::new() } else { "75015".to_owned() }).collect::<Vec<_>>(),
                "latitude" => (0..rows).map(|i| if every(i, 33_331, 6) { Some(2.29) } else if every(i, 60_000, 2) || every(i, 70_001, 8) { None } else { Some(48.84) }).collect::<Vec<_>>(),
                "longitude" => (0..rows).map(|i| if every(i, 33_331, 6) { Some(48.84) } else if every(i, 60_000, 2) { None } else { Some(2.29) }).collect::<Vec<_>>()
            )
            .unwrap(),
        };
        let professionnels = Table {
            spec: &catalog::PROFESSIONNELS,
            frame: df!(
                "identifiant_ror" => (0..rows).map(|i| format!("P{i:07}")).collect::<Vec<_>>(),
                "id_nat_ps" => (0..rows).map(|i| if every(i, 20_000, 7) { None } else if every(i, 35_000, 3) { Some(format!("8{i:011}")) } else { Some("810123456781".to_owned()) }).collect::<Vec<_>>(),
                "type_identifiant" => (0..rows).map(|i| if every(i, 55_000, 11) { Some("ADELI") } else if every(i, 3, 0) { None } else { Some("RPPS") }).collect::<Vec<_>>()
            )
            .unwrap(),
        };
        let tables = Tables::from([("lieux", lieux.clone()), ("professionnels", professionnels.clone())]);
        let (config, exceptions) = (GateConfig::default(), Exceptions::none());
        let mut ctx = Context::new(&config, &exceptions);
        check(&mut ctx, &tables).unwrap();
        assert_eq!(crate::table::spill::slices(rows).len(), 3);

        // The same rules over whole columns, as the checks ran before.
        let mut whole = Context::new(&config, &exceptions);
        for (check, table, column, rule) in SIMPLE.iter().filter(|(_, table, ..)| *table == "lieux") {
            whole.runs(check);
            // The frame has no COG column: the check runs and counts nothing.
            let Some(values) = text_column(&lieux, column) else { continue };
            let mut tally = Tally::default();
            for value in values.flatten() {
                match rule(value) {
                    Ok(()) => tally.valid(),
                    Err(why) => tally.invalid(format!("{value}: {why}")),
                }
            }
            whole.tally(check, table, column, tally, "are invalid");
        }
        let mut tally = Tally::default();
        let kinds: Vec<Option<&str>> = text_column(&professionnels, "type_identifiant").unwrap().collect();
        for (value, kind) in text_column(&professionnels, "id_nat_ps").unwrap().zip(kinds) {
            let Some(value) = value else { continue };
            match id_nat_ps(value, kind) {
                Ok(()) => tally.valid(),
                Err(why) => tally.invalid(format!("{value}: {why}")),
            }
        }
        whole.runs("id_nat_ps");
        whole.tally("id_nat_ps", "professionnels", "id_nat_ps", tally, "are invalid");
        let mut tally = Tally::default();
        let number = |c: &str| lieux.frame.column(c).unwrap().f64().unwrap().iter().collect::<Vec<_>>();
        let keys = lieux.text_values("identifiant_ror").unwrap();
        for (row, (lat, lon)) in number("latitude").into_iter().zip(number("longitude")).enumerate() {
            if lat.is_none() && lon.is_none() {
                continue;
            }
            let key = keys[row].clone().unwrap_or_default();
            let shown = |v: Option<f64>| v.map_or("-".to_owned(), |v| v.to_string());
            match coordinates(lat, lon) {
                Ok(()) => tally.valid(),
                Err(why) => tally.invalid(format!("{key}: {}, {} ({why})", shown(lat), shown(lon))),
            }
        }
        whole.runs("coordinates");
        whole.tally("coordinates", "lieux", "latitude", tally, "positions (latitude, longitude) are invalid; examples are the rows' keys");

        let checks = |findings: &[Finding]| findings.iter().map(|f| (f.check, f.location())).collect::<Vec<_>>();
        assert_eq!(checks(&ctx.findings), checks(&whole.findings));
        assert_eq!(ctx.findings, whole.findings);
        assert_eq!(ctx.findings.len(), 4, "{:#?}", ctx.findings);
        let coordinates = ctx.findings.iter().find(|f| f.check == "coordinates").unwrap();
        assert!(coordinates.examples.iter().any(|e| e.starts_with(": ")) && coordinates.examples.iter().any(|e| e.contains("swapped")), "{:?}", coordinates.examples);
    }

    #[test]
    fn finess_of_real_establishments_and_of_ans_example() {
        for good in ["750712184", "330781196", "690781810"] {
            assert_eq!(finess(good), Ok(()), "{good}");
        }
        // The FINESS in one version of ANS's example Organization: well formed, but its key would be 6.
        assert_eq!(finess("458174839"), Err("wrong Luhn key"));
        assert_eq!(finess("458174836"), Ok(()));
        assert_eq!(finess("45817483"), Err("not [0-9][0-9AB][0-9]{7}"));
        assert_eq!(finess("4A8174836"), Err("A or B only after 2 (Corsica)"));
        // Corsican numbers: the letter counts as 0 in the key, as in the synthetic generator.
        assert_eq!(finess("2A0040012"), Ok(()));
        assert_eq!(finess("2B0330025"), Ok(()));
        assert_eq!(finess("2B0330026"), Err("wrong Luhn key"));
    }

    #[test]
    fn siren_and_siret_with_la_poste() {
        assert_eq!(siren("356000000"), Ok(()));
        assert_eq!(siren("130025265"), Ok(()));
        assert_eq!(siren("921317258"), Err("wrong Luhn key"));
        assert_eq!(siren("92131725"), Err("not 9 digits"));
        assert_eq!(siret("13002526500013"), Ok(()));
        assert_eq!(siret("13002526500012"), Err("wrong Luhn key"));
        assert_eq!(siret("12002526500013"), Err("its SIREN has a wrong Luhn key"));
        // La Poste: its head office has a Luhn key; its other establishments a digit sum of 5k…
        assert_eq!(siret("35600000000048"), Ok(()));
        assert_eq!(siret("35600000000049"), Err("La Poste SIRET whose digit sum is not a multiple of 5"));
        // …such as this post office, which a Luhn check would wrongly refuse.
        assert!(!luhn_valid("35600000049837"));
        assert_eq!(siret("35600000049837"), Ok(()));
        assert_eq!(siret("35600000049838"), Err("La Poste SIRET whose digit sum is not a multiple of 5"));
        assert_eq!(siret("3560000004983A"), Err("not 14 digits"));
    }

    #[test]
    fn national_identifiers_of_structures_and_practitioners() {
        assert_eq!(id_nat_struct("1750712184"), Ok(()));
        assert_eq!(id_nat_struct("2130025265"), Ok(()));
        assert_eq!(id_nat_struct("313002526500013"), Ok(()));
        assert_eq!(id_nat_struct("2921317258"), Err("2 + an invalid SIREN"));
        assert_eq!(id_nat_struct("9750712184"), Err("prefix is not 1, 2, 3 or 4"));
        assert_eq!(id_nat_struct(""), Err("prefix is not 1, 2, 3 or 4"));
        let rpps = "810123456781";
        assert_eq!(id_nat_ps(rpps, Some("RPPS")), Ok(()));
        assert_eq!(id_nat_ps(rpps, Some("ADELI")), Err("type_identifiant says otherwise"));
        assert_eq!(id_nat_ps("810000000000", None), Err("RPPS with a wrong Luhn key"));
        assert_eq!(id_nat_ps("81000000000", None), Err("8 + not 11 digits"));
        assert_eq!(id_nat_ps("0936031337", Some("ADELI")), Ok(()));
        assert_eq!(id_nat_ps("093603133", None), Err("0 + not 9 digits"));
        assert_eq!(id_nat_ps("1936031337", None), Err("neither 8 + RPPS nor 0 + ADELI"));
    }

    #[test]
    fn ror_ids_cog_postal_codes() {
        for good in ["11/1000001", "06/0099999", "53/1"] {
            assert_eq!(ror_id(good), Ok(()), "{good}");
        }
        for bad in ["ZZZ", "RR/1", "11/", "1/23", "11/12a", "11-123"] {
            assert!(ror_id(bad).is_err(), "{bad}");
        }
        for good in ["75056", "2A004", "2B033", "97411", "97611", "98735", "01053"] {
            assert_eq!(cog(good), Ok(()), "{good}");
        }
        for bad in ["20004", "00001", "96001", "2C004", "9741", "97911", "2A00X"] {
            assert!(cog(bad).is_err(), "{bad}");
        }
        assert!(postal_code("75015").is_ok() && postal_code("7501").is_err() && postal_code("75 015").is_err());
    }

    #[test]
    fn coordinates_in_france_and_overseas() {
        assert_eq!(coordinates(Some(48.8566), Some(2.3522)), Ok(()));
        assert_eq!(coordinates(Some(41.9192), Some(8.7386)), Ok(()), "Ajaccio");
        assert_eq!(coordinates(Some(-20.8823), Some(55.4504)), Ok(()), "Saint-Denis de La Réunion");
        assert_eq!(coordinates(Some(4.9224), Some(-52.3135)), Ok(()), "Cayenne");
        assert_eq!(coordinates(Some(-22.2758), Some(166.4580)), Ok(()), "Nouméa");
        assert_eq!(coordinates(None, None), Ok(()));
        assert_eq!(coordinates(Some(2.3522), Some(48.8566)), Err("latitude and longitude swapped"));
        assert_eq!(coordinates(Some(0.0), Some(0.0)), Err("outside France and its overseas territories"));
        assert_eq!(coordinates(Some(48.8), None), Err("only one of latitude and longitude"));
    }
}
