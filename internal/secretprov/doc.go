// Package secretprov owns Gramine's secret-provisioning protocol over
// RA-TLS: the client that a shielded application's loader runs before the
// application starts (driven by Gramine's SECRET_PROVISION_* environment
// variables), and the server that verifies the client's RA-TLS certificate
// against a policy and sends it a secret.
//
// The wire format is byte-compatible with Gramine's secret_prov_attest /
// secret_prov_verify libraries; docs/spec/secretprov.md specifies it together
// with nacre's freshness rules and the policy file.
package secretprov
