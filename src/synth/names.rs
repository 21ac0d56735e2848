//! Words that make generated names and addresses read like French ones: surnames, first names,
//! street names and the pleasant names given to clinics and care homes.

pub const FAMILY_NAMES: [&str; 60] = [
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFEVRE",
    "FAURE",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANCOIS",
    "LEGRAND",
    "GAUTHIER",
    "GARCIA",
    "PERRIN",
    "ROBIN",
    "CLEMENT",
    "MORIN",
    "NICOLAS",
    "HENRY",
    "ROUSSEL",
    "MATHIEU",
    "GAUTIER",
    "MASSON",
    "MARCHAND",
    "DUVAL",
    "DENIS",
    "DUMONT",
    "MARIE",
    "LEMAIRE",
    "NOEL",
    "MEYER",
    "DUFOUR",
    "LE GALL",
];

pub const GIVEN_NAMES_FEMALE: [&str; 30] = [
    "Marie",
    "Nathalie",
    "Isabelle",
    "Sylvie",
    "Catherine",
    "Sophie",
    "Julie",
    "Camille",
    "Claire",
    "Anne",
    "Céline",
    "Émilie",
    "Aurélie",
    "Sandrine",
    "Valérie",
    "Laure",
    "Élodie",
    "Hélène",
    "Pauline",
    "Léa",
    "Manon",
    "Chloé",
    "Sarah",
    "Lucie",
    "Mylène",
    "Agnès",
    "Béatrice",
    "Mathilde",
    "Inès",
    "Margaux",
];

pub const GIVEN_NAMES_MALE: [&str; 30] = [
    "Jean",
    "Pierre",
    "Michel",
    "Philippe",
    "Nicolas",
    "Thomas",
    "Julien",
    "Sébastien",
    "Christophe",
    "Laurent",
    "Stéphane",
    "David",
    "Olivier",
    "François",
    "Éric",
    "Frédéric",
    "Antoine",
    "Maxime",
    "Hugo",
    "Lucas",
    "Mathieu",
    "Guillaume",
    "Vincent",
    "Benoît",
    "Jérôme",
    "Yann",
    "Karim",
    "Mehdi",
    "Loïc",
    "Rémi",
];

/// Street types: the abbreviation ANS puts in the ADXP streetNameType extension, and the word in the line.
pub const STREET_TYPES: [(&str, &str); 9] = [
    ("RUE", "rue"),
    ("AV", "avenue"),
    ("BD", "boulevard"),
    ("PL", "place"),
    ("ALL", "allée"),
    ("CHE", "chemin"),
    ("RTE", "route"),
    ("QUAI", "quai"),
    ("IMP", "impasse"),
];

pub const STREET_NAMES: [&str; 30] = [
    "de la République",
    "Victor Hugo",
    "Jean Jaurès",
    "du Général Leclerc",
    "Pasteur",
    "des Lilas",
    "de la Gare",
    "du Maréchal Foch",
    "Gambetta",
    "de l'Hôpital",
    "des Écoles",
    "du Moulin",
    "de Verdun",
    "Saint-Martin",
    "des Tilleuls",
    "de la Paix",
    "Carnot",
    "Émile Zola",
    "du Stade",
    "de la Liberté",
    "des Peupliers",
    "de Paris",
    "du Château",
    "Aristide Briand",
    "Jules Ferry",
    "des Acacias",
    "de la Fontaine",
    "du Port",
    "des Bourguignons",
    "Porte de Buc",
];

/// Names given to clinics, care homes and group practices.
pub const PLEASANT_NAMES: [&str; 20] = [
    "Les Tilleuls",
    "Les Magnolias",
    "Le Bois Joli",
    "Les Jardins d'Automne",
    "La Roseraie",
    "Les Glycines",
    "Saint-Joseph",
    "Sainte-Marie",
    "Le Clos Fleuri",
    "Les Hortensias",
    "Bel Air",
    "Les Cèdres",
    "La Source",
    "Les Oliviers",
    "Le Parc",
    "Saint-Vincent",
    "Les Mimosas",
    "La Colline",
    "Les Érables",
    "Val Fleuri",
];

/// Themes of internal organisations (pôles, services, units).
pub const OI_THEMES: [&str; 10] = [
    "Médecine",
    "Chirurgie",
    "Femme-Mère-Enfant",
    "Gériatrie",
    "Psychiatrie",
    "Urgences",
    "Médico-technique",
    "Cancérologie",
    "Réadaptation",
    "Cardiologie",
];

/// `de X`, or `d'X` before a vowel, as French writes "Centre hospitalier d'Auray".
pub fn de(name: &str) -> String {
    let elide = name
        .chars()
        .next()
        .is_some_and(|c| "AEIOUYÉÈÊÎÔÂaeiouyéèêîôâ".contains(c));
    if elide {
        format!("d'{name}")
    } else {
        format!("de {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::de;

    #[test]
    fn elision() {
        assert_eq!(de("Auray"), "d'Auray");
        assert_eq!(de("Évry-Courcouronnes"), "d'Évry-Courcouronnes");
        assert_eq!(de("Rennes"), "de Rennes");
    }
}
