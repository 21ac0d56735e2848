"""The real data.gouv.fr server (udata) on 127.0.0.1, for the publishing tests.

udata runs unpatched; its MongoDB is mongomock inside this process, so everything the tests need
(users, an organisation, licences, geographic levels, API tokens) is seeded here before serving.
When it answers, the base URL, the tokens and the organisation id are written to the JSON file
given as the first argument, which the tests read (tests/support/udata.rs).

usage: server.py INFO_JSON DATA_DIR
"""

import json
import os
import socket
import sys
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_settings(data_dir, port):
    path = os.path.join(data_dir, "udata_settings.py")
    with open(path, "w") as f:
        f.write(
            f"""
import mongomock
import udata.settings
MONGODB_HOST = "mongodb://127.0.0.1:27017/udata"
MONGODB_SETTINGS = {{"host": MONGODB_HOST, "mongo_client_class": mongomock.MongoClient}}
API_TOKEN_SECRET = "test-only-token-secret"
SECRET_KEY = "test-only-secret-key"
SERVER_NAME = "127.0.0.1:{port}"
PREFERRED_URL_SCHEME = "http"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
CACHE_TYPE = "flask_caching.backends.SimpleCache"
SEND_MAIL = False
SECURITY_CONFIRMABLE = False
ELASTICSEARCH_URL = None
SCHEMA_CATALOG_URL = None
PUBLISH_ON_RESOURCE_EVENTS = False
FS_ROOT = {os.path.join(data_dir, "fs")!r}
FS_SERVE = True
URLS_ALLOW_LOCAL = True
URLS_ALLOW_PRIVATE = True
URLS_RESOLVE_HOSTNAME = False
# www.data.gouv.fr accepts Parquet; stock udata does not.
ALLOWED_RESOURCES_EXTENSIONS = list(udata.settings.Defaults.ALLOWED_RESOURCES_EXTENSIONS) + ["parquet"]
"""
        )
    return path


LICENSES = [
    ("lov2", "Licence Ouverte / Open Licence version 2.0"),
    ("fr-lo", "Licence Ouverte / Open Licence"),
    ("odc-odbl", "Open Data Commons Open Database License (ODbL)"),
    ("odc-by", "Open Data Commons Attribution License"),
    ("cc-by", "Creative Commons Attribution"),
    ("cc-by-sa", "Creative Commons Attribution Share-Alike"),
    ("cc-zero", "Creative Commons CCZero"),
    ("other-open", "Other (Open)"),
    ("other-at", "Other (Attribution)"),
    ("notspecified", "License Not Specified"),
]

GEOLEVELS = [
    ("country", "Country", 10),
    ("fr:region", "French region", 40),
    ("fr:departement", "French county", 60),
    ("fr:commune", "French town", 80),
]


def seed(app):
    from udata.core.api_token.models import ApiToken
    from udata.core.spatial.models import GeoLevel
    from udata.models import License, Member, Organization, datastore
    import datetime

    with app.app_context():
        for lid, title in LICENSES:
            License.objects.create(id=lid, title=title, url=f"https://example.org/licenses/{lid}")
        for gid, name, level in GEOLEVELS:
            GeoLevel.objects.create(id=gid, name=name, admin_level=level)
        now = datetime.datetime.utcnow()
        publisher = datastore.create_user(
            email="publisher@example.org", password="Publisher-Passw0rd", first_name="Pub", last_name="Lisher", confirmed_at=now, active=True
        )
        outsider = datastore.create_user(
            email="outsider@example.org", password="Outsider-Passw0rd", first_name="Out", last_name="Sider", confirmed_at=now, active=True
        )
        organization = Organization.objects.create(name="Agence du Numérique en Santé (test)", description="Test organisation.", members=[Member(user=publisher, role="admin")])
        _, publisher_key = ApiToken.generate(publisher, name="ror-opendata tests")
        _, outsider_key = ApiToken.generate(outsider, name="ror-opendata tests (outsider)")
        return {"organization": str(organization.id), "publisher_key": publisher_key, "outsider_key": outsider_key}


def main():
    info_path, data_dir = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(data_dir, "fs"), exist_ok=True)
    port = free_port()
    os.environ["UDATA_SETTINGS"] = write_settings(data_dir, port)

    from udata.app import create_app, standalone
    from werkzeug.serving import run_simple

    app = standalone(create_app())
    seeded = seed(app)
    base = f"http://127.0.0.1:{port}"

    def announce():
        # Written only once the API answers, so a test that sees the file can use the server.
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{base}/api/1/datasets/licenses/", timeout=5).read()
                break
            except Exception:
                time.sleep(0.1)
        tmp = info_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"base_url": base, "pid": os.getpid(), **seeded}, f)
        os.replace(tmp, info_path)

    threading.Thread(target=announce, daemon=True).start()
    run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
