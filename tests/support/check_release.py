"""Read every file of a release with the readers reusers use, with no options, and compare with the
manifest: pyarrow and DuckDB for Parquet, DuckDB for CSV, `frictionless validate` for the package.

With --canaries FILE (a JSON list of strings planted in restricted fields of the snapshot), every
value of every file, Parquet included (decoded by pyarrow), is searched for each of them. With
--profil0, the public subset rules of the ROR (Profil 0) are checked on the data with DuckDB.

Usage: check_release.py RELEASE_DIR [--canaries FILE] [--profil0]
Prints one JSON object (what each reader saw) and exits non-zero on any disagreement.
"""

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq


def find_canaries(release: Path, canaries: list[str]) -> list[str]:
    """Every file as text, and every Parquet value decoded: no canary may appear anywhere."""
    found = []
    for path in sorted(release.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text = "\n".join(str(v) for column in table.columns for v in column.to_pylist())
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        for canary in canaries:
            if canary in text:
                found.append(f"{path.name}: contains canary {canary!r}")
    return found


PROFIL0_CHECKS = {
    "no contact or telecom above level 1": "select count(*) from read_csv('{d}/contacts.csv', all_varchar=true) where niveau_confidentialite_contact_code is distinct from '1' or niveau_confidentialite_telecom_code is distinct from '1'",
    "no sensitive-unit offer": "select count(*) from read_csv('{d}/offres.csv', all_varchar=true) where unite_sensible is distinct from 'false'",
    "professionals only on ambulatory offers": "select count(*) from read_csv('{d}/professionnels.csv', all_varchar=true) p left join read_csv('{d}/offres.csv', all_varchar=true) o on p.offre_id = o.identifiant_ror where o.champ_activite_code is distinct from '05'",
    "contacts only of published offers": "select count(*) from read_csv('{d}/contacts.csv', all_varchar=true) c where c.offre_id is not null and c.offre_id not in (select identifiant_ror from read_csv('{d}/offres.csv', all_varchar=true))",
}
RESTRICTED_NAME_PARTS = ["capacite", "equipement", "orsan", "helicoptere"]


def profil0_problems(release: Path, manifest: dict, con) -> list[str]:
    problems = []
    for path in release.rglob("*"):
        if any(part in path.name for part in RESTRICTED_NAME_PARTS):
            problems.append(f"restricted file {path.name} is in the public release")
    for table in manifest["tables"]:
        for column in table["columns"]:
            if any(part in column for part in RESTRICTED_NAME_PARTS):
                problems.append(f"restricted column {table['name']}.{column} is public")
    for label, sql in PROFIL0_CHECKS.items():
        count = con.execute(sql.format(d=release)).fetchone()[0]
        if count:
            problems.append(f"Profil 0 rule broken ({label}): {count} rows")
    return problems


def main() -> int:
    release = Path(sys.argv[1])
    args = sys.argv[2:]
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    problems = []
    seen = {}
    con = duckdb.connect()
    for table in manifest["tables"]:
        name, rows = table["name"], table["rows"]
        parquet = release / table["parquet"]
        csv = release / table["csv"]
        arrow = pq.read_table(parquet)
        duck_parquet = con.execute("select count(*) from read_parquet(?)", [str(parquet)]).fetchone()[0]
        duck_csv = con.execute("select count(*) from read_csv(?)", [str(csv)]).fetchone()[0]
        csv_columns = [d[0] for d in con.execute("select * from read_csv(?) limit 0", [str(csv)]).description]
        seen[name] = {
            "manifest_rows": rows,
            "pyarrow_rows": arrow.num_rows,
            "duckdb_parquet_rows": duck_parquet,
            "duckdb_csv_rows": duck_csv,
            "columns": arrow.column_names,
        }
        for reader, count in [("pyarrow", arrow.num_rows), ("duckdb parquet", duck_parquet), ("duckdb csv", duck_csv)]:
            if count != rows:
                problems.append(f"{name}: {reader} reads {count} rows, the manifest says {rows}")
        if arrow.column_names != table["columns"]:
            problems.append(f"{name}: parquet columns {arrow.column_names} differ from the manifest {table['columns']}")
        if rows > 0 and csv_columns != table["columns"]:
            problems.append(f"{name}: csv columns {csv_columns} differ from the manifest {table['columns']}")

    frictionless = Path(sys.executable).parent / "frictionless"
    result = subprocess.run(
        [str(frictionless), "validate", "--json", "datapackage.json"],
        cwd=release,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {"valid": False, "raw": result.stdout + result.stderr}
    if not report.get("valid"):
        errors = []
        for task in report.get("tasks", []):
            for error in task.get("errors", [])[:5]:
                errors.append(f"{task.get('name')}: {error.get('message')}")
        problems.append("frictionless: package invalid: " + ("; ".join(errors) or str(report)[:2000]))
    if "--canaries" in args:
        canaries = json.loads(Path(args[args.index("--canaries") + 1]).read_text(encoding="utf-8"))
        if not canaries:
            problems.append("the canary list is empty: nothing would be proven")
        problems.extend(find_canaries(release, canaries))
    if "--profil0" in args:
        problems.extend(profil0_problems(release, manifest, con))
    print(json.dumps({"tables": seen, "frictionless_valid": bool(report.get("valid")), "problems": problems}, ensure_ascii=False))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
