// Package securitytest attacks the whole app over HTTP, the way an
// authenticated but hostile user (or an unauthenticated stranger) would:
// forged identities, cross-site requests, injected conditions, reviewers
// and tokens, oversized and malformed input. Every case must be refused
// with the right status and a clear message, and must write nothing to
// IAM. It has tests only; docs/security.md maps threats to these tests.
package securitytest
