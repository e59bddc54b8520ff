// Command pulumi-resource-tls is the sandbox's own stand-in for the Pulumi TLS
// provider (npm @pulumi/tls). The upstream provider module
// (github.com/pulumi/pulumi-tls/provider/v5) is not served by the Go module
// proxy reachable here. This implements, with Go's crypto packages, the
// resources the Calico program uses, with the upstream property names:
// PrivateKey, SelfSignedCert, CertRequest and LocallySignedCert.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"calico-hardway/sandbox/toolchain/providers/internal/prov"
)

var version = "0.0.0-dev"

func main() {
	prov.Serve(&prov.Provider{
		Name:    "tls",
		Version: version,
		Resources: map[string]prov.Resource{
			"tls:index/privateKey:PrivateKey":               privateKey{},
			"tls:index/selfSignedCert:SelfSignedCert":       cert{self: true},
			"tls:index/locallySignedCert:LocallySignedCert": cert{self: false},
			"tls:index/certRequest:CertRequest":             certRequest{},
		},
	})
}

// ------------------------------------------------------------ PrivateKey

type privateKey struct{}

var privateKeyInputs = []string{"algorithm", "rsaBits", "ecdsaCurve"}

func (privateKey) Check(news map[string]any) (map[string]any, []prov.Failure) {
	var f []prov.Failure
	alg := prov.Str(news, "algorithm")
	switch alg {
	case "RSA":
		if _, ok := news["rsaBits"]; !ok {
			news["rsaBits"] = float64(2048)
		}
	case "ECDSA":
		if _, ok := news["ecdsaCurve"]; !ok {
			news["ecdsaCurve"] = "P224"
		}
	case "ED25519":
	default:
		if _, unknown := news["algorithm"].(prov.Unknown); !unknown {
			f = append(f, prov.Failure{Property: "algorithm", Reason: "algorithm must be one of RSA, ECDSA, ED25519"})
		}
	}
	return news, f
}

func (privateKey) Diff(_ string, olds, news map[string]any) ([]string, []string) {
	c := prov.ChangedKeys(olds, news, privateKeyInputs)
	return c, c
}

func (privateKey) Create(_ context.Context, _ string, in map[string]any) (string, map[string]any, error) {
	var key crypto.Signer
	var err error
	switch prov.Str(in, "algorithm") {
	case "RSA":
		key, err = rsa.GenerateKey(rand.Reader, int(prov.Num(in, "rsaBits", 2048)))
	case "ECDSA":
		var c elliptic.Curve
		switch prov.Str(in, "ecdsaCurve") {
		case "P224":
			c = elliptic.P224()
		case "P256":
			c = elliptic.P256()
		case "P384":
			c = elliptic.P384()
		case "P521":
			c = elliptic.P521()
		default:
			return "", nil, fmt.Errorf("unsupported ecdsaCurve %q", prov.Str(in, "ecdsaCurve"))
		}
		key, err = ecdsa.GenerateKey(c, rand.Reader)
	case "ED25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return "", nil, fmt.Errorf("unsupported algorithm %q", prov.Str(in, "algorithm"))
	}
	if err != nil {
		return "", nil, err
	}
	outs, err := keyOutputs(key)
	if err != nil {
		return "", nil, err
	}
	sum := sha1.Sum([]byte(outs["publicKeyPem"].(string)))
	return fmt.Sprintf("%x", sum), outs, nil
}

