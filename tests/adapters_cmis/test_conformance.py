"""The test server held to a CMIS client's expectations: cmislib (Apache Chemistry) runs the operations that
Alfresco's and Nuxeo's documentation show, against the server mounted at both products' Browser Binding
paths, plus the raw protocol details (error bodies and statuses, succinct properties, authentication) that
a client relies on. If this server drifted from the standard, these tests, not the adapter's, would fail.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cmislib import CmisClient
from cmislib.browser.binding import BrowserBinding
from cmislib.exceptions import ObjectNotFoundException, PermissionDeniedException, UpdateConflictException

from tests.adapters_cmis.cmis_server import ALFRESCO_PATH, NUXEO_PATH, CmisServer

USER, PASSWORD = "admin", "admin-pw"
BINARY = bytes(range(256)) * 40 + b"\r\n\r\n--boundary-like--\r\n" + "Größe".encode()


@pytest.fixture(params=[ALFRESCO_PATH, NUXEO_PATH], ids=["alfresco-path", "nuxeo-path"])
def server(request: pytest.FixtureRequest) -> Iterator[CmisServer]:
    srv = CmisServer({USER: PASSWORD}, base_path=request.param, secondary_types={"xdomea:metadata": ["xdomea:id"]})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def repo(server: CmisServer) -> Any:
    client = CmisClient(server.url, USER, PASSWORD, binding=BrowserBinding())
    return client.getDefaultRepository()


def _error(response: requests.Response) -> tuple[int, str]:
    assert response.headers["Content-Type"].startswith("application/json")
    return response.status_code, response.json()["exception"]


def test_repository_info_names_urls_and_capabilities(server: CmisServer, repo: Any) -> None:
    info = requests.get(server.url, auth=(USER, PASSWORD), timeout=10).json()
    (repo_id, data), *_ = info.items()
    assert data["repositoryId"] == repo_id == repo.getRepositoryId()
    assert data["rootFolderUrl"] == f"{server.url}/{repo_id}/root"
    assert data["repositoryUrl"] == f"{server.url}/{repo_id}"
    assert data["cmisVersionSupported"] == "1.1"
    caps = repo.getCapabilities()
    assert caps["Query"] == "metadataonly" and caps["Multifiling"] is False and caps["PWCUpdatable"] is True
    assert repo.getTypeDefinition("cmis:document").data["versionable"] is True
    assert "xdomea:id" in repo.getTypeDefinition("xdomea:metadata").properties


def test_folder_tree_documents_content_and_children(repo: Any) -> None:
    root = repo.getRootFolder()
    akte = root.createFolder("Akte 061.10 Größe", {"cmis:description": "Bauantrag Mühlhausen"})
    vorgang = akte.createFolder("Vorgang 1")
    doc = vorgang.createDocument("Antrag.pdf", contentFile=io.BytesIO(BINARY), contentType="application/pdf")
    assert doc.getProperties()["cmis:contentStreamLength"] == len(BINARY)
    assert doc.getProperties()["cmis:contentStreamMimeType"] == "application/pdf"
    assert [c.getName() for c in akte.getChildren()] == ["Vorgang 1"]
    assert [c.getName() for c in vorgang.getChildren()] == ["Antrag.pdf"]
    assert vorgang.getPaths() == ["/Akte 061.10 Größe/Vorgang 1"]
    assert doc.getPaths() == ["/Akte 061.10 Größe/Vorgang 1/Antrag.pdf"]
    assert repo.getObjectByPath("/Akte 061.10 Größe/Vorgang 1").getObjectId() == vorgang.getObjectId()
    assert doc.getContentStream().read() == BINARY  # byte-identical, CRLF and boundary look-alikes included
    assert [p.getObjectId() for p in doc.getObjectParents()] == [vorgang.getObjectId()]
    assert akte.getProperties()["cmis:description"] == "Bauantrag Mühlhausen"


def test_update_properties_and_secondary_type(repo: Any) -> None:
    folder = repo.getRootFolder().createFolder("Alt")
    folder.updateProperties({"cmis:name": "Neu", "cmis:description": "geändert"})
    assert folder.getName() == "Neu" and folder.getProperties()["cmis:description"] == "geändert"
    assert repo.getObjectByPath("/Neu").getObjectId() == folder.getObjectId()
    with pytest.raises(ObjectNotFoundException):
        repo.getObjectByPath("/Alt")
    folder.updateProperties({"cmis:secondaryObjectTypeIds": ["xdomea:metadata"], "xdomea:id": "uuid-1"})
    assert folder.getProperties()["xdomea:id"] == "uuid-1"
    with pytest.raises(UpdateConflictException) as refused:  # 409 constraint: property of no applied type
        folder.updateProperties({"acme:unbekannt": "x"})
    assert json.loads(refused.value.details)["exception"] == "constraint"


def test_query_by_property_in_folder_and_like(repo: Any) -> None:
    root = repo.getRootFolder()
    a = root.createFolder("A", {"cmis:secondaryObjectTypeIds": ["xdomea:metadata"], "xdomea:id": "it's-1"})
    b = a.createFolder("B", {"cmis:secondaryObjectTypeIds": ["xdomea:metadata"], "xdomea:id": "id-2"})
    a.createDocument("x.txt", contentFile=io.BytesIO(b"x"), contentType="text/plain")
    hits = repo.query("SELECT * FROM xdomea:metadata WHERE xdomea:id = 'it\\'s-1'")
    assert [h.getObjectId() for h in hits] == [a.getObjectId()]
    hits = repo.query(f"SELECT cmis:objectId FROM cmis:folder WHERE IN_FOLDER('{a.getObjectId()}')")
    assert [h.getObjectId() for h in hits] == [b.getObjectId()]
    hits = repo.query("SELECT * FROM cmis:document d WHERE d.cmis:name LIKE 'x.%'")
    assert [h.getName() for h in hits] == ["x.txt"]
    assert len(repo.query("SELECT * FROM cmis:folder WHERE xdomea:id = 'nope'")) == 0


def test_check_out_and_check_in_make_versions(repo: Any) -> None:
    folder = repo.getRootFolder().createFolder("V")
    doc = folder.createDocument("Bescheid.pdf", contentFile=io.BytesIO(b"%PDF-1 v1"), contentType="application/pdf")
    assert doc.getProperties()["cmis:versionLabel"] == "1.0"
    pwc = doc.checkout()
    assert pwc.getProperties()["cmis:isPrivateWorkingCopy"] is True
    assert doc.isCheckedOut() is True
    with pytest.raises(UpdateConflictException):  # versioning: already checked out
        doc.checkout()
    new = pwc.checkin(
        checkinComment="zweite Fassung", contentFile=io.BytesIO(b"%PDF-1 v2"), contentType="application/pdf"
    )
    assert new.getProperties()["cmis:versionLabel"] == "2.0"
    assert new.getProperties()["cmis:checkinComment"] == "zweite Fassung"
    versions = new.getAllVersions()
    assert [v.getProperties()["cmis:versionLabel"] for v in versions] == ["2.0", "1.0"]
    assert [v.getContentStream().read() for v in versions] == [b"%PDF-1 v2", b"%PDF-1 v1"]
    assert [c.getObjectId() for c in folder.getChildren()] == [new.getObjectId()]  # the latest version only
    assert new.isCheckedOut() is False


def test_delete_and_errors(server: CmisServer, repo: Any) -> None:
    root = repo.getRootFolder()
    folder = root.createFolder("Weg")
    doc = folder.createDocument("d.txt", contentFile=io.BytesIO(b"d"), contentType="text/plain")
    with pytest.raises(UpdateConflictException) as full:  # 409 constraint: folder not empty
        folder.delete()
    assert json.loads(full.value.details)["exception"] == "constraint"
    with pytest.raises(UpdateConflictException) as clash:  # 409 nameConstraintViolation
        root.createFolder("Weg")
    assert json.loads(clash.value.details)["exception"] == "nameConstraintViolation"
    doc.delete()
    folder.delete()
    with pytest.raises(ObjectNotFoundException) as missing:  # 404 objectNotFound
        repo.getObject(folder.getObjectId()).getName()
    assert json.loads(missing.value.details)["exception"] == "objectNotFound"

    # the raw protocol: JSON error bodies with the spec's status, succinct properties, content stream refusal
    root_url, auth = repo.getRootFolderUrl(), (USER, PASSWORD)
    r = requests.get(root_url, params={"objectId": "gibt-es-nicht", "cmisselector": "object"}, auth=auth, timeout=10)
    assert _error(r) == (404, "objectNotFound")
    form = {"cmisaction": "createDocument", "propertyId[0]": "cmis:name", "propertyValue[0]": "c.txt",
            "propertyId[1]": "cmis:objectTypeId", "propertyValue[1]": "cmis:document", "succinct": "true"}  # fmt: skip
    r = requests.post(root_url, files={"content": ("c.txt", b"c", "text/plain")}, data=form, auth=auth, timeout=10)
    assert r.status_code == 201 and r.json()["succinctProperties"]["cmis:name"] == "c.txt"
    object_id = r.json()["succinctProperties"]["cmis:objectId"]
    r = requests.post(
        root_url,
        data={"cmisaction": "setContent", "objectId": object_id, "overwriteFlag": "false"},
        files={"content": ("c.txt", b"again", "text/plain")},
        auth=auth,
        timeout=10,
    )
    assert _error(r) == (409, "contentAlreadyExists")
    r = requests.post(root_url, data={"cmisaction": "query", "q": "SELECT FROM nowhere"}, auth=auth, timeout=10)
    assert _error(r) == (400, "invalidArgument")


def test_authentication(server: CmisServer) -> None:
    with pytest.raises(PermissionDeniedException) as denied:
        CmisClient(server.url, USER, "falsch", binding=BrowserBinding()).getDefaultRepository()
    assert denied.value.status == 401
    r = requests.get(server.url, timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    assert r.json()["exception"] == "unauthorized"
    utf8 = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert requests.get(server.url, headers={"Authorization": f"Basic {utf8}"}, timeout=10).status_code == 200
