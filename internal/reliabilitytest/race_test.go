//go:build race

package reliabilitytest

// raceDetector: the race detector slows the app several times over, so
// the load test sends less traffic to check the same properties within
// the app's own deadlines.
const raceDetector = true