func keyOutputs(key crypto.Signer) (map[string]any, error) {
	var privPem string
	switch k := key.(type) {
	case *rsa.PrivateKey:
		privPem = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	case *ecdsa.PrivateKey:
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		privPem = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b}))
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	if privPem == "" {
		privPem = pkcs8
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	outs := map[string]any{
		"privateKeyPem":      privPem,
		"privateKeyPemPkcs8": pkcs8,
		"publicKeyPem":       string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
		"privateKeyOpenssh":  "",
		"publicKeyOpenssh":   "",
		"publicKeyFingerprintMd5":    "",
		"publicKeyFingerprintSha256": "",
	}
	if sshPub, err := ssh.NewPublicKey(key.Public()); err == nil {
		outs["publicKeyOpenssh"] = string(ssh.MarshalAuthorizedKey(sshPub))
		m := md5.Sum(sshPub.Marshal())
		var hexParts []string
		for _, b := range m {
			hexParts = append(hexParts, fmt.Sprintf("%02x", b))
		}
		outs["publicKeyFingerprintMd5"] = strings.Join(hexParts, ":")
		s := sha256.Sum256(sshPub.Marshal())
		outs["publicKeyFingerprintSha256"] = "SHA256:" + base64.RawStdEncoding.EncodeToString(s[:])
		if blk, err := ssh.MarshalPrivateKey(key, ""); err == nil {
			outs["privateKeyOpenssh"] = string(pem.EncodeToMemory(blk))
		}
	}
	return outs, nil
}

func (privateKey) Update(_ context.Context, _, _ string, olds, news map[string]any) (map[string]any, error) {
	return olds, nil // every input change replaces
}

func (privateKey) Delete(context.Context, string, string, map[string]any) error { return nil }

// ------------------------------------------------------------ parsing helpers

func parseKey(s string) (crypto.Signer, string, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, "", errors.New("private key is not PEM")
	}
	var k any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, "", err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, "", errors.New("unsupported private key type")
	}
	return signer, algName(signer.Public()), nil
}

func algName(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "ED25519"
	}
	return "UNKNOWN"
}

func subjectOf(m map[string]any) pkix.Name {
	var n pkix.Name
	if m == nil {
		return n
	}
	one := func(k string) []string {
		if s := prov.Str(m, k); s != "" {
			return []string{s}
		}
		return nil
	}
	n.CommonName = prov.Str(m, "commonName")
	n.Organization = one("organization")
	n.OrganizationalUnit = one("organizationalUnit")
	n.Locality = one("locality")
	n.Province = one("province")
	n.Country = one("country")
	n.PostalCode = one("postalCode")
	n.SerialNumber = prov.Str(m, "serialNumber")
	n.StreetAddress = prov.Strs(m, "streetAddresses")
	return n
}

func sans(in map[string]any) ([]string, []net.IP, []*url.URL, error) {
	dns := prov.Strs(in, "dnsNames")
	var ips []net.IP
	for _, s := range prov.Strs(in, "ipAddresses") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, nil, fmt.Errorf("invalid IP address %q", s)
		}
		ips = append(ips, ip)
	}
	var uris []*url.URL
	for _, s := range prov.Strs(in, "uris") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, nil, err
		}
		uris = append(uris, u)
	}
	return dns, ips, uris, nil
}

var keyUses = map[string]x509.KeyUsage{
	"digital_signature":  x509.KeyUsageDigitalSignature,
	"content_commitment": x509.KeyUsageContentCommitment,
	"key_encipherment":   x509.KeyUsageKeyEncipherment,
	"data_encipherment":  x509.KeyUsageDataEncipherment,
	"key_agreement":      x509.KeyUsageKeyAgreement,
	"cert_signing":       x509.KeyUsageCertSign,
	"crl_signing":        x509.KeyUsageCRLSign,
	"encipher_only":      x509.KeyUsageEncipherOnly,
	"decipher_only":      x509.KeyUsageDecipherOnly,
}

var extUses = map[string]x509.ExtKeyUsage{
	"any_extended":                  x509.ExtKeyUsageAny,
	"server_auth":                   x509.ExtKeyUsageServerAuth,
	"client_auth":                   x509.ExtKeyUsageClientAuth,
	"code_signing":                  x509.ExtKeyUsageCodeSigning,
	"email_protection":              x509.ExtKeyUsageEmailProtection,
	"ipsec_end_system":              x509.ExtKeyUsageIPSECEndSystem,
	"ipsec_tunnel":                  x509.ExtKeyUsageIPSECTunnel,
	"ipsec_user":                    x509.ExtKeyUsageIPSECUser,
	"timestamping":                  x509.ExtKeyUsageTimeStamping,
	"ocsp_signing":                  x509.ExtKeyUsageOCSPSigning,
	"microsoft_server_gated_crypto": x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	"netscape_server_gated_crypto":  x509.ExtKeyUsageNetscapeServerGatedCrypto,
	"microsoft_commercial_code_signing": x509.ExtKeyUsageMicrosoftCommercialCodeSigning,
	"microsoft_kernel_code_signing":     x509.ExtKeyUsageMicrosoftKernelCodeSigning,
}

