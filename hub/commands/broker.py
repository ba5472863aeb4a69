"""`locker-hub broker user|remove|write`: the broker's password file and ACL for every cabinet and hub user.

`user NAME --out FILE` makes (or renews) a hub worker's broker user: its password goes to FILE (0600), the
hub keeps the hash. `remove NAME` takes a cabinet (a stolen Pi) or hub user off the broker. `write --dir DIR` writes DIR/passwd (mosquitto_passwd's format) and DIR/acl (the shipped
deploy/broker/acl rules: each cabinet its own topics, each hub user all of locker/v1/), both 0640; then
reload Mosquitto (systemctl reload mosquitto: it rereads both on SIGHUP)."""
from pathlib import Path

from hub import broker_files, db, registry

FILE_MODE = 0o640                # root:mosquitto, as docs/deployment.md installs them


def add_parser(sub):
    p = sub.add_parser("broker", help="the broker's users, password file and ACL", description=__doc__)
    what = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    user = what.add_parser("user", help="make or renew a hub worker's broker user")
    user.add_argument("name", help="its user name (and MQTT client id): one per hub process")
    user.add_argument("--out", required=True, metavar="FILE", help="where its password goes (0600)")
    user.set_defaults(run=run_user)
    remove = what.add_parser("remove", help="take a cabinet or hub user off the broker (then write)")
    remove.add_argument("name")
    remove.set_defaults(run=run_remove)
    write = what.add_parser("write", help="write the password file and ACL for every user")
    write.add_argument("--dir", required=True, metavar="DIR", help="e.g. /etc/mosquitto/locker")
    write.set_defaults(run=run_write)


def run_user(args, out):
    password = broker_files.new_password()
    with db.connect(args.dsn) as conn:
        registry.add_broker_user(conn, args.name, broker_files.hash_password(password))
    broker_files.write_file(Path(args.out), password + "\n", 0o600)
    out("hub user %s: password in %s; then locker-hub broker write" % (args.name, args.out))
    return 0


def run_remove(args, out):
    with db.connect(args.dsn) as conn:
        registry.remove_broker_user(conn, args.name)
    out("%s taken off the broker's users; then locker-hub broker write" % args.name)
    return 0


def run_write(args, out):
    folder = Path(args.dir)
    if not folder.is_dir():
        raise registry.RegistryError("--dir %s is not a folder" % folder)
    with db.connect(args.dsn) as conn:
        cabinets, hub_users = registry.broker_users(conn)
    broker_files.write_file(folder / "passwd", broker_files.password_file({**cabinets, **hub_users}), FILE_MODE)
    broker_files.write_file(folder / "acl", broker_files.acl_file(hub_users), FILE_MODE)
    out("wrote %s and %s: %d cabinets, %d hub users; now reload the broker"
        % (folder / "passwd", folder / "acl", len(cabinets), len(hub_users)))
    return 0
