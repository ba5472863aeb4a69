"""`locker-hub tenant|site|cabinet` against a real PostgreSQL (a migrated database per test): the books a
supplier keeps, registration from `locker-agent register`'s files, and each refusal's words and exit 2
(nothing written)."""
import contextlib
import io
import itertools
import subprocess
import sys

import pytest
from cryptography import x509

from edge_agent.cli.registration import fingerprint, make_tls
from edge_agent.cloud.envelope import new_key
from hub import broker_files, db
from hub.cli import main
from tests.mqtt_broker import make_pki

_folders = itertools.count(1)


def hub(dsn, *argv):
    """(exit status, stdout lines, stderr) of locker-hub in this process."""
    buf_out, buf_err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
        code = main(["--db", dsn, *argv])
    return code, buf_out.getvalue().splitlines(), buf_err.getvalue()


def pi_files(folder, cabinet):
    """What `locker-agent register` writes on the Pi: cabinet.key, cabinet.csr, command.key."""
    folder.mkdir(parents=True)
    pem, csr = make_tls(cabinet)
    key = new_key()
    (folder / "cabinet.key").write_bytes(pem)
    (folder / "cabinet.csr").write_bytes(csr)
    (folder / "command.key").write_text(key + "\n")
    return folder, key


@pytest.fixture
def books(hub_dsn, tmp_path):
    """acme with site plant1 (customer Foundry Ltd), a CA, an out folder."""
    assert hub(hub_dsn, "tenant", "add", "acme", "--name", "ACME Supply")[0] == 0
    assert hub(hub_dsn, "site", "add", "--tenant", "acme", "plant1", "--customer", "Foundry Ltd")[0] == 0
    pki = make_pki(tmp_path / "pki")
    (tmp_path / "out").mkdir()
    return hub_dsn, pki, tmp_path


def register(books, cabinet="CAB-1", tenant="acme", site="plant1", folder=None, *extra):
    dsn, pki, tmp = books
    folder = folder or pi_files(tmp / ("pi-%d" % next(_folders)), cabinet)[0]
    return hub(dsn, "cabinet", "register", "--tenant", tenant, "--site", site, "--from", str(folder),
               "--ca-cert", str(pki / "ca.pem"), "--ca-key", str(pki / "ca.key"), "--out", str(tmp / "out"), *extra)


def count(dsn, table):
    with db.connect(dsn) as conn:
        return conn.execute("SELECT count(*) AS n FROM %s" % table).fetchone()["n"]


def test_tenants_and_sites_are_added_and_listed(books):
    dsn = books[0]
    assert hub(dsn, "tenant", "add", "bolt")[0] == 0
    assert hub(dsn, "site", "add", "--tenant", "bolt", "dock-2", "--name", "Dock 2")[0] == 0
    code, lines, _ = hub(dsn, "tenant", "list")
    assert code == 0 and [l.split()[0] for l in lines[1:]] == ["acme", "bolt"]
    assert "ACME Supply" in lines[1]
    code, lines, _ = hub(dsn, "site", "list", "--tenant", "acme")
    assert code == 0 and len(lines) == 2 and "plant1" in lines[1] and "Foundry Ltd" in lines[1]


@pytest.mark.parametrize("argv, words", [
    (["tenant", "add", "acme"], "tenant acme already exists"),
    (["tenant", "add", "a/b"], "is not an id"),
    (["site", "add", "--tenant", "nobody", "s1"], "no tenant nobody"),
    (["site", "add", "--tenant", "acme", "plant1"], "site plant1 of tenant acme already exists"),
    (["site", "add", "--tenant", "acme", "x" * 65], "is not an id"),
    (["cabinet", "show", "CAB-404"], "no cabinet CAB-404"),
])
def test_bad_books_input_is_refused_with_exit_2(books, argv, words):
    dsn = books[0]
    before = (count(dsn, "tenants"), count(dsn, "sites"))
    code, _, err = hub(dsn, *argv)
    assert code == 2 and words in err
    assert (count(dsn, "tenants"), count(dsn, "sites")) == before


