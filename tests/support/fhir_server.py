#!/usr/bin/env python3
"""A ROR FHIR API on 127.0.0.1 for the tests: standard library only.

It serves FHIR resources read from --data folders (JSON Bundles or single resources, optionally
gzipped) the way ANS's HAPI FHIR server does: a Keycloak-style OAuth2 client-credentials token
endpoint, the four Ror-* headers checked on every call, $export (202 + Content-Location, polls
with Retry-After, a bulk-data manifest, output files as FHIR JSON Bundles) and the paged
HealthcareService search with ANS's _include/_revinclude, _count, _lastUpdated=ge and _tag, next
links as HAPI writes them (?_getpages=…), errors as OperationOutcome.

Faults, switched on with --fault NAME[=COUNT] (COUNT times, default 1; "always" for ever):
  throttle        an API call answers 429 with Retry-After
  unavailable     an API call answers 503 with Retry-After
  expire-token    a download finds its token revoked (401); later tokens work
  cut-download    a download announces its full length, sends half and closes the connection
  truncated-json  a download is a well-formed HTTP answer whose JSON body stops halfway
  broken-next     the first search page's next link names an expired search (410)
  cap-search      a search stops after its first page but announces the full total (as the
                  ROR does past 10,000 offers)
  stall-export    the export job never completes (202 for ever)
  export-error    the export job fails (500 OperationOutcome on its status URL)
  slow            API answers wait --slow-seconds before they start

It prints "listening http://127.0.0.1:PORT" on standard output once ready, then only logs to
standard error. GET /_admin/stats gives counters as JSON (tokens issued, faults served, requests).
"""

import argparse
import gzip
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

BASE_PATH = "/ws-diffusion-fhir"
TOKEN_PATH = "/auth/realms/ror/protocol/openid-connect/token"
REGION_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM"
ROR_HEADERS = {
    "Ror-Profil-Utilisateur-Code": "CU23",
    "Ror-Profil-Utilisateur-System": "1.2.250.1.213.1.6.1.66",
    "Ror-Role-Metier-Code": "AUTOMATE",
    "Ror-Role-Metier-System": "1.2.250.1.213.1.1.4.6",
}
MAX_PAGE = 200


def load_resources(folders):
    """(type, id) -> resource, in a stable order."""
    resources = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                if name.startswith("snapshot-") or not (name.endswith(".json") or name.endswith(".json.gz")):
                    continue
                path = os.path.join(root, name)
                opener = gzip.open if name.endswith(".gz") else open
                with opener(path, "rt", encoding="utf-8-sig") as f:
                    value = json.load(f)
                items = [e["resource"] for e in value.get("entry", []) if "resource" in e] if value.get("resourceType") == "Bundle" else [value]
                for r in items:
                    resources[(r["resourceType"], r["id"])] = r
    return resources


