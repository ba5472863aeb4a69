"""`locker-hub cabinet register|list|show`: a cabinet on the hub's books.

`register` takes what `locker-agent register` wrote on the Pi (docs/commissioning.md): the certificate request
(CN = the cabinet id) and the command key (hex); it checks the request, signs it with the supplier's CA (the
one the shipped broker's `cafile` names) and makes the cabinet's broker password. Into --out go what the Pi
needs back: <id>.crt (its [cloud] tls_cert), ca.pem (tls_ca) and <id>.password (password_file, 0600: a
secret, carried like the command key). The hub keeps the password's hash only; `locker-hub broker write`
puts it in the broker's password file."""
import os
from pathlib import Path

from edge_agent.cli.registration import NAMES, fingerprint
from hub import broker_files, certificates, db, registry

CA_SETTING = "ca_certificate"


def add_parser(sub):
    p = sub.add_parser("cabinet", help="register, list or show cabinets", description=__doc__)
    what = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    reg = what.add_parser("register", help="register a cabinet from `locker-agent register`'s files",
                          description=__doc__)
    reg.add_argument("--tenant", required=True, help="the tenant (it must exist)")
    reg.add_argument("--site", required=True, help="the tenant's site where the cabinet stands (it must exist)")
    reg.add_argument("--from", dest="source", metavar="DIR",
                     help="the folder holding %s and %s as `locker-agent register` names them"
                          % (NAMES["csr"], NAMES["command_key"]))
    reg.add_argument("--csr", metavar="FILE", help="the certificate request (default: DIR/%s)" % NAMES["csr"])
    reg.add_argument("--command-key", metavar="FILE", help="the command key file (default: DIR/%s)"
                                                            % NAMES["command_key"])
    reg.add_argument("--cabinet", help="the cabinet id expected (refused when the request names another)")
    reg.add_argument("--ca-cert", required=True, metavar="FILE", help="the supplier CA's certificate (PEM)")
    reg.add_argument("--ca-key", required=True, metavar="FILE", help="the supplier CA's private key (PEM)")
    reg.add_argument("--out", required=True, metavar="DIR", help="where the certificate, CA and password go")
    reg.set_defaults(run=run_register)
    ls = what.add_parser("list", help="the cabinets, by tenant and site")
    ls.add_argument("--tenant", help="only this tenant's")
    ls.add_argument("--site", help="only this site's")
    ls.set_defaults(run=run_list)
    show = what.add_parser("show", help="one cabinet's registration")
    show.add_argument("cabinet")
    show.set_defaults(run=run_show)


def read(path, what):
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise registry.RegistryError("cannot read the %s %s: %s" % (what, path, e.strerror)) from None


def command_key(text):
    try:
        key = bytes.fromhex(text.decode().strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise registry.RegistryError("the command key file must hold 32 bytes as 64 hex digits "
                                     "(as `locker-agent register` writes it)")
    return key


def inputs(args):
    """(csr, command key bytes) from --csr/--command-key, else from --from's folder."""
    if not args.source and not (args.csr and args.command_key):
        raise registry.RegistryError("name the files: --from DIR, or --csr FILE and --command-key FILE")
    folder = Path(args.source or ".")
    csr_pem = read(args.csr or folder / NAMES["csr"], "certificate request")
    key = command_key(read(args.command_key or folder / NAMES["command_key"], "command key"))
    return csr_pem, key


def run_register(args, out):
    csr_pem, key = inputs(args)
    csr = certificates.load_csr(csr_pem)
    cabinet = registry.check_id("cabinet", certificates.common_name(csr))
    if args.cabinet and args.cabinet != cabinet:
        raise registry.RegistryError("the certificate request is for %s, not %s" % (cabinet, args.cabinet))
    ca_pem = read(args.ca_cert, "CA certificate")
    ca_cert, ca_key = certificates.load_ca(ca_pem, read(args.ca_key, "CA key"))
    out_dir = Path(args.out)
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK | os.X_OK):
        raise registry.RegistryError("--out %s is not a folder this user can write in" % out_dir)
    cert = certificates.sign(csr, ca_cert, ca_key)
    password = broker_files.new_password()
    with db.connect(args.dsn) as conn:
        with conn.transaction():
            known = registry.setting(conn, CA_SETTING)
            mine = certificates.pem(ca_cert).decode()
            if known and known != mine:
                raise registry.RegistryError("this hub's cabinets are signed by another CA (the broker trusts that "
                                             "one); give the CA recorded at the first registration")
            registry.set_setting(conn, CA_SETTING, mine)
            again = registry.register_cabinet(conn, args.tenant, args.site, cabinet, key, csr_pem.decode(),
                                              cert.decode(), broker_files.hash_password(password))
    broker_files.write_file(out_dir / ("%s.crt" % cabinet), cert.decode(), 0o644)
    broker_files.write_file(out_dir / "ca.pem", certificates.pem(ca_cert).decode(), 0o644)
    broker_files.write_file(out_dir / ("%s.password" % cabinet), password + "\n", 0o600)
    out("cabinet %s %sregistered at %s/%s" % (cabinet, "re-" if again else "", args.tenant, args.site))
    out("  command key fingerprint %s (compare with the Pi's)" % fingerprint(key.hex()))
    out("  certificate  %s  (the Pi's [cloud] tls_cert)" % (out_dir / ("%s.crt" % cabinet)))
    out("  CA           %s  (tls_ca)" % (out_dir / "ca.pem"))
    out("  password     %s  (password_file; a secret: a private channel, never e-mail)"
        % (out_dir / ("%s.password" % cabinet)))
    out("then: locker-hub broker write --dir /etc/mosquitto/locker, and reload the broker")
    return 0


def run_list(args, out):
    with db.connect(args.dsn) as conn:
        rows = registry.cabinets(conn, args.tenant, args.site)
    out("%-20s %-16s %-16s %-11s %-9s %s" % ("CABINET", "TENANT", "SITE", "CERTIFICATE", "BROKER", "REGISTERED"))
    for r in rows:
        out("%-20s %-16s %-16s %-11s %-9s %s" % (r["id"], r["tenant"], r["site"], "yes" if r["certified"] else "no",
                                                 "yes" if r["on_broker"] else "no",
                                                 r["registered_at"].isoformat(timespec="seconds")))
    return 0


def run_show(args, out):
    with db.connect(args.dsn) as conn:
        r = registry.cabinet(conn, args.cabinet)
    out("cabinet      %s" % r["id"])
    out("tenant       %s" % r["tenant"])
    out("site         %s (%s)%s" % (r["site"], r["site_name"], ", customer %s" % r["customer"] if r["customer"] else ""))
    out("registered   %s" % r["registered_at"].isoformat(timespec="seconds"))
    out("command key  fingerprint %s" % fingerprint(bytes(r["command_key"]).hex()))
    out("certificate  %s" % (certificates.summary(r["certificate"]) if r["certificate"] else "none"))
    out("broker user  %s" % ("yes (password hash kept)" if r["broker_hash"] else "no"))
    return 0
