//! Where generated things are: the 18 TRE_R30 regions and, for each, a short list of real communes
//! (COG code, name, postal code, approximate WGS84 position), so that every generated address,
//! postal code, COG code, FINESS département and position agree with each other.

/// A real commune. Positions are approximate town centres; generators jitter them.
#[derive(Debug)]
pub struct Commune {
    pub cog: &'static str,
    pub name: &'static str,
    pub postal_code: &'static str,
    pub lat: f64,
    pub lon: f64,
}

impl Commune {
    /// The département: three characters overseas (971…976), two elsewhere (2A and 2B in Corsica).
    pub fn departement(&self) -> &'static str {
        let cog: &'static str = self.cog;
        // Every COG code below is five ASCII characters (checked by a test), so these slices are
        // on character boundaries.
        if cog.starts_with("97") {
            &cog[..3]
        } else {
            &cog[..2]
        }
    }

    /// The first characters of a FINESS number for this commune: the département in metropolitan
    /// France, `97` followed by the département's last digit overseas (FINESS numbers of the DROM
    /// all start with 97).
    pub fn finess_prefix(&self) -> String {
        let dep = self.departement();
        if dep.len() == 3 {
            format!("97{}", &dep[2..])
        } else {
            dep.to_string()
        }
    }
}

/// A region of the ROR (TRE_R30-RegionOM), with what the generator needs to make its data look local.
#[derive(Debug)]
pub struct Region {
    pub code: &'static str,
    /// Population in thousands: how the national volumes are shared between regions.
    pub population_k: u64,
    /// Offset of local standard time from UTC, in minutes.
    pub utc_offset_min: i32,
    /// Whether the region follows European summer time (metropolitan France only).
    pub summer_time: bool,
    /// The first digits of a landline number there (01–05 in metropolitan France, 0590… overseas).
    pub phone_prefix: &'static str,
    pub communes: &'static [Commune],
}

const fn c(
    cog: &'static str,
    name: &'static str,
    postal_code: &'static str,
    lat: f64,
    lon: f64,
) -> Commune {
    Commune {
        cog,
        name,
        postal_code,
        lat,
        lon,
    }
}

/// Île-de-France and Bretagne: the two regions of small snapshots (a big region and a smaller one).
pub const SMALL_SNAPSHOT_REGIONS: [&str; 2] = ["11", "53"];

/// Below this scale a snapshot covers two regions only, so that each still has a realistic density.
pub const ALL_REGIONS_FROM_SCALE: f64 = 0.05;

