"""A real OpenLDAP ``slapd`` for the directory sign-in tests, started in a temporary folder on a free port.

Its own slapd.conf (mdb database, the memberof overlay so that ``memberOf`` works as in Active Directory,
TLS with a certificate of a test CA made by trustme/cryptography), loaded with ``slapadd`` before start;
groups are added over LDAP afterwards so that the overlay writes ``memberOf``. Tests skip when slapd is
not installed (Debian package ``slapd``, see scripts/system-deps).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest
import trustme

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-secret-for-tests"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-secret-for-tests"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
ADMINS = f"cn=xgw-admins,{GROUPS}"
ALTENBURG_ADMINS = f"cn=xgw-altenburg,{GROUPS}"
VIEWERS = f"cn=xgw-viewers,{GROUPS}"
OTHERS = f"cn=canteen,{GROUPS}"


def slapd_binary() -> Path | None:
    found = shutil.which("slapd") or shutil.which("slapd", path="/usr/sbin:/usr/local/sbin")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Slapd:
    url: str  # ldap:// (StartTLS offered)
    ldaps_url: str
    ca_file: Path
    folder: Path

    def admin(self) -> ldap3.Connection:
        server = ldap3.Server(self.url, get_info=ldap3.NONE)
        return ldap3.Connection(server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True, raise_exceptions=True)

    def add_user(self, uid: str, password: str, mail: str | None = None) -> str:
        dn = f"uid={ldap3.utils.dn.escape_rdn(uid)},{PEOPLE}"
        attributes: dict[str, object] = {"cn": uid, "sn": uid, "uid": uid, "userPassword": password}
        if mail:
            attributes["mail"] = mail
        with self.admin() as connection:
            connection.add(dn, ["inetOrgPerson"], attributes)
        return dn

    def add_group(self, dn: str, *members: str) -> None:
        with self.admin() as connection:
            connection.add(dn, ["groupOfNames"], {"member": list(members) or [ADMIN_DN]})

    def join(self, group: str, member: str) -> None:
        with self.admin() as connection:
            connection.modify(group, {"member": [(ldap3.MODIFY_ADD, [member])]})

    def leave(self, group: str, member: str) -> None:
        with self.admin() as connection:
            connection.modify(group, {"member": [(ldap3.MODIFY_DELETE, [member])]})

    def delete(self, dn: str) -> None:
        with self.admin() as connection:
            connection.delete(dn)


CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
TLSCACertificateFile {folder}/ca.pem
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key

database mdb
suffix "{suffix}"
rootdn "{admin}"
rootpw {admin_password}
directory {folder}/db
maxsize 104857600
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"""

BASE_LDIF = """\
dn: {suffix}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: {people}
objectClass: organizationalUnit
ou: people

dn: {groups}
objectClass: organizationalUnit
ou: groups

dn: {reader}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: {reader_password}
"""


@contextmanager
def running_slapd(folder: Path) -> Iterator[Slapd]:
    binary = slapd_binary()
    if binary is None:
        pytest.skip("slapd is not installed (Debian package slapd; scripts/system-deps installs it as root)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "db").mkdir()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    server_cert = ca.issue_cert("localhost", "127.0.0.1")
    server_cert.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    server_cert.private_key_pem.write_to_path(str(folder / "server.key"))
    values = {
        "folder": folder,
        "suffix": SUFFIX,
        "admin": ADMIN_DN,
        "admin_password": ADMIN_PASSWORD,
        "people": PEOPLE,
        "groups": GROUPS,
        "reader": READER_DN,
        "reader_password": READER_PASSWORD,
    }
    conf = folder / "slapd.conf"
    conf.write_text(CONF.format(**values))
    (folder / "base.ldif").write_text(BASE_LDIF.format(**values))
    slapadd = binary.parent / "slapadd"
    subprocess.run(
        [str(slapadd if slapadd.exists() else "slapadd"), "-f", str(conf), "-l", str(folder / "base.ldif")],
        check=True,
        capture_output=True,
    )
    port, tls_port = free_port(), free_port()
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
    log = (folder / "slapd.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "-f", str(conf), "-h", urls, "-d", "0"], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"slapd did not start: {(folder / 'slapd.log').read_text(errors='replace')[-2000:]}"
                    ) from None
                time.sleep(0.05)
        yield Slapd(f"ldap://localhost:{port}", f"ldaps://localhost:{tls_port}", folder / "ca.pem", folder)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
