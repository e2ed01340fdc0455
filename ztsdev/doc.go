// Package ztsdev is a ZTS-compatible development server: the subset of the
// Athenz ZTS REST API that the official Go client
// (github.com/AthenZ/athenz/clients/go/zts) speaks, served over HTTPS under
// /zts/v1, with its data (domains, services, roles, attestation providers,
// fault rules) read from a YAML file and its key material generated into a
// state directory on first start.
//
// It is a development and test peer, not a security boundary: it keeps
// Athenz's status codes, wire formats and validations so that clients
// behave against it as they would against a real ZTS, and it can be told to
// fail or delay requests so that retry paths can be exercised.
package ztsdev