func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(der)
	return sum[:], nil
}

// ------------------------------------------------------------ certificates

// cert implements SelfSignedCert (self) and LocallySignedCert (!self).
type cert struct{ self bool }

func (c cert) inputs() []string {
	common := []string{"allowedUses", "earlyRenewalHours", "isCaCertificate", "maxPathLength",
		"setSubjectKeyId", "validityPeriodHours"}
	if c.self {
		return append(common, "privateKeyPem", "subject", "dnsNames", "ipAddresses", "uris", "setAuthorityKeyId")
	}
	return append(common, "certRequestPem", "caPrivateKeyPem", "caCertPem")
}

func (c cert) Check(news map[string]any) (map[string]any, []prov.Failure) {
	var f []prov.Failure
	if _, ok := news["validityPeriodHours"]; !ok {
		f = append(f, prov.Failure{Property: "validityPeriodHours", Reason: "validityPeriodHours is required"})
	}
	if _, ok := news["allowedUses"]; !ok {
		f = append(f, prov.Failure{Property: "allowedUses", Reason: "allowedUses is required"})
	}
	for _, u := range prov.Strs(news, "allowedUses") {
		if _, ok := keyUses[u]; ok {
			continue
		}
		if _, ok := extUses[u]; ok {
			continue
		}
		f = append(f, prov.Failure{Property: "allowedUses", Reason: fmt.Sprintf("unknown allowed use %q", u)})
	}
	if _, ok := news["earlyRenewalHours"]; !ok {
		news["earlyRenewalHours"] = float64(0)
	}
	if _, ok := news["isCaCertificate"]; !ok {
		news["isCaCertificate"] = false
	}
	if _, ok := news["setSubjectKeyId"]; !ok {
		news["setSubjectKeyId"] = false
	}
	if c.self {
		if _, ok := news["setAuthorityKeyId"]; !ok {
			news["setAuthorityKeyId"] = false
		}
	}
	return news, f
}

func (c cert) Diff(_ string, olds, news map[string]any) ([]string, []string) {
	changed := prov.ChangedKeys(olds, news, c.inputs())
	// Early renewal: replace the certificate once it is within
	// earlyRenewalHours of its end (as the upstream provider does).
	if end, err := time.Parse(time.RFC3339, prov.Str(olds, "__state_validityEndTime")); err == nil {
		early := time.Duration(prov.Num(news, "earlyRenewalHours", 0)) * time.Hour
		if !time.Now().Before(end.Add(-early)) {
			changed = append(changed, "readyForRenewal")
		}
	}
	return changed, changed
}

