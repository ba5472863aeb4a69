"""`locker-agent register --config FILE`: a new cabinet's credentials for the cloud (docs/commissioning.md).

Writes three files, each created root:smart-locker (the service's group) 0640 from its first byte, whoever runs
it (sudo included), and never over an existing one without --force:
- the cabinet's MQTT TLS private key (EC P-256, PEM, unencrypted: the agent starts unattended);
- a certificate signing request for it (CN = the cabinet id), for the cloud operator's CA to sign; the
  certificate they send back goes where [cloud] tls_cert says;
- the per-cabinet command key (32 random bytes as hex, edge_agent/cloud/envelope.py) that signed down
  messages are checked with. It is a shared secret: it goes to the cloud operator over a private channel,
  and only its fingerprint is printed (the key itself only with --show-key).

Where: the paths the config's [cloud] section names (tls_key, tls_cert with .csr for the request,
key_file); without them, cabinet.key, cabinet.csr and command.key in --dir (default: the config's folder),
and the [cloud] lines to add are printed. Everything that could stop the writing halfway (two files at one
place, as `key_file = "cabinet.key"` beside the default TLS key was; an existing file; a folder that cannot
be written; no service group) is refused before a byte is written, and the files are written to temporaries
and moved into place together: a refusal (exit 2) leaves nothing behind.

Keys are made with the `cryptography` package, in-process, rather than the openssl CLI: no dependence on a
binary being installed or on its output format, and the files are opened 0640 in the service's group before
a byte is written (docs/decisions/0013-commissioning.md, 0028-deploy-hardening.md).
"""
import grp
import hashlib
import json
import os
import sys
from pathlib import Path

from edge_agent.cloud.envelope import new_key

EXIT_USAGE = 2
NAMES = {"tls_key": "cabinet.key", "csr": "cabinet.csr", "command_key": "command.key"}
LABELS = {"tls_key": "TLS private key", "csr": "certificate request", "command_key": "command key"}
# The agent's service runs as this user and group (deploy/install.sh SERVICE_USER, the unit's Group=): the
# files are theirs to read, root's to write.
SERVICE_GROUP = "smart-locker"
FILE_MODE = 0o640


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


def service_group(name=None):
    """The group the files get (a gid) and its name, checked before anything is written.

    Named (--group): it must exist, and a user other than root must be in it (only root may give a file
    to another group). Not named: the service's group, SERVICE_GROUP, where it exists; root without it is
    refused (files root alone can read are what `sudo register` used to leave: the agent could not start);
    any other user gets its own group (a development machine, where the agent runs as that user)."""
    root = os.geteuid() == 0
    wanted = name or SERVICE_GROUP
    try:
        gid = grp.getgrnam(wanted).gr_gid
    except KeyError:
        if name:
            raise RegistrationError("there is no group %r on this machine; nothing was written" % name) from None
        if root:
            raise RegistrationError(
                "the service group %r does not exist, so the agent could not read files root writes; nothing was "
                "written. Run deploy/install.sh first (it creates the %s user and group), or name the group that "
                "runs the agent with --group" % (SERVICE_GROUP, SERVICE_GROUP)) from None
        gid = os.getegid()
        return gid, grp.getgrgid(gid).gr_name
    if not root and gid != os.getegid() and gid not in os.getgroups():
        if not name:                         # the service's group, not this user's: the user's own
            gid = os.getegid()
            return gid, grp.getgrgid(gid).gr_name
        raise RegistrationError("only root can give files to group %r (you are not in it); nothing was written"
                                % wanted)
    return gid, wanted


