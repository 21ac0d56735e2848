//! What the roles and the capacities are resolved from once the tables they point to are made:
//! each offer's field of activity (a role's `offre_champ_activite_code`), and each place's offer,
//! establishment and FINESS number (a capacity's links). Read from the made tables a slice of
//! rows at a time into compact maps (`Names`: an id once in a buffer, a number for it, 4 bytes a
//! link). Hash maps borrowing the tables' columns held the columns whole beside the maps: a few
//! hundred megabytes at four times national scale (four million offers), while a role's or a
//! capacity's rows are now resolved a chunk at a time (see `State::finish`).

use crate::arena::Names;
use crate::fhir::FhirError;
use crate::table::spill::{for_each_slice, TableSource};
use crate::table::{catalog, text_column};

/// No offer, establishment or text: a link the tables do not give.
const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(super) struct Links {
    /// The offers' ids (offres' key), numbered in the table's order.
    offers: Names,
    /// By offer: its field of activity's code, by number in `texts`.
    offer_field: Vec<u32>,
    /// The places' ids (lieux' key).
    places: Names,
    /// By place: the offer realised there with the smallest id, by number in `offers`.
    place_offer: Vec<u32>,
    /// By place: its managing organisation, by number in `establishments`.
    place_establishment: Vec<u32>,
    /// The organisations the places name as managing them.
    establishments: Names,
    /// By establishment: its FINESS number when it is one of entites_geographiques, by number in
    /// `texts`.
    establishment_finess: Vec<u32>,
    /// The field codes and FINESS numbers, each once.
    texts: Names,
}

impl Links {
    /// Read from `spilled` once lieux, entites_geographiques and offres are made.
    pub(super) fn read(spilled: &dyn TableSource) -> Result<Links, FhirError> {
        let mut links = Links::default();
        let lieux = &catalog::LIEUX;
        for_each_slice(spilled, lieux, &["identifiant_ror", "entite_geographique_id"], |slice| {
            for (place, establishment) in text_column(lieux, slice, "identifiant_ror")?.iter().zip(text_column(lieux, slice, "entite_geographique_id")?.iter()) {
                // The key has no null (the table's check), and each place comes once.
                let Some(place) = place else { continue };
                let number = links.places.number(place) as usize;
                if number == links.place_offer.len() {
                    links.place_offer.push(NONE);
                    links.place_establishment.push(NONE);
                }
                links.place_establishment[number] = match establishment {
                    Some(establishment) => {
                        let n = links.establishments.number(establishment);
                        if n as usize == links.establishment_finess.len() {
                            links.establishment_finess.push(NONE);
                        }
                        n
                    }
                    None => NONE,
                };
            }
            Ok::<_, FhirError>(())
        })?;
        let egs = &catalog::ENTITES_GEOGRAPHIQUES;
        for_each_slice(spilled, egs, &["identifiant_ror", "finess_eg"], |slice| {
            for (establishment, finess) in text_column(egs, slice, "identifiant_ror")?.iter().zip(text_column(egs, slice, "finess_eg")?.iter()) {
                if let (Some(n), Some(finess)) = (establishment.and_then(|e| links.establishments.find(e)), finess) {
                    links.establishment_finess[n as usize] = links.texts.number(finess);
                }
            }
            Ok::<_, FhirError>(())
        })?;
        let offres = &catalog::OFFRES;
        for_each_slice(spilled, offres, &["identifiant_ror", "champ_activite_code", "lieu_id"], |slice| {
            let (ids, fields, places) = (text_column(offres, slice, "identifiant_ror")?, text_column(offres, slice, "champ_activite_code")?, text_column(offres, slice, "lieu_id")?);
            for ((offer, field), place) in ids.iter().zip(fields.iter()).zip(places.iter()) {
                let Some(offer) = offer else { continue };
                let number = links.offers.number(offer);
                if number as usize == links.offer_field.len() {
                    links.offer_field.push(NONE);
                }
                links.offer_field[number as usize] = field.map_or(NONE, |f| links.texts.number(f));
                // A place no lieux row has is no capacity's (every Location makes its row).
                if let Some(place) = place.and_then(|p| links.places.find(p)) {
                    let chosen = &mut links.place_offer[place as usize];
                    if *chosen == NONE || offer < links.offers.get(*chosen) {
                        *chosen = number;
                    }
                }
            }
            Ok::<_, FhirError>(())
        })?;
        Ok(links)
    }

    fn text(&self, number: u32) -> Option<&str> {
        (number != NONE).then(|| self.texts.get(number))
    }

    /// The field of activity of the offer `offer`, if it has one.
    pub(super) fn field_of_offer(&self, offer: &str) -> Option<&str> {
        self.offers.find(offer).and_then(|n| self.text(self.offer_field[n as usize]))
    }

