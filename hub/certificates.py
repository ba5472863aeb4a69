"""The cabinet's client certificate: `locker-agent register`'s CSR (EC P-256, CN = the cabinet id, client
auth) checked and signed with the supplier's CA, the one the shipped Mosquitto's `cafile` names
(deploy/broker/mosquitto.conf: every client shows a certificate of that CA besides its password)."""
import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825                # the longest a client certificate is commonly trusted for


class CertificateError(ValueError):
    pass


def load_csr(pem):
    """The CSR in `pem` (bytes), its signature checked; CertificateError with words otherwise."""
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as e:
        raise CertificateError("not a PEM certificate request (%s)" % e) from None
    try:
        ok = csr.is_signature_valid
    except InvalidSignature:
        ok = False
    if not ok:
        raise CertificateError("the certificate request's signature does not match its key")
    return csr


def common_name(csr):
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise CertificateError("the certificate request must name exactly one CN (the cabinet id)")
    return names[0].value


def load_ca(cert_pem, key_pem):
    """(certificate, private key) of the CA; CertificateError when the two do not belong together."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise CertificateError("cannot read the CA certificate and key (%s)" % e) from None
    if cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise CertificateError("the CA key is not the CA certificate's key")
    return cert, key


def sign(csr, ca_cert, ca_key, now=None, days=VALID_DAYS):
    """A client certificate (PEM bytes) for the CSR's key and subject, issued by the CA."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca_cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))     # a Pi's clock a little behind
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def summary(cert_pem):
    """'serial S, valid until T' of a PEM certificate (text)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return "serial %x, valid until %s" % (cert.serial_number, cert.not_valid_after_utc.isoformat(timespec="seconds"))