def ref_key(reference):
    """("Organization", "12") from "Organization/12" or an absolute URL."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    parts = reference["reference"].split("/_history/")[0].rstrip("/").split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 else None


def outcome(severity, code, diagnostics):
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.resources = load_resources(args.data)
        self.tokens = {}  # token -> expiry (monotonic)
        self.jobs = {}  # job id -> {"polls": n, "files": [[resources]], "request": url}
        self.searches = {}  # search id -> [match keys]
        self.totals = {}  # search id -> the total announced
        self.faults = {}
        for spec in args.fault:
            name, _, count = spec.partition("=")
            self.faults[name] = float("inf") if count == "always" else int(count or 1)
        self.stats = {"tokens_issued": 0, "faults_served": {}, "requests": 0, "unauthorized": 0, "jobs_cancelled": 0}

    def take_fault(self, name):
        with self.lock:
            left = self.faults.get(name, 0)
            if left <= 0:
                return False
            self.faults[name] = left - 1
            served = self.stats["faults_served"]
            served[name] = served.get(name, 0) + 1
            return True

    def related(self, offers):
        """The resources ANS's includes add to a set of offers: organisations and their parents,
        places, the roles of the offers and their practitioners."""
        included = []
        seen = set(offers)

        def add(key):
            if key and key in self.resources and key not in seen:
                seen.add(key)
                included.append(key)
                return True
            return False

        offer_ids = set(k[1] for k in offers)
        for key in offers:
            r = self.resources[key]
            org = ref_key(r.get("providedBy"))
            while org and org in self.resources:
                add(org)
                org = ref_key(self.resources[org].get("partOf"))
                if org in seen:
                    break
            for loc in r.get("location", []):
                add(ref_key(loc))
        for key, r in self.resources.items():
            if key[0] == "PractitionerRole" and any(ref_key(h) and ref_key(h)[1] in offer_ids and ref_key(h)[0] == "HealthcareService" for h in r.get("healthcareService", [])):
                if add(key):
                    add(ref_key(r.get("practitioner")))
        return included


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HAPI-FHIR/6.10.0 (test)"

    def log_message(self, fmt, *args):
        sys.stderr.write("fhir_server: " + (fmt % args) + "\n")

    @property
    def state(self):
        return self.server.state

    def base_url(self):
        return "http://%s:%d%s" % (self.server.server_address[0], self.server.server_address[1], BASE_PATH)

    def send_json(self, status, value, headers=None, content_type="application/fhir+json;charset=utf-8"):
        body = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_outcome(self, status, code, diagnostics, headers=None):
        self.send_json(status, outcome("error", code, diagnostics), headers)

    # --- OAuth2 -------------------------------------------------------------------------------

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8"))
        if urlsplit(self.path).path != TOKEN_PATH:
            return self.send_outcome(404, "not-found", "Unknown resource")
        field = lambda k: (form.get(k) or [""])[0]
        if field("grant_type") != "client_credentials":
            return self.send_json(400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"}, content_type="application/json")
        if field("client_id") != self.state.args.client_id or field("client_secret") != self.state.args.client_secret:
            return self.send_json(401, {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}, content_type="application/json")
        token = "ror-test-token-" + uuid.uuid4().hex
        with self.state.lock:
            self.state.tokens[token] = time.monotonic() + self.state.args.token_ttl
            self.state.stats["tokens_issued"] += 1
        self.send_json(200, {"access_token": token, "expires_in": self.state.args.token_ttl, "refresh_expires_in": 0, "token_type": "Bearer", "not-before-policy": 0, "scope": "profile email"}, content_type="application/json")

    # --- FHIR ---------------------------------------------------------------------------------

    def do_DELETE(self):
        url = urlsplit(self.path)
        if not self.authorised():
            return
        if url.path == BASE_PATH + "/$export-poll-status":
            job = (parse_qs(url.query).get("_jobId") or [""])[0]
            with self.state.lock:
                known = self.state.jobs.pop(job, None) is not None
                self.state.stats["jobs_cancelled"] += int(known)
            if known:
                return self.send_json(202, outcome("information", "informational", "Export job %s cancelled" % job))
            return self.send_outcome(404, "not-found", "Unknown job %s" % job)
        self.send_outcome(405, "not-supported", "DELETE not supported here")

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        if url.path == "/_admin/stats":
            with self.state.lock:
                return self.send_json(200, dict(self.state.stats, faults_left={k: (v if v != float("inf") else "always") for k, v in self.state.faults.items()}), content_type="application/json")
        with self.state.lock:
            self.state.stats["requests"] += 1
        if not url.path.startswith(BASE_PATH):
            return self.send_outcome(404, "not-found", "Unknown path %s" % url.path)
        if not self.authorised():
            return
        if not self.ror_headers_ok():
            return
        if self.state.take_fault("slow"):
            time.sleep(self.state.args.slow_seconds)
        if self.state.take_fault("throttle"):
            return self.send_outcome(429, "throttled", "Too many requests: quota exceeded", {"Retry-After": str(self.state.args.retry_after)})
        if self.state.take_fault("unavailable"):
            return self.send_outcome(503, "transient", "Service temporairement indisponible", {"Retry-After": str(self.state.args.retry_after)})
        path = url.path[len(BASE_PATH):]
        if path == "/$export":
            return self.export_kickoff(query)
        if path == "/$export-poll-status":
            return self.export_status(query)
        if path.startswith("/Binary/"):
            return self.export_file(path[len("/Binary/"):])
        if path == "/HealthcareService":
            return self.search(query)
        if path in ("", "/") and "_getpages" in query:
            return self.page(query)
        return self.send_outcome(404, "not-found", "Unknown resource type or operation: %s" % path)

    def authorised(self):
        header = self.headers.get("Authorization") or ""
        token = header[len("Bearer "):] if header.startswith("Bearer ") else None
        with self.state.lock:
            expiry = self.state.tokens.get(token)
            valid = expiry is not None and expiry > time.monotonic()
        if valid and urlsplit(self.path).path.startswith(BASE_PATH + "/Binary/") and self.state.take_fault("expire-token"):
            with self.state.lock:
                self.state.tokens.clear()
            valid = False
        if not valid:
            with self.state.lock:
                self.state.stats["unauthorized"] += 1
            self.send_outcome(401, "login", "HTTP 401 Unauthorized: Token invalide ou expiré", {"WWW-Authenticate": 'Bearer realm="ror", error="invalid_token"'})
            return False
        return True

    def ror_headers_ok(self):
        for name, expected in ROR_HEADERS.items():
            value = self.headers.get(name)
            if not value:
                self.send_outcome(400, "required", "Le header %s est obligatoire" % name)
                return False
            if value != expected:
                self.send_outcome(403, "forbidden", "Valeur %s non autorisée pour le header %s" % (value, name))
                return False
        return True

    # --- $export ------------------------------------------------------------------------------

    def export_kickoff(self, query):
        if (query.get("_type") or [""])[0] != "HealthcareService":
            return self.send_outcome(400, "invalid", "Le paramètre _type doit valoir HealthcareService")
        fmt = (query.get("_outputFormat") or ["application/fhir+json"])[0]
        if fmt not in ("application/fhir+json", "application/json"):
            return self.send_outcome(400, "not-supported", "_outputFormat %s non supporté (application/fhir+json ou application/json)" % fmt)
        regions = set()
        for f in query.get("_typeFilter", []):
            tag = parse_qs(urlsplit(f).query).get("_tag", [""])[0]
            regions.add(tag.split("|")[-1])
        offers = [k for k in self.state.resources if k[0] == "HealthcareService" and (not regions or self.region(k) in regions)]
        keys = offers + self.state.related(offers) if regions else list(self.state.resources)
        size = self.state.args.file_size
        files = [keys[i:i + size] for i in range(0, len(keys), size)]
        job = str(uuid.uuid4())
        with self.state.lock:
            self.state.jobs[job] = {"polls": self.state.args.export_polls, "files": files, "request": self.base_url() + self.path[len(BASE_PATH):]}
        self.send_json(202, outcome("information", "informational", "Export job %s accepted" % job), {"Content-Location": "%s/$export-poll-status?_jobId=%s" % (self.base_url(), job)})

    def region(self, key):
        for tag in self.state.resources[key].get("meta", {}).get("tag", []):
            if tag.get("system", "").replace("http://", "https://") == REGION_SYSTEM:
                return tag.get("code")
        return None

    def export_status(self, query):
        job_id = (query.get("_jobId") or [""])[0]
        with self.state.lock:
            job = self.state.jobs.get(job_id)
        if job is None:
            return self.send_outcome(404, "not-found", "Job %s inconnu" % job_id)
        if self.state.take_fault("export-error"):
            return self.send_outcome(500, "exception", "Export job %s failed: HAPI-1234: database connection lost" % job_id)
        if self.state.take_fault("stall-export") or job["polls"] > 0:
            with self.state.lock:
                job["polls"] -= 1
            return self.send_json(202, outcome("information", "informational", "in progress"), {"Retry-After": str(self.state.args.retry_after), "X-Progress": "Build in progress - Status set to BUILDING"})
        output = [{"type": "HealthcareService", "url": "%s/Binary/%s-%d" % (self.base_url(), job_id, i + 1), "count": len(keys)} for i, keys in enumerate(job["files"])]
        self.send_json(200, {"transactionTime": self.state.args.now, "request": job["request"], "requiresAccessToken": True, "output": output, "error": []}, content_type="application/json")

    def export_file(self, name):
        job_id, _, number = name.rpartition("-")
        with self.state.lock:
            job = self.state.jobs.get(job_id)
        if job is None or not number.isdigit() or not 1 <= int(number) <= len(job["files"]):
            return self.send_outcome(404, "not-found", "Binary/%s inconnu" % name)
        keys = job["files"][int(number) - 1]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "%s/%s/%s" % (self.base_url(), k[0], k[1]), "resource": self.state.resources[k]} for k in keys]}
        body = json.dumps(bundle, ensure_ascii=False).encode("utf-8")
        if self.state.take_fault("cut-download"):
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json;charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if self.state.take_fault("truncated-json"):
            body = body[: len(body) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # --- search -------------------------------------------------------------------------------

    def search(self, query):
        count = min(int((query.get("_count") or [str(MAX_PAGE)])[0]), MAX_PAGE)
        since = None
        for value in query.get("_lastUpdated", []):
            if not value.startswith("ge"):
                return self.send_outcome(400, "not-supported", "Seul le préfixe ge est supporté pour _lastUpdated")
            since = value[2:]
        regions = set()
        for value in query.get("_tag", []):
            for tag in value.split(","):
                regions.add(tag.split("|")[-1])
        matches = []
        for key in sorted(k for k in self.state.resources if k[0] == "HealthcareService"):
            if regions and self.region(key) not in regions:
                continue
            if since and not self.updated_since(key, since):
                continue
            matches.append(key)
        search_id = str(uuid.uuid4())
        total = len(matches)
        if self.state.take_fault("cap-search"):
            matches = matches[:count]
        with self.state.lock:
            self.state.searches[search_id] = matches
            self.state.totals[search_id] = total
        self.send_page(search_id, 0, count, self.base_url() + self.path[len(BASE_PATH):])

    def updated_since(self, key, since):
        from datetime import datetime

        def instant(text):
            text = text.replace("Z", "+00:00")
            if len(text) == 16:  # 2022-11-06T15:00
                text += ":00+00:00"
            return datetime.fromisoformat(text)

        updated = self.state.resources[key].get("meta", {}).get("lastUpdated")
        return updated is not None and instant(updated) >= instant(since)

    def page(self, query):
        search_id = query["_getpages"][0]
        offset = int((query.get("_getpagesoffset") or ["0"])[0])
        count = min(int((query.get("_count") or [str(MAX_PAGE)])[0]), MAX_PAGE)
        with self.state.lock:
            known = search_id in self.state.searches
        if not known:
            return self.send_outcome(410, "not-found", 'Search ID "%s" does not exist and may have expired' % search_id)
        self.send_page(search_id, offset, count, self.base_url() + self.path[len(BASE_PATH):])

    def send_page(self, search_id, offset, count, self_url):
        with self.state.lock:
            matches = self.state.searches[search_id]
        page = matches[offset:offset + count]
        included = self.state.related(page)
        entries = [{"fullUrl": "%s/%s/%s" % (self.base_url(), k[0], k[1]), "resource": self.state.resources[k], "search": {"mode": "match"}} for k in page]
        entries += [{"fullUrl": "%s/%s/%s" % (self.base_url(), k[0], k[1]), "resource": self.state.resources[k], "search": {"mode": "include"}} for k in included]
        links = [{"relation": "self", "url": self_url}]
        if offset + count < len(matches):
            next_id = search_id
            if offset == 0 and self.state.take_fault("broken-next"):
                next_id = str(uuid.uuid4())
            links.append({"relation": "next", "url": "%s?%s" % (self.base_url(), urlencode({"_getpages": next_id, "_getpagesoffset": offset + count, "_count": count, "_pretty": "true", "_bundletype": "searchset"}))})
        with self.state.lock:
            total = self.state.totals.get(search_id, len(matches))
        bundle = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "meta": {"lastUpdated": self.state.args.now}, "type": "searchset", "total": total, "link": links, "entry": entries}
        self.send_json(200, bundle)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help="a folder of FHIR JSON files (repeatable)")
    parser.add_argument("--client-id", default="ror-opendata-test")
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--now", default="2026-11-25T02:00:00Z", help="transactionTime of exports, meta.lastUpdated of search pages")
    parser.add_argument("--token-ttl", type=int, default=300)
    parser.add_argument("--export-polls", type=int, default=1, help="202 answers before an export job completes")
    parser.add_argument("--file-size", type=int, default=2500, help="resources per export file")
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--slow-seconds", type=float, default=5.0)
    parser.add_argument("--fault", action="append", default=[], help="NAME[=COUNT|always]")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    print("listening http://127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
