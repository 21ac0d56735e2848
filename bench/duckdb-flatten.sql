-- The DuckDB side of bench/run: the flatten of offers (HealthcareService) and places (Location)
-- from the same FHIR JSON files the build reads, written to CSV and to zstd Parquet.
--
-- bench/run replaces {export_glob} (the snapshot's export/*.json.gz) and {out_dir} (a scratch
-- folder) before running each statement. The columns are those of our `offres` and `lieux` that a
-- JSON path reaches without a lookup in a nomenclature: the comparison is DuckDB's JSON reader and
-- writers against our whole build, which does far more (every table, checks, disclosure, history,
-- signature), so the ratio flatters DuckDB, not us.

CREATE TEMP TABLE resources AS
SELECT unnest(entry).resource AS r
FROM read_json('{export_glob}',
               columns = {entry: 'STRUCT(resource JSON)[]'},
               format = 'unstructured',
               maximum_object_size = 2000000000);

CREATE TEMP TABLE offres AS
SELECT
    r->>'id'                                          AS identifiant_ror,
    r->>'$.identifier[0].value'                       AS identifiant_offre,
    r->>'name'                                        AS nom,
    replace(r->>'$.location[0].reference', 'Location/', '')        AS lieu_id,
    replace(r->>'$.providedBy.reference', 'Organization/', '')     AS fournisseur_id,
    r->>'$.category[0].coding[0].code'                AS type_offre_code,
    r->>'$.category[0].coding[0].display'             AS type_offre_libelle,
    r->>'$.type[0].coding[0].code'                    AS champ_activite_code,
    r->>'$.type[0].coding[0].display'                 AS champ_activite_libelle,
    r->>'$.specialty[0].coding[0].code'               AS activite_operationnelle_code,
    r->>'$.specialty[0].coding[0].display'            AS activite_operationnelle_libelle,
    r->>'$.meta.tag[0].code'                          AS region_code,
    CAST(r->>'$.meta.lastUpdated' AS TIMESTAMPTZ)     AS date_mise_a_jour
FROM resources
WHERE r->>'resourceType' = 'HealthcareService'
ORDER BY identifiant_ror;

CREATE TEMP TABLE lieux AS
SELECT
    r->>'id'                                          AS identifiant_ror,
    r->>'$.identifier[0].value'                       AS identifiant_lieu,
    r->>'name'                                        AS nom,
    replace(r->>'$.managingOrganization.reference', 'Organization/', '') AS entite_geographique_id,
    r->>'$.type[0].coding[0].code'                    AS fonction_code,
    r->>'$.type[0].coding[0].display'                 AS fonction_libelle,
    array_to_string(CAST(r->'$.address.line' AS VARCHAR[]), ', ') AS adresse,
    r->>'$.address.postalCode'                        AS code_postal,
    r->>'$.address.city'                              AS commune,
    CAST(r->>'$.position.latitude' AS DOUBLE)         AS latitude,
    CAST(r->>'$.position.longitude' AS DOUBLE)        AS longitude,
    r->>'$.meta.tag[0].code'                          AS region_code,
    CAST(r->>'$.meta.lastUpdated' AS TIMESTAMPTZ)     AS date_mise_a_jour
FROM resources
WHERE r->>'resourceType' = 'Location'
ORDER BY identifiant_ror;

COPY offres TO '{out_dir}/offres.csv' (HEADER, DELIMITER ',');
COPY offres TO '{out_dir}/offres.parquet' (FORMAT parquet, COMPRESSION zstd);
COPY lieux TO '{out_dir}/lieux.csv' (HEADER, DELIMITER ',');
COPY lieux TO '{out_dir}/lieux.parquet' (FORMAT parquet, COMPRESSION zstd);
