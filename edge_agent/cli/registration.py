"""`locker-agent register --config FILE`: a new cabinet's credentials for the cloud (docs/commissioning.md).

Writes three files, each created with mode 0600 and never over an existing one without --force:
- the cabinet's MQTT TLS private key (EC P-256, PEM, unencrypted: the agent starts unattended);
- a certificate signing request for it (CN = the cabinet id), for the cloud operator's CA to sign; the
  certificate they send back goes where [cloud] tls_cert says;
- the per-cabinet command key (32 random bytes as hex, edge_agent/cloud/envelope.py) that signed down
  messages are checked with. It is a shared secret: it goes to the cloud operator over a private channel,
  and only its fingerprint is printed (the key itself only with --show-key).

Where: the paths the config's [cloud] section names (tls_key, tls_cert with .csr for the request,
key_file); without them, cabinet.key, cabinet.csr and command.key in --dir (default: the config's folder),
and the [cloud] lines to add are printed.

Keys are made with the `cryptography` package, in-process, rather than the openssl CLI: no dependence on a
binary being installed or on its output format, and the files are opened 0600 before a byte is written
(docs/decisions/0013-commissioning.md).
"""
import hashlib
import json
import os
import sys
from pathlib import Path

from edge_agent.cloud.envelope import new_key

EXIT_USAGE = 2
NAMES = {"tls_key": "cabinet.key", "csr": "cabinet.csr", "command_key": "command.key"}


class RegistrationError(Exception):
    pass


def fingerprint(key_hex):
    """What both sides compare to know they hold the same command key: SHA-256 of its bytes, 16 hex groups."""
    digest = hashlib.sha256(bytes.fromhex(key_hex)).hexdigest()
    return ":".join(digest[i:i + 4] for i in range(0, 64, 4))


def targets(config, folder=None):
    """{what: path} for the three files: the config's [cloud] paths where it names them, else `folder`."""
    folder = Path(folder) if folder else Path(config.source).parent
    paths = {what: folder / name for what, name in NAMES.items()}
    cloud = config.cloud
    if cloud is not None:
        if cloud.tls_key:
            paths["tls_key"] = Path(cloud.tls_key)
        if cloud.tls_cert:
            paths["csr"] = Path(cloud.tls_cert).with_suffix(".csr")
        paths["command_key"] = Path(cloud.key_file)
    return paths


def make_tls(cabinet_id):
    """(private key PEM, CSR PEM) for an EC P-256 key with CN = cabinet_id."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cabinet_id)]))
           # A client certificate for the MQTT broker, nothing more.
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
           .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, csr.public_bytes(serialization.Encoding.PEM)


def write_secret(path, data, force=False):
    """Write data to path with mode 0600 from the first byte; refuse an existing file unless force."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(".%s.%d.tmp" % (path.name, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)                       # whatever the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)                     # fails if the file exists: no window to overwrite it
            os.unlink(tmp)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def register(config, folder=None, force=False):
    """Write the key, CSR and command key; returns ({what: path}, command key hex)."""
    paths = targets(config, folder)
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not force:
        raise RegistrationError("%s already exist%s; nothing was written. A cabinet keeps its keys: use --force "
                                "only to replace them (the cloud operator must then register the new ones)"
                                % (", ".join(existing), "s" if len(existing) == 1 else ""))
    pem, csr = make_tls(config.cabinet_id)
    command_key = new_key()
    try:
        for what, data in (("tls_key", pem), ("csr", csr), ("command_key", (command_key + "\n").encode())):
            write_secret(paths[what], data, force)
    except FileExistsError as e:
        raise RegistrationError("%s appeared while writing; nothing else was replaced" % e.filename) from None
    return paths, command_key


def add_arguments(p):
    p.add_argument("--config", required=True, metavar="FILE", help="the agent's config file (docs/agent-config.md)")
    p.add_argument("--dir", metavar="DIR", help="where to write files the config's [cloud] section does not place "
                                                "(default: the config file's folder)")
    p.add_argument("--force", action="store_true", help="replace existing key files (the cloud must then get the "
                                                        "new CSR and command key)")
    p.add_argument("--show-key", action="store_true", help="also print the command key itself (it is a secret)")


def main(args, out=print):
    from edge_agent.app.config import AgentConfigError, load_agent_config
    try:
        config = load_agent_config(args.config)
        paths, command_key = register(config, args.dir, args.force)
    except (AgentConfigError, RegistrationError, OSError) as e:
        sys.stderr.write("locker-agent: error: %s\n" % e)
        return EXIT_USAGE
    out("cabinet %s registered: files written with mode 0600" % config.cabinet_id)
    out("  TLS private key      %s  (stays on this Pi)" % paths["tls_key"])
    out("  certificate request  %s" % paths["csr"])
    out("  command key          %s" % paths["command_key"])
    out("send the cloud operator:")
    out("  1. the certificate request %s (public: e-mail is fine); put the certificate they sign at %s"
        % (paths["csr"], config.cloud.tls_cert if config.cloud and config.cloud.tls_cert
           else paths["csr"].with_suffix(".crt")))
    out("  2. the command key from %s over a private channel (never e-mail); fingerprint to compare on the phone:"
        % paths["command_key"])
    out("     %s" % fingerprint(command_key))
    if args.show_key:
        out("  command key: %s" % command_key)
    if config.cloud is None or not config.cloud.tls_key:
        out("then add to %s:" % config.source)
        here = Path(config.source).parent       # the config's paths are relative to its folder
        out("  [cloud]          # with host, tenant and site (docs/agent-config.md)")
        for key, path in (("key_file", paths["command_key"]), ("tls_key", paths["tls_key"]),
                          ("tls_cert", paths["csr"].with_suffix(".crt"))):
            out("  %s = %s" % (key, json.dumps(os.path.relpath(path, here))))
        out("  tls_ca = \"...\"   # the operator's CA certificate")
    return 0