pub static REGIONS: [Region; 18] = [
    Region {
        code: "01",
        population_k: 380,
        utc_offset_min: -240,
        summer_time: false,
        phone_prefix: "0590",
        communes: &[
            c("97101", "Les Abymes", "97139", 16.271, -61.504),
            c("97120", "Pointe-à-Pitre", "97110", 16.241, -61.533),
            c("97105", "Basse-Terre", "97100", 15.997, -61.726),
            c("97103", "Baie-Mahault", "97122", 16.267, -61.586),
            c("97113", "Le Gosier", "97190", 16.206, -61.493),
            c("97116", "Le Moule", "97160", 16.333, -61.344),
            c("97128", "Sainte-Anne", "97180", 16.226, -61.381),
            c("97125", "Saint-François", "97118", 16.252, -61.274),
            c("97118", "Petit-Bourg", "97170", 16.191, -61.591),
            c("97107", "Capesterre-Belle-Eau", "97130", 16.043, -61.565),
            c("97124", "Saint-Claude", "97120", 16.024, -61.703),
            c("97115", "Lamentin", "97129", 16.270, -61.632),
        ],
    },
    Region {
        code: "02",
        population_k: 360,
        utc_offset_min: -240,
        summer_time: false,
        phone_prefix: "0596",
        communes: &[
            c("97209", "Fort-de-France", "97200", 14.604, -61.066),
            c("97213", "Le Lamentin", "97232", 14.612, -60.999),
            c("97229", "Schœlcher", "97233", 14.614, -61.091),
            c("97222", "Le Robert", "97231", 14.677, -60.940),
            c("97210", "Le François", "97240", 14.616, -60.903),
            c("97207", "Ducos", "97224", 14.575, -60.974),
            c("97228", "Sainte-Marie", "97230", 14.784, -60.992),
            c("97230", "La Trinité", "97220", 14.738, -60.963),
            c("97217", "Le Marin", "97290", 14.468, -60.866),
            c("97221", "Rivière-Salée", "97215", 14.535, -60.967),
            c("97224", "Saint-Joseph", "97212", 14.669, -61.038),
            c("97227", "Sainte-Luce", "97228", 14.469, -60.925),
        ],
    },
    Region {
        code: "03",
        population_k: 290,
        utc_offset_min: -180,
        summer_time: false,
        phone_prefix: "0594",
        communes: &[
            c("97302", "Cayenne", "97300", 4.937, -52.326),
            c("97304", "Kourou", "97310", 5.159, -52.650),
            c("97307", "Matoury", "97351", 4.847, -52.331),
            c("97309", "Remire-Montjoly", "97354", 4.917, -52.276),
            c("97311", "Saint-Laurent-du-Maroni", "97320", 5.498, -54.033),
            c("97305", "Macouria", "97355", 4.983, -52.470),
            c("97306", "Mana", "97360", 5.659, -53.779),
            c("97312", "Sinnamary", "97315", 5.376, -52.957),
            c("97308", "Saint-Georges", "97313", 3.891, -51.806),
            c("97353", "Maripasoula", "97370", 3.640, -54.030),
            c("97310", "Roura", "97311", 4.727, -52.327),
            c("97303", "Iracoubo", "97350", 5.480, -53.210),
        ],
    },
    Region {
        code: "04",
        population_k: 870,
        utc_offset_min: 240,
        summer_time: false,
        phone_prefix: "0262",
        communes: &[
            c("97411", "Saint-Denis", "97400", -20.882, 55.450),
            c("97415", "Saint-Paul", "97460", -21.010, 55.270),
            c("97416", "Saint-Pierre", "97410", -21.339, 55.478),
            c("97422", "Le Tampon", "97430", -21.278, 55.518),
            c("97409", "Saint-André", "97440", -20.963, 55.650),
            c("97414", "Saint-Louis", "97450", -21.286, 55.411),
            c("97407", "Le Port", "97420", -20.937, 55.292),
            c("97410", "Saint-Benoît", "97470", -21.034, 55.713),
            c("97412", "Saint-Joseph", "97480", -21.378, 55.619),
            c("97418", "Sainte-Marie", "97438", -20.897, 55.549),
            c("97413", "Saint-Leu", "97436", -21.171, 55.288),
            c("97408", "La Possession", "97419", -20.926, 55.336),
            c("97420", "Sainte-Suzanne", "97441", -20.906, 55.608),
            c("97404", "L'Étang-Salé", "97427", -21.265, 55.366),
        ],
    },
    Region {
        code: "06",
        population_k: 310,
        utc_offset_min: 180,
        summer_time: false,
        phone_prefix: "0269",
        communes: &[
            c("97611", "Mamoudzou", "97600", -12.781, 45.228),
            c("97610", "Koungou", "97690", -12.733, 45.204),
            c("97608", "Dzaoudzi", "97615", -12.787, 45.282),
            c("97615", "Pamandzi", "97615", -12.796, 45.279),
            c("97607", "Dembeni", "97660", -12.839, 45.173),
            c("97616", "Sada", "97640", -12.849, 45.104),
            c("97602", "Bandraboua", "97650", -12.702, 45.121),
            c("97617", "Tsingoni", "97680", -12.790, 45.107),
            c("97606", "Chirongui", "97620", -12.931, 45.149),
            c("97614", "Ouangani", "97670", -12.847, 45.138),
            c("97603", "Bandrele", "97660", -12.907, 45.191),
        ],
    },
    Region {
        code: "11",
        population_k: 12_300,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "01",
        communes: &[
            c("75056", "Paris", "75013", 48.832, 2.356),
            c("75056", "Paris", "75020", 48.864, 2.398),
            c("75056", "Paris", "75015", 48.841, 2.300),
            c("75056", "Paris", "75010", 48.876, 2.361),
            c("75056", "Paris", "75014", 48.833, 2.326),
            c("92012", "Boulogne-Billancourt", "92100", 48.835, 2.241),
            c("92050", "Nanterre", "92000", 48.892, 2.207),
            c("92009", "Bois-Colombes", "92270", 48.918, 2.268),
            c("92040", "Issy-les-Moulineaux", "92130", 48.824, 2.270),
            c("93066", "Saint-Denis", "93200", 48.936, 2.357),
            c("93008", "Bobigny", "93000", 48.910, 2.440),
            c("93048", "Montreuil", "93100", 48.864, 2.449),
            c("94028", "Créteil", "94000", 48.790, 2.456),
            c("94081", "Vitry-sur-Seine", "94400", 48.788, 2.393),
            c("94068", "Saint-Maur-des-Fossés", "94100", 48.799, 2.500),
            c("78646", "Versailles", "78000", 48.805, 2.120),
            c("78551", "Saint-Germain-en-Laye", "78100", 48.899, 2.094),
            c("91228", "Évry-Courcouronnes", "91000", 48.629, 2.441),
            c("91174", "Corbeil-Essonnes", "91100", 48.614, 2.482),
            c("95127", "Cergy", "95000", 49.036, 2.076),
            c("95018", "Argenteuil", "95100", 48.947, 2.247),
            c("77284", "Meaux", "77100", 48.960, 2.879),
            c("77288", "Melun", "77000", 48.540, 2.660),
        ],
    },
    Region {
        code: "24",
        population_k: 2_570,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "02",
        communes: &[
            c("45234", "Orléans", "45000", 47.903, 1.909),
            c("37261", "Tours", "37000", 47.394, 0.685),
            c("37122", "Joué-lès-Tours", "37300", 47.352, 0.664),
            c("18033", "Bourges", "18000", 47.081, 2.399),
            c("28085", "Chartres", "28000", 48.444, 1.489),
            c("36044", "Châteauroux", "36000", 46.810, 1.691),
            c("41018", "Blois", "41000", 47.586, 1.336),
            c("45208", "Montargis", "45200", 47.998, 2.733),
            c("28134", "Dreux", "28100", 48.737, 1.366),
            c("41269", "Vendôme", "41100", 47.793, 1.066),
            c("18279", "Vierzon", "18100", 47.222, 2.069),
            c("36088", "Issoudun", "36100", 46.948, 1.993),
        ],
    },
    Region {
        code: "27",
        population_k: 2_800,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "03",
        communes: &[
            c("21231", "Dijon", "21000", 47.322, 5.042),
            c("25056", "Besançon", "25000", 47.238, 6.024),
            c("71076", "Chalon-sur-Saône", "71100", 46.781, 4.854),
            c("89024", "Auxerre", "89000", 47.798, 3.567),
            c("58194", "Nevers", "58000", 46.991, 3.159),
            c("90010", "Belfort", "90000", 47.640, 6.864),
            c("25388", "Montbéliard", "25200", 47.510, 6.799),
            c("71270", "Mâcon", "71000", 46.307, 4.829),
            c("39300", "Lons-le-Saunier", "39000", 46.674, 5.554),
            c("70550", "Vesoul", "70000", 47.622, 6.155),
            c("89387", "Sens", "89100", 48.198, 3.283),
        ],
    },
    Region {
        code: "28",
        population_k: 3_300,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "02",
        communes: &[
            c("76540", "Rouen", "76000", 49.443, 1.100),
            c("76351", "Le Havre", "76600", 49.494, 0.108),
            c("14118", "Caen", "14000", 49.183, -0.371),
            c("50129", "Cherbourg-en-Cotentin", "50100", 49.634, -1.622),
            c("27229", "Évreux", "27000", 49.024, 1.151),
            c("61001", "Alençon", "61000", 48.433, 0.091),
            c("50502", "Saint-Lô", "50000", 49.116, -1.091),
            c("76217", "Dieppe", "76200", 49.923, 1.078),
            c("14366", "Lisieux", "14100", 49.147, 0.226),
            c("27681", "Vernon", "27200", 49.093, 1.485),
            c("14047", "Bayeux", "14400", 49.277, -0.703),
            c("61169", "Flers", "61100", 48.749, -0.569),
        ],
    },
    Region {
        code: "32",
        population_k: 6_000,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "03",
        communes: &[
            c("59350", "Lille", "59000", 50.629, 3.057),
            c("80021", "Amiens", "80000", 49.894, 2.296),
            c("59606", "Valenciennes", "59300", 50.357, 3.524),
            c("62041", "Arras", "62000", 50.291, 2.778),
            c("60057", "Beauvais", "60000", 49.430, 2.081),
            c("62193", "Calais", "62100", 50.951, 1.859),
            c("59183", "Dunkerque", "59140", 51.034, 2.377),
            c("59512", "Roubaix", "59100", 50.694, 3.175),
            c("59599", "Tourcoing", "59200", 50.724, 3.161),
            c("02691", "Saint-Quentin", "02100", 49.847, 3.288),
            c("60159", "Compiègne", "60200", 49.418, 2.826),
            c("62160", "Boulogne-sur-Mer", "62200", 50.726, 1.615),
            c("02408", "Laon", "02000", 49.564, 3.620),
        ],
    },
    Region {
        code: "44",
        population_k: 5_560,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "03",
        communes: &[
            c("67482", "Strasbourg", "67000", 48.573, 7.752),
            c("57463", "Metz", "57000", 49.119, 6.176),
            c("54395", "Nancy", "54000", 48.692, 6.184),
            c("51454", "Reims", "51100", 49.258, 4.032),
            c("68224", "Mulhouse", "68100", 47.751, 7.336),
            c("68066", "Colmar", "68000", 48.079, 7.359),
            c("10387", "Troyes", "10000", 48.297, 4.074),
            c("51108", "Châlons-en-Champagne", "51000", 48.957, 4.363),
            c("08105", "Charleville-Mézières", "08000", 49.762, 4.726),
            c("88160", "Épinal", "88000", 48.172, 6.450),
            c("57672", "Thionville", "57100", 49.358, 6.168),
            c("52121", "Chaumont", "52000", 48.111, 5.139),
            c("55029", "Bar-le-Duc", "55000", 48.773, 5.160),
        ],
    },
    Region {
        code: "52",
        population_k: 3_830,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "02",
        communes: &[
            c("44109", "Nantes", "44000", 47.218, -1.554),
            c("49007", "Angers", "49000", 47.478, -0.563),
            c("72181", "Le Mans", "72000", 48.006, 0.200),
            c("44184", "Saint-Nazaire", "44600", 47.274, -2.214),
            c("85191", "La Roche-sur-Yon", "85000", 46.671, -1.426),
            c("49099", "Cholet", "49300", 47.060, -0.878),
            c("53130", "Laval", "53000", 48.071, -0.773),
            c("49328", "Saumur", "49400", 47.260, -0.077),
            c("85194", "Les Sables-d'Olonne", "85100", 46.497, -1.783),
            c("44162", "Saint-Herblain", "44800", 47.212, -1.650),
            c("44143", "Rezé", "44400", 47.183, -1.550),
            c("53147", "Mayenne", "53100", 48.303, -0.614),
        ],
    },
    Region {
        code: "53",
        population_k: 3_370,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "02",
        communes: &[
            c("35238", "Rennes", "35000", 48.111, -1.680),
            c("29019", "Brest", "29200", 48.390, -4.486),
            c("29232", "Quimper", "29000", 47.996, -4.102),
            c("56121", "Lorient", "56100", 47.748, -3.370),
            c("56260", "Vannes", "56000", 47.658, -2.761),
            c("22278", "Saint-Brieuc", "22000", 48.514, -2.760),
            c("35288", "Saint-Malo", "35400", 48.649, -2.026),
            c("22113", "Lannion", "22300", 48.733, -3.457),
            c("29151", "Morlaix", "29600", 48.578, -3.828),
            c("35360", "Vitré", "35500", 48.124, -1.209),
            c("35115", "Fougères", "35300", 48.352, -1.199),
            c("22050", "Dinan", "22100", 48.456, -2.050),
            c("29103", "Landerneau", "29800", 48.451, -4.249),
            c("29233", "Quimperlé", "29300", 47.873, -3.550),
            c("29039", "Concarneau", "29900", 47.875, -3.919),
            c("56007", "Auray", "56400", 47.668, -2.983),
        ],
    },
    Region {
        code: "75",
        population_k: 6_030,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "05",
        communes: &[
            c("33063", "Bordeaux", "33000", 44.838, -0.579),
            c("87085", "Limoges", "87000", 45.834, 1.261),
            c("86194", "Poitiers", "86000", 46.580, 0.340),
            c("64445", "Pau", "64000", 43.295, -0.371),
            c("17300", "La Rochelle", "17000", 46.160, -1.151),
            c("64102", "Bayonne", "64100", 43.493, -1.475),
            c("16015", "Angoulême", "16000", 45.648, 0.156),
            c("24322", "Périgueux", "24000", 45.185, 0.721),
            c("79191", "Niort", "79000", 46.324, -0.459),
            c("19272", "Tulle", "19000", 45.266, 1.772),
            c("40192", "Mont-de-Marsan", "40000", 43.890, -0.499),
            c("47001", "Agen", "47000", 44.203, 0.616),
            c("23096", "Guéret", "23000", 46.171, 1.871),
            c("19031", "Brive-la-Gaillarde", "19100", 45.159, 1.532),
        ],
    },
    Region {
        code: "76",
        population_k: 5_970,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "05",
        communes: &[
            c("31555", "Toulouse", "31000", 43.605, 1.444),
            c("34172", "Montpellier", "34000", 43.611, 3.877),
            c("30189", "Nîmes", "30000", 43.837, 4.360),
            c("66136", "Perpignan", "66000", 42.689, 2.895),
            c("34032", "Béziers", "34500", 43.344, 3.216),
            c("81004", "Albi", "81000", 43.929, 2.146),
            c("65440", "Tarbes", "65000", 43.233, 0.078),
            c("11069", "Carcassonne", "11000", 43.213, 2.349),
            c("12202", "Rodez", "12000", 44.351, 2.575),
            c("46042", "Cahors", "46000", 44.448, 1.442),
            c("82121", "Montauban", "82000", 44.018, 1.355),
            c("11262", "Narbonne", "11100", 43.184, 3.004),
            c("09122", "Foix", "09000", 42.964, 1.605),
            c("48095", "Mende", "48000", 44.518, 3.501),
            c("32013", "Auch", "32000", 43.647, 0.586),
        ],
    },
    Region {
        code: "84",
        population_k: 8_040,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "04",
        communes: &[
            c("69123", "Lyon", "69003", 45.760, 4.852),
            c("69266", "Villeurbanne", "69100", 45.772, 4.890),
            c("42218", "Saint-Étienne", "42000", 45.440, 4.387),
            c("38185", "Grenoble", "38000", 45.189, 5.725),
            c("63113", "Clermont-Ferrand", "63000", 45.777, 3.087),
            c("73065", "Chambéry", "73000", 45.565, 5.918),
            c("74010", "Annecy", "74000", 45.899, 6.129),
            c("26362", "Valence", "26000", 44.933, 4.892),
            c("01053", "Bourg-en-Bresse", "01000", 46.205, 5.226),
            c("03185", "Montluçon", "03100", 46.340, 2.604),
            c("03190", "Moulins", "03000", 46.566, 3.333),
            c("15014", "Aurillac", "15000", 44.926, 2.440),
            c("43157", "Le Puy-en-Velay", "43000", 45.043, 3.886),
            c("07186", "Privas", "07000", 44.735, 4.599),
            c("42187", "Roanne", "42300", 46.037, 4.068),
        ],
    },
    Region {
        code: "93",
        population_k: 5_100,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "04",
        communes: &[
            c("13055", "Marseille", "13005", 43.297, 5.370),
            c("06088", "Nice", "06000", 43.710, 7.262),
            c("83137", "Toulon", "83000", 43.124, 5.928),
            c("13001", "Aix-en-Provence", "13100", 43.530, 5.447),
            c("84007", "Avignon", "84000", 43.949, 4.806),
            c("06029", "Cannes", "06400", 43.553, 7.017),
            c("06004", "Antibes", "06600", 43.580, 7.125),
            c("83069", "Hyères", "83400", 43.120, 6.129),
            c("13004", "Arles", "13200", 43.677, 4.628),
            c("83050", "Draguignan", "83300", 43.537, 6.465),
            c("04070", "Digne-les-Bains", "04000", 44.093, 6.236),
            c("05061", "Gap", "05000", 44.559, 6.079),
            c("13056", "Martigues", "13500", 43.405, 5.048),
            c("83061", "Fréjus", "83600", 43.433, 6.737),
        ],
    },
    Region {
        code: "94",
        population_k: 340,
        utc_offset_min: 60,
        summer_time: true,
        phone_prefix: "04",
        communes: &[
            c("2A004", "Ajaccio", "20000", 41.919, 8.739),
            c("2B033", "Bastia", "20200", 42.698, 9.451),
            c("2A247", "Porto-Vecchio", "20137", 41.591, 9.280),
            c("2B096", "Corte", "20250", 42.306, 9.149),
            c("2B050", "Calvi", "20260", 42.568, 8.758),
            c("2A272", "Sartène", "20100", 41.622, 8.975),
            c("2A041", "Bonifacio", "20169", 41.388, 9.159),
            c("2B037", "Biguglia", "20620", 42.627, 9.420),
            c("2A249", "Propriano", "20110", 41.676, 8.903),
            c("2B123", "Ghisonaccia", "20240", 42.016, 9.405),
            c("2B042", "Borgo", "20290", 42.555, 9.428),
        ],
    },
];

