//go:build race

package siaenv

// raceEnabled says that the test runs with the race detector, whose build
// of the dependencies the type check reuses.
const raceEnabled = true
