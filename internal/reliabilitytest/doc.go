// Package reliabilitytest puts the whole app under load and makes every
// Google API it depends on fail, slow down or refuse, over HTTP against
// the emulator on loopback: nothing may be lost, half-written or hang,
// and the app must recover once the fault clears. It has tests and
// benchmarks only; docs/reliability.md quotes their figures.
package reliabilitytest