func (c cert) Create(_ context.Context, _ string, in map[string]any) (string, map[string]any, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	end := now.Add(time.Duration(prov.Num(in, "validityPeriodHours", 0)) * time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now,
		NotAfter:              end,
		BasicConstraintsValid: true,
		IsCA:                  prov.Bool(in, "isCaCertificate", false),
	}
	if mpl, ok := in["maxPathLength"].(float64); ok {
		tmpl.MaxPathLen = int(mpl)
		tmpl.MaxPathLenZero = mpl == 0
	}
	for _, u := range prov.Strs(in, "allowedUses") {
		if k, ok := keyUses[u]; ok {
			tmpl.KeyUsage |= k
		} else if e, ok := extUses[u]; ok {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, e)
		}
	}

	var signer crypto.Signer
	var parent *x509.Certificate
	var pub crypto.PublicKey
	outs := map[string]any{}
	if c.self {
		key, alg, err := parseKey(prov.Str(in, "privateKeyPem"))
		if err != nil {
			return "", nil, fmt.Errorf("privateKeyPem: %w", err)
		}
		signer, pub, parent = key, key.Public(), tmpl
		outs["keyAlgorithm"] = alg
		tmpl.Subject = subjectOf(prov.Obj(in, "subject"))
		if tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs, err = sans(in); err != nil {
			return "", nil, err
		}
	} else {
		key, alg, err := parseKey(prov.Str(in, "caPrivateKeyPem"))
		if err != nil {
			return "", nil, fmt.Errorf("caPrivateKeyPem: %w", err)
		}
		outs["caKeyAlgorithm"] = alg
		blk, _ := pem.Decode([]byte(prov.Str(in, "caCertPem")))
		if blk == nil {
			return "", nil, errors.New("caCertPem is not PEM")
		}
		ca, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return "", nil, fmt.Errorf("caCertPem: %w", err)
		}
		rblk, _ := pem.Decode([]byte(prov.Str(in, "certRequestPem")))
		if rblk == nil {
			return "", nil, errors.New("certRequestPem is not PEM")
		}
		csr, err := x509.ParseCertificateRequest(rblk.Bytes)
		if err != nil {
			return "", nil, fmt.Errorf("certRequestPem: %w", err)
		}
		if err := csr.CheckSignature(); err != nil {
			return "", nil, fmt.Errorf("certRequestPem signature: %w", err)
		}
		signer, pub, parent = key, csr.PublicKey, ca
		tmpl.Subject = csr.Subject
		tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs = csr.DNSNames, csr.IPAddresses, csr.URIs
	}
	if prov.Bool(in, "setSubjectKeyId", false) {
		if tmpl.SubjectKeyId, err = subjectKeyID(pub); err != nil {
			return "", nil, err
		}
	}
	if c.self && prov.Bool(in, "setAuthorityKeyId", false) {
		if tmpl.AuthorityKeyId, err = subjectKeyID(pub); err != nil {
			return "", nil, err
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return "", nil, err
	}
	outs["certPem"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	outs["validityStartTime"] = now.Format(time.RFC3339)
	outs["validityEndTime"] = end.Format(time.RFC3339)
	outs["readyForRenewal"] = false
	return serial.String(), outs, nil
}

func (cert) Update(_ context.Context, _, _ string, olds, news map[string]any) (map[string]any, error) {
	return olds, nil // every input change replaces
}

func (cert) Delete(context.Context, string, string, map[string]any) error { return nil }

// ------------------------------------------------------------ CertRequest

type certRequest struct{}

var certRequestInputs = []string{"privateKeyPem", "subject", "dnsNames", "ipAddresses", "uris"}

func (certRequest) Check(news map[string]any) (map[string]any, []prov.Failure) { return news, nil }

func (certRequest) Diff(_ string, olds, news map[string]any) ([]string, []string) {
	c := prov.ChangedKeys(olds, news, certRequestInputs)
	return c, c
}

func (certRequest) Create(_ context.Context, _ string, in map[string]any) (string, map[string]any, error) {
	key, alg, err := parseKey(prov.Str(in, "privateKeyPem"))
	if err != nil {
		return "", nil, fmt.Errorf("privateKeyPem: %w", err)
	}
	tmpl := &x509.CertificateRequest{Subject: subjectOf(prov.Obj(in, "subject"))}
	if tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs, err = sans(in); err != nil {
		return "", nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return "", nil, err
	}
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	sum := sha1.Sum([]byte(p))
	return fmt.Sprintf("%x", sum), map[string]any{"certRequestPem": p, "keyAlgorithm": alg}, nil
}

func (certRequest) Update(_ context.Context, _, _ string, olds, news map[string]any) (map[string]any, error) {
	return olds, nil
}

func (certRequest) Delete(context.Context, string, string, map[string]any) error { return nil }
