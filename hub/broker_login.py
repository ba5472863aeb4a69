"""How a hub worker logs in to the broker as shipped (deploy/broker/mosquitto.conf): its own user name and
password (`locker-hub broker user`), TLS with the supplier's CA and a client certificate of it. The options
of `locker-hub serve`, turned into a Hub.client_setup."""
import ssl


def add_arguments(p):
    p.add_argument("--username", metavar="USER", help="this worker's broker user (locker-hub broker user USER)")
    p.add_argument("--password-file", metavar="FILE", help="the file holding its password")
    p.add_argument("--tls-ca", metavar="FILE", help="the CA the broker's certificate is checked with (TLS on)")
    p.add_argument("--tls-cert", metavar="FILE", help="this worker's client certificate (with --tls-key)")
    p.add_argument("--tls-key", metavar="FILE", help="its private key")


def client_setup(args):
    """A function for Hub.client_setup from the parsed options, or None when none were given. A bad set of
    options (a certificate without its key, a password without a user, an unreadable file) is a usage error."""
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_cert and not args.tls_ca):
        raise ValueError("--tls-cert and --tls-key go together, and need --tls-ca")
    if args.password_file and not args.username:
        raise ValueError("--password-file needs --username")
    password = None
    if args.password_file:
        try:
            with open(args.password_file) as f:
                password = f.readline().strip()
        except OSError as e:
            raise ValueError("cannot read --password-file %s: %s" % (args.password_file, e.strerror))
    if not (args.username or args.tls_ca):
        return None

    def setup(client):
        if args.tls_ca:
            client.tls_set(ca_certs=args.tls_ca, certfile=args.tls_cert, keyfile=args.tls_key,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if args.username:
            client.username_pw_set(args.username, password)
    return setup