def test_a_cabinet_registered_from_the_pis_files_gets_a_certificate_of_the_ca_and_a_password(books):
    dsn, pki, tmp = books
    folder, key = pi_files(tmp / "pi", "CAB-1")
    code, lines, err = register(books, folder=folder)
    assert code == 0, err
    assert "cabinet CAB-1 registered at acme/plant1" in lines[0]
    assert fingerprint(key) in lines[1]                      # what the Pi printed, to compare on the phone
    cert = x509.load_pem_x509_certificate((tmp / "out" / "CAB-1.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "CN=CAB-1"
    csr = x509.load_pem_x509_csr((folder / "cabinet.csr").read_bytes())
    assert cert.public_key() == csr.public_key()
    password = (tmp / "out" / "CAB-1.password").read_text().strip()
    assert (tmp / "out" / "CAB-1.password").stat().st_mode & 0o777 == 0o600
    with db.connect(dsn) as conn:
        row = conn.execute("SELECT * FROM cabinets WHERE id = 'CAB-1'").fetchone()
    assert bytes(row["command_key"]).hex() == key and row["tenant"] == "acme" and row["site"] == "plant1"
    assert broker_files.check_password(password, row["broker_hash"]) and password not in row["broker_hash"]
    code, lines, _ = hub(dsn, "cabinet", "list", "--tenant", "acme")
    assert code == 0 and lines[1].split()[:5] == ["CAB-1", "acme", "plant1", "yes", "yes"]
    code, lines, _ = hub(dsn, "cabinet", "show", "CAB-1")
    assert code == 0 and "Foundry Ltd" in "\n".join(lines) and fingerprint(key) in "\n".join(lines)
    assert "valid until" in "\n".join(lines)
    # The Pi ran register --force (new keys): the same tenant registers it again.
    folder2, key2 = pi_files(tmp / "pi2", "CAB-1")
    code, lines, _ = register(books, folder=folder2)
    assert code == 0 and "re-registered" in lines[0]
    assert count(dsn, "cabinets") == 1


def test_bad_registrations_are_refused_with_exit_2_and_nothing_written(books):
    dsn, pki, tmp = books
    assert register(books, "CAB-1")[0] == 0
    assert hub(dsn, "tenant", "add", "bolt")[0] == 0
    assert hub(dsn, "site", "add", "--tenant", "bolt", "dock")[0] == 0
    bad_csr = tmp / "bad-csr"
    pi_files(bad_csr, "CAB-9")
    (bad_csr / "cabinet.csr").write_text("-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n"
                                         "-----END CERTIFICATE REQUEST-----\n")
    bad_key = pi_files(tmp / "bad-key", "CAB-8")[0]
    (bad_key / "command.key").write_text("abcd\n")
    bad_id = pi_files(tmp / "bad-id", "CAB/1")[0]
    cases = [
        (register(books, "CAB-1", tenant="bolt", site="dock"), "registered at another tenant"),
        (register(books, "CAB-2", tenant="nobody"), "no tenant nobody"),
        (register(books, "CAB-3", site="nowhere"), "tenant acme has no site nowhere"),
        (register(books, "CAB-9", folder=bad_csr), "not a PEM certificate request"),
        (register(books, "CAB-8", folder=bad_key), "64 hex digits"),
        (register(books, "CAB/1", folder=bad_id), "is not an id"),
        (register(books, "CAB-4", "acme", "plant1", None, "--cabinet", "CAB-5"), "is for CAB-4, not CAB-5"),
        (register(books, "CAB-6", folder=tmp / "missing"), "cannot read the certificate request"),
        (register(books, "CAB-7", "acme", "plant1", None, "--out", str(tmp / "no-such")), "is not a folder"),
    ]
    for (code, _, err), words in cases:
        assert code == 2 and words in err, (words, err)
    assert count(dsn, "cabinets") == 1
    with db.connect(dsn) as conn:
        assert conn.execute("SELECT tenant FROM cabinets").fetchone()["tenant"] == "acme"
    assert sorted(p.name for p in (tmp / "out").iterdir()) == ["CAB-1.crt", "CAB-1.password", "ca.pem"]


def test_another_ca_than_the_first_ones_is_refused(books):
    dsn, pki, tmp = books
    assert register(books, "CAB-1")[0] == 0
    other = make_pki(tmp / "other-ca")
    folder = pi_files(tmp / "CAB-2", "CAB-2")[0]
    code, _, err = hub(dsn, "cabinet", "register", "--tenant", "acme", "--site", "plant1", "--from", str(folder),
                       "--ca-cert", str(other / "ca.pem"), "--ca-key", str(other / "ca.key"), "--out", str(tmp / "out"))
    assert code == 2 and "signed by another CA" in err
    code, _, err = hub(dsn, "cabinet", "register", "--tenant", "acme", "--site", "plant1", "--from", str(folder),
                       "--ca-cert", str(pki / "ca.pem"), "--ca-key", str(other / "ca.key"), "--out", str(tmp / "out"))
    assert code == 2 and "not the CA certificate's key" in err


def test_the_command_is_installed_and_documents_its_exit_codes():
    result = subprocess.run([sys.executable, "-m", "hub.cli", "cabinet", "register", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "--ca-cert" in result.stdout and "locker-agent register" in result.stdout
    result = subprocess.run([sys.executable, "-m", "hub.cli", "--help"], capture_output=True, text=True)
    assert all(c in result.stdout for c in ("tenant", "site", "cabinet", "broker"))