    /// A place's offer (the smallest id of those realised there), establishment and its FINESS
    /// number.
    pub(super) fn of_place(&self, place: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
        let Some(n) = self.places.find(place) else { return (None, None, None) };
        let offer = self.place_offer[n as usize];
        let establishment = self.place_establishment[n as usize];
        let finess = if establishment == NONE { None } else { self.text(self.establishment_finess[establishment as usize]) };
        ((offer != NONE).then(|| self.offers.get(offer)), (establishment != NONE).then(|| self.establishments.get(establishment)), finess)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{TableBuilder, Tables};
    use std::collections::HashMap;

    /// Places, establishments and offers over several slices, with what the links must cope with:
    /// places with no establishment, or one that is no entites_geographiques row, or one without
    /// a FINESS number; offers of a place lieux lacks, of no place, without a field, and several
    /// offers of one place.
    fn tables(places: usize) -> Tables {
        let mut tables = crate::table::empty_tables();
        let mut lieux = TableBuilder::new(&catalog::LIEUX);
        for p in 0..places {
            let mut r = lieux.row();
            r.set("identifiant_ror", format!("l{p:07}"));
            if p % 5 != 0 {
                r.set("entite_geographique_id", format!("e{:05}", p % 3_001));
            }
            lieux.push(r);
        }
        tables.insert("lieux", lieux.finish().unwrap());
        let mut egs = TableBuilder::new(&catalog::ENTITES_GEOGRAPHIQUES);
        for e in (0..3_001).filter(|e| e % 7 != 0) {
            let mut r = egs.row();
            r.set("identifiant_ror", format!("e{e:05}"));
            if e % 4 != 0 {
                r.set("finess_eg", format!("{:09}", 750_000_000 + e % 1_500));
            }
            egs.push(r);
        }
        tables.insert("entites_geographiques", egs.finish().unwrap());
        let mut offres = TableBuilder::new(&catalog::OFFRES);
        for o in 0..places * 2 {
            let mut r = offres.row();
            r.set("identifiant_ror", format!("o{o:07}"));
            if o % 13 != 0 {
                let lieu = if o % 11 == 0 { format!("m{:07}", o % 97) } else { format!("l{:07}", (o * 7_919) % places) };
                r.set("lieu_id", lieu);
            }
            if o % 17 != 0 {
                r.set("champ_activite_code", ["01", "02", "03", "04"][(o / 3) % 4]);
            }
            offres.push(r);
        }
        tables.insert("offres", offres.finish().unwrap());
        tables
    }

    fn pairs<'t>(tables: &'t Tables, table: &str, key: &str, value: &str) -> Vec<(Option<&'t str>, Option<&'t str>)> {
        let column = |name| tables[table].frame.column(name).unwrap().str().unwrap();
        column(key).iter().zip(column(value).iter()).collect()
    }

    /// The links read a slice at a time are the maps of the whole columns the resolution used to
    /// build (a place's offer being the smallest id of those realised there).
    #[test]
    fn links_read_by_slices_are_the_maps_of_the_whole_columns() {
        let tables = tables(140_000);
        assert!(crate::table::spill::slices(tables["lieux"].rows()).len() >= 2 && crate::table::spill::slices(tables["offres"].rows()).len() >= 4);
        let links = Links::read(&tables).unwrap();
        let field_of: HashMap<&str, &str> = pairs(&tables, "offres", "identifiant_ror", "champ_activite_code").into_iter().filter_map(|(o, f)| Some((o?, f?))).collect();
        let mut offer_of: HashMap<&str, &str> = HashMap::new();
        for (offer, place) in pairs(&tables, "offres", "identifiant_ror", "lieu_id") {
            if let (Some(place), Some(offer)) = (place, offer) {
                offer_of.entry(place).and_modify(|o| if offer < *o { *o = offer }).or_insert(offer);
            }
        }
        let establishment_of: HashMap<&str, &str> = pairs(&tables, "lieux", "identifiant_ror", "entite_geographique_id").into_iter().filter_map(|(l, e)| Some((l?, e?))).collect();
        let finess_of: HashMap<&str, &str> = pairs(&tables, "entites_geographiques", "identifiant_ror", "finess_eg").into_iter().filter_map(|(e, f)| Some((e?, f?))).collect();
        let (mut fields, mut offers, mut finess) = (0, 0, 0);
        for o in 0..280_010 {
            let offer = format!("o{o:07}");
            assert_eq!(links.field_of_offer(&offer), field_of.get(offer.as_str()).copied(), "{offer}");
            fields += usize::from(links.field_of_offer(&offer).is_some());
        }
        for p in 0..140_010 {
            let place = format!("l{p:07}");
            let establishment = establishment_of.get(place.as_str()).copied();
            let expected = (offer_of.get(place.as_str()).copied(), establishment, establishment.and_then(|e| finess_of.get(e).copied()));
            assert_eq!(links.of_place(&place), expected, "{place}");
            offers += usize::from(expected.0.is_some());
            finess += usize::from(expected.2.is_some());
        }
        assert_eq!(links.of_place("m0000011"), (None, None, None), "a place lieux lacks links to nothing");
        assert!(fields > 200_000 && offers > 100_000 && finess > 60_000, "{fields} {offers} {finess}");
    }
}
