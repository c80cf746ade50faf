package trust

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Annotations of a sigstore signature made with a Fulcio certificate.
const (
	// SigstoreCertificateAnnotation holds the signing certificate, PEM.
	SigstoreCertificateAnnotation = "dev.sigstore.cosign/certificate"
	// SigstoreChainAnnotation holds the certificates between it and a
	// Fulcio root, PEM, the root last.
	SigstoreChainAnnotation = "dev.sigstore.cosign/chain"
)

// Fulcio's extensions for the OIDC issuer that vouched for the identity:
// the first holds the issuer's bytes as they are, its successor a DER
// UTF8String. (github.com/sigstore/fulcio's certificate package names
// them, but is not linked for two constants.)
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// fulcioRoot checks Fulcio certificates against a policy's fulcio object.
type fulcioRoot struct {
	name          string // the CA's path, or caData
	roots         *x509.CertPool
	issuer, email string
}

func newFulcioRoot(f *Fulcio, field string) (*fulcioRoot, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(f.CA.Data) {
		return nil, fmt.Errorf("the Fulcio CA %s holds no PEM certificate (%s.fulcio)", f.CA.Name(), field)
	}
	return &fulcioRoot{name: f.CA.Name(), roots: roots, issuer: f.OIDCIssuer, email: f.SubjectEmail}, nil
}

// verify checks, as containers/image does, that certPEM is one
// certificate that chains (through the intermediates of chainPEM, whose
// last certificate, the root, is not taken from the signature) to a root
// of the CA, for code signing, valid at the time at (the Rekor SET's: the
// certificate lives minutes), and that it certifies the policy's
// subjectEmail as vouched for by its oidcIssuer.
func (f *fulcioRoot) verify(at time.Time, certPEM, chainPEM []byte) (*x509.Certificate, error) {
	leaves, err := cryptoutils.UnmarshalCertificatesFromPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", SigstoreCertificateAnnotation, err)
	}
	if len(leaves) != 1 {
		return nil, fmt.Errorf("%s holds %d certificates, not one", SigstoreCertificateAnnotation, len(leaves))
	}
	leaf := leaves[0]
	var intermediates *x509.CertPool
	if len(chainPEM) > 0 {
		chain, err := cryptoutils.UnmarshalCertificatesFromPEM(chainPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", SigstoreChainAnnotation, err)
		}
		intermediates = x509.NewCertPool()
		for i := 0; i+1 < len(chain); i++ {
			intermediates.AddCert(chain[i])
		}
	}
	// A Fulcio certificate's SAN may be critical and hold only an
	// otherName, which crypto/x509 leaves unhandled; the subject is
	// matched below instead.
	leaf.UnhandledCriticalExtensions = slices.DeleteFunc(leaf.UnhandledCriticalExtensions, func(oid asn1.ObjectIdentifier) bool {
		return oid.Equal(cryptoutils.SANOID)
	})
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         f.roots,
		Intermediates: intermediates,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}); err != nil {
		return nil, fmt.Errorf("certificate of %v not accepted by Fulcio CA %s at the Rekor SET's time %s: %v", leaf.EmailAddresses, f.name, at.UTC().Format(time.RFC3339), err)
	}
	issuer, err := fulcioIssuer(leaf)
	if err != nil {
		return nil, err
	}
	if issuer != f.issuer {
		return nil, fmt.Errorf("certificate's OIDC issuer is %q, not %q", issuer, f.issuer)
	}
	if !slices.Contains(leaf.EmailAddresses, f.email) {
		return nil, fmt.Errorf("certificate is for %q, not %q", leaf.EmailAddresses, f.email)
	}
	return leaf, nil
}

// fulcioIssuer reads the OIDC issuer from either extension; both present
// must agree.
func fulcioIssuer(c *x509.Certificate) (string, error) {
	var v1, v2 *string
	for _, ext := range c.Extensions {
		switch {
		case ext.Id.Equal(oidIssuerV1):
			s := string(ext.Value)
			v1 = &s
		case ext.Id.Equal(oidIssuerV2):
			var s string
			rest, err := asn1.Unmarshal(ext.Value, &s)
			if err != nil || len(rest) != 0 {
				return "", errors.New("certificate's OIDC issuer extension (1.3.6.1.4.1.57264.1.8) is not a DER string")
			}
			v2 = &s
		}
	}
	switch {
	case v1 != nil && v2 != nil && *v1 != *v2:
		return "", fmt.Errorf("certificate names two OIDC issuers, %q and %q", *v1, *v2)
	case v1 != nil:
		return *v1, nil
	case v2 != nil:
		return *v2, nil
	}
	return "", errors.New("certificate has no Fulcio OIDC issuer extension")
}
