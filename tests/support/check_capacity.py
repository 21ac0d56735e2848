"""Check the public capacity dataset against the detailed capacities, as an auditor would, with DuckDB.

Usage: check_capacity.py <capacites_departement.csv> <detailed release folder (drees)>

1. No published figure is under 11 (zero excepted: an empty cell).
2. Every published figure equals a recount from the detailed tables (capacites, lieux, offres):
   current capacities (temporalite 01), places attributed to the smallest champ of their
   non-sensitive offers, summed by nature, statut, departement and champ, margins included.
3. No masked figure can be computed from the published ones: for each (nature, statut) grid, a
   masked cell is derivable iff its unit vector lies in the row space of the additivity constraints
   restricted to the masked cells (exact rational ranks).
Prints one JSON object: cells, masked, checked; exits 1 with the reasons on any failure.
"""

import json
import sys
from fractions import Fraction

import duckdb

published_csv, detailed = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"create view pub as select * from read_csv('{published_csv}', header=true, all_varchar=true)")
for t in ["capacites", "lieux", "offres"]:
    con.execute(f"create view {t} as select * from read_parquet('{detailed}/{t}.parquet')")

problems = []

small = con.execute("select cellule, nombre from pub where nombre is not null and cast(nombre as bigint) between 1 and 10").fetchall()
if small:
    problems.append(f"published figures under 11: {small[:5]}")

# The recount. DREES's lieux carry the departement (their policy generalises the commune to it).
recount = dict(
    ((n, s, d, c), v)
    for n, s, d, c, v in con.execute(
        """
        with champ as (
            select lieu_id, min(coalesce(champ_activite_code, 'non renseigné')) as champ
            from offres where not coalesce(unite_sensible, false) and lieu_id is not null group by lieu_id
        ), detail as (
            select c.nature_capacite_code n, c.statut_capacite_code s,
                   coalesce(l.commune_cog_code, l.code_postal, 'non renseigné') d, ch.champ c, coalesce(c.nombre, 0) v
            from capacites c join champ ch on ch.lieu_id = c.lieu_id left join lieux l on l.identifiant_ror = c.lieu_id
            where c.temporalite_code = '01' and c.nature_capacite_code in ('01', '02') and c.statut_capacite_code in ('01', '02')
        )
        select n, s, coalesce(d, 'TOTAL'), coalesce(c, 'TOTAL'), sum(v)
        from detail group by grouping sets ((n, s, d, c), (n, s, d), (n, s, c), (n, s))
        """
    ).fetchall()
)

rows = con.execute("select nature_capacite_code, statut_capacite_code, departement_code, champ_activite_code, nombre, secret_statistique from pub").fetchall()
checked = 0
grids = {}
for n, s, d, c, v, secret in rows:
    expected = recount.get((n, s, d, c), 0)
    masked = secret == "true"
    if masked != (v is None):
        problems.append(f"cell {n}|{s}|{d}|{c}: secret_statistique={secret} but nombre={v}")
    if v is not None:
        checked += 1
        if int(v) != expected:
            problems.append(f"cell {n}|{s}|{d}|{c}: published {v}, recount {expected}")
    grids.setdefault((n, s), {})[(d, c)] = (expected, masked)

missing = [k for k, v in recount.items() if v and (k[0], k[1]) in grids and (k[2], k[3]) not in grids[(k[0], k[1])]]
if missing:
    problems.append(f"recounted cells absent from the dataset: {missing[:5]}")


def rank(matrix):
    m = [row[:] for row in matrix]
    r = 0
    width = len(m[0]) if m else 0
    for col in range(width):
        pivot = next((i for i in range(r, len(m)) if m[i][col] != 0), None)
        if pivot is None:
            continue
        m[r], m[pivot] = m[pivot], m[r]
        for i in range(len(m)):
            if i != r and m[i][col] != 0:
                f = m[i][col] / m[r][col]
                m[i] = [a - f * b for a, b in zip(m[i], m[r])]
        r += 1
    return r


masked_total = 0
for (n, s), cells in grids.items():
    deps = sorted({d for d, _ in cells if d != "TOTAL"}) + ["TOTAL"]
    champs = sorted({c for _, c in cells if c != "TOTAL"}) + ["TOTAL"]
    unknowns = [(d, c) for d in deps for c in champs if cells.get((d, c), (0, False))[1]]
    masked_total += len(unknowns)
    if not unknowns:
        continue
    # Each row line: its cells minus its total = 0; same for each column line.
    lines = []
    for d in deps:
        lines.append([Fraction(0 if u[0] != d else (-1 if u[1] == "TOTAL" else 1)) for u in unknowns])
    for c in champs:
        lines.append([Fraction(0 if u[1] != c else (-1 if u[0] == "TOTAL" else 1)) for u in unknowns])
    base = rank(lines)
    for k, u in enumerate(unknowns):
        unit = [Fraction(int(i == k)) for i in range(len(unknowns))]
        if rank(lines + [unit]) == base:
            problems.append(f"masked cell {n}|{s}|{u[0]}|{u[1]} can be computed from the published totals")

print(json.dumps({"cells": len(rows), "masked": masked_total, "checked": checked}))
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
