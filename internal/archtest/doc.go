// Package archtest holds tests that guard the architecture: what the
// production binary may link, which packages may import what, and that the
// deployment artifacts build what they claim to build.
//
// It exists because these rules are easy to break by accident (one import
// of the emulator in a shared package puts a fake Google Cloud into the
// production binary) and hard to notice in review. It has no non-test code.
package archtest