/// The regions a snapshot of this scale covers, in TRE_R30 code order.
pub fn regions_for_scale(scale: f64) -> Vec<&'static Region> {
    if scale < ALL_REGIONS_FROM_SCALE {
        REGIONS
            .iter()
            .filter(|r| SMALL_SNAPSHOT_REGIONS.contains(&r.code))
            .collect()
    } else {
        REGIONS.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communes_are_coherent_with_their_region() {
        for region in &REGIONS {
            assert!(
                region.communes.len() >= 10,
                "region {} has too few communes",
                region.code
            );
            for commune in region.communes {
                assert_eq!(commune.cog.len(), 5, "{}", commune.name);
                assert!(commune.cog.is_ascii() && commune.postal_code.is_ascii());
                assert_eq!(commune.postal_code.len(), 5, "{}", commune.name);
                let dep = commune.departement();
                let overseas = ["01", "02", "03", "04", "06"].contains(&region.code);
                assert_eq!(overseas, dep.len() == 3, "{}", commune.name);
                // Postal codes start with the département (20 for Corsica).
                let expected = if dep.starts_with('2') && (dep.ends_with('A') || dep.ends_with('B'))
                {
                    "20"
                } else {
                    dep
                };
                assert!(
                    commune.postal_code.starts_with(expected),
                    "{} {}",
                    commune.name,
                    commune.postal_code
                );
                assert!(
                    (-90.0..=90.0).contains(&commune.lat)
                        && (-180.0..=180.0).contains(&commune.lon)
                );
            }
        }
    }

    #[test]
    fn small_scales_cover_two_regions() {
        let codes: Vec<_> = regions_for_scale(0.003).iter().map(|r| r.code).collect();
        assert_eq!(codes, ["11", "53"]);
        assert_eq!(regions_for_scale(1.0).len(), 18);
    }
}
