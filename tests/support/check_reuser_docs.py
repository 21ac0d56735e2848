"""Check a release's documents for reusers with standard parsers.

- catalog.jsonld parsed as JSON-LD into RDF by rdflib: the DCAT-AP mandatory properties (Catalog:
  dct:title, dct:description, dct:publisher, dcat:dataset; Dataset: dct:title, dct:description;
  Distribution: dcat:accessURL) and the recommended ones this publication promises, and every
  distribution's spdx checksum equal to the sha256 of the file it points to.
- feed.atom parsed by feedparser: the versions of its entries.

Usage: check_reuser_docs.py RELEASE_DIR
Prints one JSON object; exits non-zero on a problem.
"""

import hashlib
import json
import sys
from pathlib import Path

import feedparser
from rdflib import Graph, Namespace, RDF, URIRef

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
SPDX = Namespace("http://spdx.org/rdf/terms#")

MANDATORY = {
    DCAT.Catalog: [DCT.title, DCT.description, DCT.publisher, DCAT.dataset],
    DCAT.Dataset: [DCT.title, DCT.description, DCT.publisher, DCT.license, DCT.accrualPeriodicity, DCT.temporal,
                   DCT.spatial, DCAT.keyword, DCAT.contactPoint, DCAT.landingPage, DCAT.distribution],
    DCAT.Distribution: [DCAT.accessURL, DCAT.downloadURL, DCAT.mediaType, DCAT.byteSize, SPDX.checksum],
}


def main() -> int:
    release = Path(sys.argv[1]).resolve()
    problems = []
    graph = Graph()
    catalog = release / "catalog.jsonld"
    graph.parse(catalog, format="json-ld", publicID=catalog.as_uri())
    counts = {}
    for kind, properties in MANDATORY.items():
        subjects = list(graph.subjects(RDF.type, kind))
        counts[str(kind)] = len(subjects)
        if not subjects:
            problems.append(f"no {kind}")
        for s in subjects:
            for p in properties:
                if graph.value(s, p) is None:
                    problems.append(f"{s} lacks {p}")
    checked = 0
    for dist in graph.subjects(RDF.type, DCAT.Distribution):
        url = graph.value(dist, DCAT.downloadURL)
        checksum = graph.value(dist, SPDX.checksum)
        value = str(graph.value(checksum, SPDX.checksumValue))
        path = Path(str(url).removeprefix("file://"))
        if not path.is_file():
            problems.append(f"{url} is not a file of the release")
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != value:
            problems.append(f"{path.name}: checksum differs from the file")
        checked += 1
    feed = feedparser.parse(str(release / "feed.atom"))
    if feed.bozo:
        problems.append(f"feed.atom is not well-formed: {feed.bozo_exception}")
    entries = [{"title": e.title, "id": e.id, "summary": e.summary, "links": [l.href for l in e.links]} for e in feed.entries]
    print(json.dumps({"counts": counts, "checksums_checked": checked, "feed_version": feed.version, "entries": entries, "problems": problems}, ensure_ascii=False))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
