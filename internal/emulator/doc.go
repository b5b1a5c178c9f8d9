// Package emulator is a local, in-memory Google Cloud that the unmodified
// Google client libraries talk to over the real wire protocols: REST for
// Resource Manager v3, IAM Credentials and Cloud Identity; gRPC for Cloud
// Asset and Cloud Logging; plus an Identity-Aware Proxy key that mints
// assertions shaped like Google's.
//
// It exists so that every behaviour of jitaccess can be tested, and the
// product tried, without a Google Cloud organisation. One World holds all
// state; each service reads and changes that same state, so a binding
// written through Resource Manager shows up in Cloud Asset (after the
// configured indexing delay), as it does at Google.
//
// Each Google API is its own package below this one (resourcemanager,
// cloudasset, iamcredentials, cloudidentity, directory, logging,
// secretmanager, oauth, iap), over one shared world.World (package world),
// with the wire conventions of package wire, the faults of package fault,
// the seed format of package seed and the control API of package control.
// This package assembles them: Start serves them all on one HTTP and one
// gRPC listener, and the types callers use are re-exported here under
// their usual names. docs/emulator.md says how to add an API.
//
// It is never linked into the production binary (cmd/jitaccess); a test
// guards that. See docs/emulator.md for what it models and what it does not.
package emulator