def check_targets(paths, force):
    """Refuse, before a byte is written, anything that would stop the writing halfway: two files at one
    place, a folder or other non-file in the way, a parent that is a file or not writable, an existing file
    without force."""
    seen = {}
    for what, path in paths.items():
        where = os.path.realpath(path)
        if where in seen:
            raise RegistrationError(
                "the %s and the %s would both be written to %s; nothing was written. Give each its own file "
                "(e.g. [cloud] key_file = \"command.key\" beside tls_key = \"cabinet.key\")"
                % (LABELS[seen[where]], LABELS[what], path))
        seen[where] = what
    for what, path in paths.items():
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise RegistrationError("%s (the %s) is not a plain file; nothing was written" % (path, LABELS[what]))
        parent = next(p for p in path.parents if p.exists() or p == Path(p.anchor))
        if not parent.is_dir():
            raise RegistrationError("%s (the %s): %s is not a folder; nothing was written"
                                    % (path, LABELS[what], parent))
        if not os.access(parent, os.W_OK | os.X_OK):
            raise RegistrationError("%s (the %s): cannot write in %s; nothing was written"
                                    % (path, LABELS[what], parent))
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not force:
        raise RegistrationError("%s already exist%s; nothing was written. A cabinet keeps its keys: use --force "
                                "only to replace them (the cloud operator must then register the new ones)"
                                % (", ".join(existing), "s" if len(existing) == 1 else ""))


def make_folder(folder, gid, made):
    """The missing folders up to `folder`, 0750 and in the service's group (the agent must get through);
    each one made is appended to `made`."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        os.mkdir(f, 0o750)
        made.append(f)
        os.chown(f, -1, gid)
        os.chmod(f, 0o750)                         # whatever the umask


def write_temp(path, data, gid):
    """A temporary file beside path, in group gid with mode 0640 before its first byte, written and synced."""
    tmp = path.with_name(".%s.%d.tmp" % (path.name, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        try:
            os.fchown(fd, -1, gid)
            os.fchmod(fd, FILE_MODE)               # whatever the umask
            f.write(data)
            f.flush()
            os.fsync(fd)
        except BaseException:
            tmp.unlink()
            raise
    return tmp


def write_all(files, gid, force=False):
    """Write {path: data} all or nothing: every file to a temporary first, then each moved into place (linked
    without force, so a file that appeared meanwhile is never overwritten; the ones already placed, and the
    folders made, are taken back). Files are group gid, 0640, from their first byte."""
    temps, placed, made = {}, [], []
    try:
        for path, data in files.items():
            make_folder(path.parent, gid, made)
            temps[path] = write_temp(path, data, gid)
        for path, tmp in temps.items():
            if force:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)                 # fails if the file exists: no window to overwrite it
                placed.append(path)
    except BaseException:
        for path in placed:
            path.unlink()
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:                        # a file --force moved in stays (the old one is gone)
                pass
        raise
    for tmp in temps.values():
        tmp.unlink(missing_ok=True)                # linked into place: the temporary name goes


def register(config, folder=None, force=False, group=None):
    """Write the key, CSR and command key; returns ({what: path}, command key hex, group name). Everything
    is checked first: a refusal writes nothing."""
    paths = targets(config, folder)
    gid, group_name = service_group(group)
    check_targets(paths, force)
    pem, csr = make_tls(config.cabinet_id)
    command_key = new_key()
    data = {"tls_key": pem, "csr": csr, "command_key": (command_key + "\n").encode()}
    try:
        write_all({paths[what]: data[what] for what in paths}, gid, force)
    except FileExistsError as e:
        raise RegistrationError("%s appeared while writing; nothing was written" % e.filename) from None
    return paths, command_key, group_name


def add_arguments(p):
    p.add_argument("--config", required=True, metavar="FILE", help="the agent's config file (docs/agent-config.md)")
    p.add_argument("--dir", metavar="DIR", help="where to write files the config's [cloud] section does not place "
                                                "(default: the config file's folder)")
    p.add_argument("--force", action="store_true", help="replace existing key files (the cloud must then get the "
                                                        "new CSR and command key)")
    p.add_argument("--group", metavar="GROUP", help="the group that may read the files (default: %s, the "
                                                    "service's, where it exists)" % SERVICE_GROUP)
    p.add_argument("--show-key", action="store_true", help="also print the command key itself (it is a secret)")


def main(args, out=print):
    from edge_agent.app.config import AgentConfigError, load_agent_config
    try:
        config = load_agent_config(args.config)
        paths, command_key, group = register(config, args.dir, args.force, args.group)
    except (AgentConfigError, RegistrationError, OSError) as e:
        sys.stderr.write("locker-agent: error: %s\n" % e)
        return EXIT_USAGE
    out("cabinet %s registered: files written with mode 0640, group %s" % (config.cabinet_id, group))
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
