//go:build !race

package reliabilitytest

const raceDetector = false
